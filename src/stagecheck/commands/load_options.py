"""The options of `stagecheck load`, declared in one place (the command's body is in load.py).

`load_options` applies them in --help order. Defaults that the body also needs (the
duration when none is given) live here beside the option that documents them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from stagecheck.commands.load_probes import PROBES_HELP

FC = TypeVar("FC", bound=Callable[..., Any])


def expand_modes(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """--modes: `both` stands for `sse,ws`; parse_modes checks the rest."""
    return ",".join("sse,ws" if part.strip().lower() == "both" else part for part in value.split(","))


def load_options(function: FC) -> FC:
    """Every option of `stagecheck load`, outermost first as click lists them."""
    decorators: list[Callable[[FC], FC]] = [
        click.option("--base-url", default=None, help="Target backend (http://host:port); default: the embedded mock."),
        click.option(
            "--modes",
            default="sse,ws",
            show_default=True,
            callback=expand_modes,
            help="Modes to run, comma-separated, each one of sse, ws, websocket, both (both = sse,ws).",
        ),
        click.option(
            "--users",
            "users_text",
            default="50,200,1000",
            show_default=True,
            help="Concurrency levels (users), comma-separated; "
            "with --find-capacity the first is where the search starts.",
        ),
        click.option(
            "--duration",
            default=None,
            help="How long each level is held after its ramp, e.g. 30s, 2m (default 30s; 8s with --find-capacity).",
        ),
        click.option(
            "--find-capacity",
            is_flag=True,
            help="Search the most users each mode holds (x2 from the first --users level, then bisection): "
            "within --slo, the gate's limits and --max-users.",
        ),
        click.option(
            "--max-users",
            type=click.IntRange(1),
            default=2000,
            show_default=True,
            help="With --find-capacity: the most users a level may have.",
        ),
        click.option(
            "--max-time",
            default="9m",
            show_default=True,
            help="With --find-capacity: start no level that would end later than this duration (9m, 300s ...).",
        ),
        click.option(
            "--max-steps",
            type=click.IntRange(1, 100),
            default=16,
            show_default=True,
            help="With --find-capacity: the most levels tried per mode (retries and confirmations included).",
        ),
        click.option(
            "--spawn-rate",
            type=click.FloatRange(0, min_open=True),
            default=None,
            help="Users started per second (default: half the level's users, at least 1).",
        ),
        click.option(
            "--processes", type=click.IntRange(1, 64), default=1, show_default=True, help="Locust worker processes."
        ),
        click.option(
            "--gate",
            "gate_file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="TOML gate of limits (default: any violation or failed stream fails).",
        ),
        click.option(
            "--baseline",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="A previous results.json to compare with.",
        ),
        click.option(
            "--report-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("stagecheck-report/load"),
            show_default=True,
            help="Directory for results.json, index.html, summary.md and logs/.",
        ),
        click.option("--ui", is_flag=True, help="Run each level with Locust's web UI (its address is printed)."),
        click.option(
            "--ui-port", type=click.IntRange(1, 65535), default=None, help="Port of the web UI (default: free)."
        ),
        click.option(
            "--target-pid",
            type=int,
            default=None,
            help="Sample this local process tree's CPU and memory (default: the embedded mock's; none otherwise).",
        ),
        click.option("--prefer", default=None, help='Prefer header for every stream, e.g. "tokens=20, delay-ms=20".'),
        click.option(
            "--project-id", type=click.IntRange(1), default=1, show_default=True, help="Project every stream runs in."
        ),
        click.option(
            "--stage",
            default="rewrite",
            show_default=True,
            help="Stage every stream runs: one of rewrite, storyboard, image_generation, camera_movement, "
            "video_generation.",
        ),
        click.option(
            "--slo",
            "slo_text",
            default="ttft=1000,tpot=200",
            show_default=True,
            help="Goodput SLOs in ms: ttft, tpot, e2e (none turns one off).",
        ),
        click.option(
            "--token", default=None, help="Bearer token, when the target requires one (default: $STAGECHECK_TOKEN)."
        ),
        click.option(
            "--expect-workers",
            type=click.IntRange(1, 1024),
            default=None,
            help="Run no local load: wait for this many `stagecheck load-worker` processes (other hosts) "
            "at each level.",
        ),
        click.option(
            "--master-bind-host",
            default="0.0.0.0",
            show_default=True,
            help="With --expect-workers: the address the workers connect to.",
        ),
        click.option(
            "--master-bind-port",
            type=click.IntRange(1, 65535),
            default=5557,
            show_default=True,
            help="With --expect-workers: the TCP port the workers connect to (open it to them).",
        ),
        click.option("--probes", "probes_text", default="all", show_default=True, help=PROBES_HELP),
        click.option("--probes-only", is_flag=True, help="Run only the --probes, no sweep (one row to measure again)."),
        click.option(
            "--chromium",
            default="/usr/bin/chromium",
            show_default=True,
            envvar="STAGECHECK_CHROMIUM",
            help="The Chromium the browser probe drives (Debian's package; env STAGECHECK_CHROMIUM).",
        ),
        # `stagecheck run` starts the embedded mock itself and says so, for the report's wording.
        click.option(
            "--workers-timeout",
            default="2m",
            show_default=True,
            help="With --expect-workers: exit 2 when the workers are not all connected this long "
            "into a level, e.g. 2m.",
        ),
        click.option(
            "--target-is-embedded-mock",
            "embedded_mock",
            is_flag=True,
            hidden=True,
            help="The target is the embedded mock.",
        ),
    ]
    for decorate in reversed(decorators):
        function = decorate(function)
    return function
