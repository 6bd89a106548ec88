"""A sweep: every mode at every level, one Locust process per level, results gathered.

`run_sweep(config, progress=...)` is the programmatic entry (`stagecheck load` and
`stagecheck run` both call it). The target must already be running: the CLI command
starts the embedded mock when no URL is given (load never imports the mock).

With external workers (`SweepConfig.expect_workers`), each level's Locust master waits
for them anew: `stagecheck load-worker` on each worker host starts a fresh Locust worker
for every level, until the last level's master tells it the sweep is over. If the workers
do not all connect in time, `WorkersMissing` is raised with the levels measured so far
in its `partial`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx

from stagecheck.results.load_results import LevelResult, LoadResults
from stagecheck.transports.failures import unreachable

from .config import SweepConfig
from .level_run import LevelRun, Progress, WorkersMissing

LevelCallback = Callable[[LevelResult], None]


def check_reachable(base_url: str, timeout_s: float = 5.0) -> None:
    """Raise TargetUnreachable (exit 2) when nothing answers at the base URL."""
    try:
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            client.get(base_url)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise unreachable(base_url, exc, timeout=timeout_s) from exc
    except httpx.HTTPError:
        pass  # it answered something: reachable; the streams will say the rest


def run_sweep(
    config: SweepConfig,
    progress: Callable[[Progress], None] | None = None,
    on_level: LevelCallback | None = None,
) -> LoadResults:
    """Run every (mode, level) in order; on Ctrl-C stop and return what was measured."""
    check_reachable(config.stream.base_url)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    plan = [(mode, users) for users in config.levels for mode in config.modes]
    levels: list[LevelResult] = []
    interrupted = False

    def results() -> LoadResults:
        return LoadResults(
            started_at=started_at,
            target=config.stream.base_url,
            target_kind="embedded-mock" if config.target_kind == "embedded-mock" else "external",
            config=config.as_dict(),
            slo=config.stream.slo,
            levels=tuple(levels),
            interrupted=interrupted,
        )

    for index, (mode, users) in enumerate(plan, start=1):
        run = LevelRun(
            config, mode, users, level_index=index, level_count=len(plan), progress=progress, last=index == len(plan)
        )
        try:
            result = run.run()
        except WorkersMissing as exc:
            # External workers did not all come: stop here; what was measured is kept.
            interrupted = True
            exc.partial = results() if levels else None
            raise
        levels.append(result)
        if on_level is not None:
            on_level(result)
        if run.interrupted:
            interrupted = True
            break
    return results()
