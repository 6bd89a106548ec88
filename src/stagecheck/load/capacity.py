"""Capacity search (`stagecheck load --find-capacity`): the most users each mode holds.

Per mode, the level grows geometrically (x`factor` from the start level) until a level
does not hold, then the search bisects between the last level that held and the first
that did not, until that interval is within the tolerance (`tolerance` of the level that
held, or `tolerance_users`, whichever is larger). A level holds when no contract rule is
broken beyond the gate's `max_violations`, the error rate is within `max_error_rate`, the
p95 of TTFT, TPOT and E2E is within its `--slo`, and every other limit of the gate holds
(the default gate: no violation, no failed, incomplete or errored stream).

Latency is noisy where the target shares a machine: other work there only ever makes it
worse, never better. So a level that failed on a latency SLO alone (no violation, no
error) is run once more at the same users ("confirm"), and holds if that try holds: the
better of two tries is what the target can do. Violations and errors are never retried.

A knee of the load client is not a knee of the target. The client is saturated at a level
when it used close to one core per load process (`saturated_cpu`), or when it could not
keep its users in streams: a user of these closed-loop scenarios has no think time, so
streams/s x mean E2E (Little's law) is the number of users streaming, and when that is
below `min_streaming_share` of the users, the rest were waiting on the client itself (a
level's figures then describe the client, so it does not hold). At a saturated level
that did not hold, the level is run again with twice the Locust processes (Locust's
distributed mode, up to `max_processes`), and when it cannot be, the result says plainly
that the client may have been the limit.

The search is bounded: at most `max_steps` levels per mode, and no level starts that
would end after the mode's share of `max_time_s` (the modes share it in turn, what one
leaves unused passes to the next). `estimate()` says beforehand what that may cost.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from stagecheck.errors import ConfigError
from stagecheck.results.load_results import (
    Broken,
    CapacityResult,
    CapacityStep,
    LevelResult,
    LoadResults,
    Mode,
    Slo,
)

from .config import SweepConfig
from .gate import (
    CAPACITY_METRIC,
    METRICS,
    MIN_STREAMING_SHARE,
    SATURATED_CPU,
    Gate,
    default_gate,
    judged_violations,
)
from .level_run import LevelRun, Progress
from .sweep import check_reachable

# Seconds a level costs besides its hold and ramp (Locust's start, the drain), for the bounds.
LEVEL_OVERHEAD_S = 6.0

_SLO_FIGURES = (("ttft", "ttft_ms", "TTFT"), ("tpot", "tpot_ms", "TPOT"), ("e2e", "e2e_ms", "E2E"))
_LATENCY_METRICS = frozenset(f"{name}_p95_ms" for name, _, _ in _SLO_FIGURES)


@dataclass(frozen=True)
class CapacitySearch:
    """How a capacity search proceeds and where it stops."""

    start_users: int = 50
    max_users: int = 2000
    factor: float = 2.0
    tolerance: float = 0.10  # the bisection stops within this share of the level that held ...
    tolerance_users: int = 2  # ... or within this many users, whichever is larger
    max_time_s: float = 540.0
    max_steps: int = 16  # levels per mode, retries and confirmations included
    max_processes: int = os.cpu_count() or 1
    saturated_cpu: float = SATURATED_CPU  # % of one core per load process: the client is the bottleneck
    min_streaming_share: float = MIN_STREAMING_SHARE  # fewer users in a stream (Little's law): the client lags

    def __post_init__(self) -> None:
        if self.start_users < 1:
            raise ConfigError(f"--users: the start level {self.start_users} must be 1 or more")
        if self.max_users < self.start_users:
            raise ConfigError(f"--max-users: {self.max_users} is below the start level {self.start_users} (--users)")
        if self.factor <= 1:
            raise ConfigError(f"capacity search: the growth factor {self.factor:g} must be more than 1")
        if self.max_steps < 1:
            raise ConfigError(f"--max-steps: {self.max_steps} must be 1 or more")
        if self.max_time_s <= 0:
            raise ConfigError(f"--max-time: {self.max_time_s:g} must be more than 0")

    def converged(self, low: int, high: int) -> bool:
        return high - low <= max(self.tolerance_users, self.tolerance * low)

    def grow(self, users: int) -> int:
        return min(self.max_users, max(users + 1, round(users * self.factor)))

    def as_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


def level_cost_s(config: SweepConfig, users: int) -> float:
    """About how long one level takes: Locust's start, the ramp, the hold, the drain."""
    return LEVEL_OVERHEAD_S + config.ramp_s(users) + config.duration_s


def estimate(config: SweepConfig, search: CapacitySearch) -> str:
    """What the search will do at most and about how long it takes, for the start of the run."""
    grow = [search.start_users]
    while grow[-1] < search.max_users:
        grow.append(search.grow(grow[-1]))
    # Bisecting an interval of a factor down to the tolerance takes about this many levels.
    bisect = max(1, math.ceil(math.log2((search.factor - 1) / search.tolerance)))
    per_mode = min(search.max_steps, len(grow) + bisect)
    typical = sum(level_cost_s(config, u) for u in grow[: per_mode - bisect]) + bisect * level_cost_s(
        config, grow[min(len(grow), per_mode - bisect) - 1]
    )
    total = min(search.max_time_s, typical * len(config.modes))
    return (
        f"capacity search of {', '.join(config.modes)}: levels {', '.join(str(u) for u in grow)} users "
        f"(x{search.factor:g}) until one does not hold, then bisection to within "
        f"{search.tolerance:.0%} or {search.tolerance_users} users; at most {search.max_steps} levels per mode, "
        f"{config.duration_s:g} s held each: about {total:.0f} s, never more than {search.max_time_s:.0f} s "
        "(--max-time)"
    )


def level_breaks(
    level: LevelResult, limits: dict[str, float], slo: Slo, min_streaming_share: float = 0.0
) -> list[Broken]:
    """What did not hold at a level, the limiting figure first: violations, errors, SLOs, other limits.

    `min_streaming_share` (the capacity search's): fewer users streaming than this share is a
    load client that lags, and breaks the level last of all (its figures are the client's).
    """
    if level.streams == 0:
        return [Broken("streams", 0.0, 1.0, "no stream ended within the level's window")]
    broken: list[Broken] = []
    max_violations = limits.get("max_violations", 0.0)
    judged = judged_violations(level)
    if judged > max_violations:
        rules = ", ".join(f"{rule}×{count}" for rule, count in level.violations.items())
        broken.append(
            Broken(
                "violations",
                float(judged),
                max_violations,
                f"{judged} contract violations ({rules}), limit {max_violations:g}",
            )
        )
    max_error_rate = limits.get("max_error_rate", 0.0)
    if level.error_rate > max_error_rate:
        kinds = ", ".join(f"{kind} ×{count}" for kind, count in list(level.failures.items())[:2])
        broken.append(
            Broken(
                "error_rate",
                level.error_rate,
                max_error_rate,
                f"error rate {level.error_rate:.2%} > {max_error_rate:.2%}" + (f" ({kinds})" if kinds else ""),
            )
        )
    for name, slo_field, label in _SLO_FIGURES:
        objective = getattr(slo, slo_field)
        value = getattr(level, name).percentile_ms(95.0)
        if objective is not None and value is not None and value > objective:
            broken.append(
                Broken(f"{name}_p95_ms", value, objective, f"{label} p95 {value:.1f} ms > SLO {objective:g} ms")
            )
    for key, limit in sorted(limits.items()):
        bound, _, metric = key.partition("_")
        if key in ("max_violations", "max_error_rate") or metric == CAPACITY_METRIC or metric not in METRICS:
            continue
        value = METRICS[metric][0](level)
        if value is None:
            continue
        if (bound == "max" and value > limit) or (bound == "min" and value < limit):
            broken.append(Broken(metric, value, limit, f"{metric} {value:.6g} breaks the gate's {key} = {limit:g}"))
    share = level.streaming_share
    if share is not None and share < min_streaming_share:
        streaming = level.streams_per_s * level.e2e.mean_us / 1e6
        broken.append(
            Broken(
                "streaming_share",
                share,
                min_streaming_share,
                f"only {share:.0%} of the users were streaming (Little's law: {level.streams_per_s:.0f} streams/s "
                f"x {level.e2e.mean_us / 1e6:.2f} s mean E2E = {streaming:.0f} of {level.users}): "
                "the load client did not keep up",
            )
        )
    return broken


def latency_only(broken: list[Broken]) -> bool:
    """Only latency SLOs broke (no violation, error or other limit): the one kind worth a second try."""
    return bool(broken) and all(b.metric in _LATENCY_METRICS for b in broken)


RunLevel = Callable[[Mode, int, int, int], tuple[LevelResult, bool]]  # mode, users, processes, index


def search_mode(
    mode: Mode,
    run_level: RunLevel,
    search: CapacitySearch,
    gate: Gate,
    slo: Slo,
    *,
    processes: int,
    deadline: float,
    cost_s: Callable[[int], float],
    clock: Callable[[], float] = time.monotonic,
    can_add_processes: bool = True,
) -> tuple[CapacityResult, list[LevelResult], bool]:
    """Search one mode; returns its result, the levels it ran, and whether it was interrupted."""
    low, high = 0, None
    high_step: CapacityStep | None = None
    steps: list[CapacityStep] = []
    levels: list[LevelResult] = []
    users, phase = search.start_users, "grow"
    stopped_by: str | None = None
    interrupted = False
    while True:
        if len(steps) >= search.max_steps:
            stopped_by = "max-steps"
            break
        if clock() + cost_s(users) > deadline:
            stopped_by = "max-time"
            break
        level, interrupted = run_level(mode, users, processes, len(steps) + 1)
        levels.append(level)
        broken = level_breaks(level, gate.limits_for(mode, users), slo, search.min_streaming_share)
        cpu = level.client_cpu_per_process
        lagging = any(b.metric == "streaming_share" for b in broken)
        step = CapacityStep(
            users=users,
            processes=processes,
            phase=phase,  # type: ignore[arg-type]
            held=not broken and not interrupted,
            broken=tuple(broken),
            ttft_p95_ms=level.ttft.percentile_ms(95.0),
            itl_p95_ms=level.itl.percentile_ms(95.0),
            client_cpu_per_process=None if cpu is None else round(cpu, 1),
            client_saturated=lagging or (cpu is not None and cpu >= search.saturated_cpu),
        )
        steps.append(step)
        if interrupted:
            stopped_by = "interrupted"  # a level cut short is not judged
            break
        if not step.held and step.client_saturated and can_add_processes and processes < search.max_processes:
            # The client, not the target, may have failed this level: again with more load processes.
            processes = min(search.max_processes, processes * 2)
            phase = "retry"
            continue
        if not step.held and phase != "confirm" and latency_only(broken):
            phase = "confirm"  # the same level once more: see the module's docstring
            continue
        if step.held:
            low = users
        else:
            high, high_step = users, step
        if high is None:
            if users >= search.max_users:
                stopped_by = "max-users"
                break
            users, phase = search.grow(users), "grow"
            continue
        if search.converged(low, high):
            break
        users, phase = (low + high) // 2, "bisect"
        if users <= low:
            break
    client_limited = high_step is not None and high_step.client_saturated
    result = CapacityResult(
        mode=mode,
        knee=low,
        first_failed=high,
        limiting=high_step.broken[0] if high_step is not None and high_step.broken else None,
        client_limited=client_limited,
        stopped_by=stopped_by,
        steps=tuple(steps),
        note=_note(mode, low, high, high_step, stopped_by, search, processes, can_add_processes)
        + _untimed_note(steps, low),
    )
    return result, levels, interrupted


def _untimed_note(steps: list[CapacityStep], knee: int) -> str:
    """Say so when the levels that held had no token to time (latency SLOs were not judged there)."""
    untimed = sorted({step.users for step in steps if step.held and step.ttft_p95_ms is None})
    if not untimed:
        return ""
    at_knee = " (the knee among them)" if knee in untimed else ""
    return (
        f" At {', '.join(str(u) for u in untimed)} users{at_knee} no stream saw a token (a socket that opens "
        "after its task ended gets only the terminal event, W5): those levels held without a latency SLO "
        "being judged; slow the target's pacing (--prefer) to time them."
    )


def _note(
    mode: str,
    low: int,
    high: int | None,
    high_step: CapacityStep | None,
    stopped_by: str | None,
    search: CapacitySearch,
    processes: int,
    can_add_processes: bool,
) -> str:
    name = "WebSocket" if mode == "ws" else "SSE"
    if high is None:
        if stopped_by == "max-users":
            return f"{name} held at every level tried, up to --max-users {search.max_users}: the knee is higher."
        return f"{name} held up to {low} users; the search stopped ({stopped_by}) before a level failed."
    assert high_step is not None
    parts = [f"{name} held {low} users and did not hold {high}"]
    if high_step.broken:
        parts.append(f"first broken: {high_step.broken[0].text}")
    text = "; ".join(parts) + "."
    if high_step.client_saturated:
        why = (
            f"no more could be added ({search.max_processes} cores)"
            if can_add_processes
            else "more cannot be added with --expect-workers"
        )
        cpu = high_step.client_cpu_per_process
        lag = next((b for b in high_step.broken if b.metric == "streaming_share"), None)
        signs = [f"used {cpu:.0f}% of a core per process" if cpu is not None else ""]
        signs.append(f"kept only {lag.value:.0%} of its users streaming" if lag is not None else "")
        text += (
            f" At {high} users the load client {' and '.join(x for x in signs if x)} "
            f"({processes} process(es); {why}): the client, not the target, was the limit, "
            "and the target's knee may be higher."
        )
    if stopped_by in ("max-time", "max-steps"):
        text += f" The search stopped at --{stopped_by} before the interval was within the tolerance."
    return text


def run_capacity(
    config: SweepConfig,
    search: CapacitySearch,
    gate: Gate | None = None,
    progress: Callable[[Progress], None] | None = None,
    on_level: Callable[[LevelResult], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LoadResults:
    """Search every mode of `config` in turn; on Ctrl-C stop and return what was found."""
    check_reachable(config.stream.base_url)
    gate = gate or default_gate()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    begin = clock()
    levels: list[LevelResult] = []
    capacity: list[CapacityResult] = []
    interrupted = False
    total_steps = search.max_steps * len(config.modes)

    def run_level(mode: Mode, users: int, processes: int, index: int) -> tuple[LevelResult, bool]:
        run = LevelRun(
            dataclasses.replace(config, processes=processes),
            mode,
            users,
            level_index=len(levels) + 1,
            level_count=total_steps,
            progress=progress,
        )
        result = run.run()
        if on_level is not None:
            on_level(result)
        return result, run.interrupted

    for number, mode in enumerate(config.modes, start=1):
        # Each mode may use its share of the time, and what the modes before it left unused.
        deadline = begin + search.max_time_s * number / len(config.modes)
        result, tried, interrupted = search_mode(
            mode,
            run_level,
            search,
            gate,
            config.stream.slo,
            processes=config.processes,
            deadline=deadline,
            cost_s=lambda users: level_cost_s(config, users),
            clock=clock,
            can_add_processes=not config.expect_workers,
        )
        levels += tried
        capacity.append(result)
        if interrupted:
            break
    return LoadResults(
        started_at=started_at,
        target=config.stream.base_url,
        target_kind="embedded-mock" if config.target_kind == "embedded-mock" else "external",
        config={**config.as_dict(), "levels": sorted({r.users for r in levels}), "find_capacity": search.as_dict()},
        slo=config.stream.slo,
        levels=tuple(levels),
        interrupted=interrupted,
        capacity=tuple(capacity),
    )
