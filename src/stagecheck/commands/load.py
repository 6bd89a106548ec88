"""`stagecheck load`: SSE against WebSocket under load, gated (exit 0 held, 1 breaches, 2 could not run).

This process never imports Locust: each level runs Locust in a subprocess
(`stagecheck.load.level_run`). With no `--base-url` the embedded mock runs in a process
of its own, and its CPU and memory are sampled as the "server load".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shlex
import socket
import sys
from contextlib import ExitStack
from pathlib import Path

import click

from stagecheck.commands.load_options import load_options
from stagecheck.commands.load_probes import parse_probes, probe_reasons, probes_measured, run_probes
from stagecheck.errors import ConfigError, StagecheckError
from stagecheck.load.capacity import CapacitySearch, run_capacity
from stagecheck.load.capacity import estimate as capacity_estimate
from stagecheck.load.config import (
    StreamSettings,
    SweepConfig,
    parse_duration,
    parse_levels,
    parse_modes,
    ws_url_for,
)
from stagecheck.load.gate import Gate, judge, load_baseline, load_gate
from stagecheck.load.level_run import Progress, WorkersMissing
from stagecheck.load.sweep import check_reachable, run_sweep
from stagecheck.reports.load_reports import write_load_reports
from stagecheck.reports.load_tables import violations_text
from stagecheck.results.load_results import LevelResult, LoadResults, Slo

# Seconds a level costs besides its hold (starting Locust, the ramp, the drain), for the estimate only.
LEVEL_OVERHEAD_S = 5.0
# --duration when none is given: a sweep holds each level 30 s, a capacity search (many levels) 8 s.
DEFAULT_DURATION = "30s"
CAPACITY_DURATION = "8s"
# --find-capacity against the embedded mock: what each task streams (see where it is used).
CAPACITY_MOCK_TEXT = "30 tokens per task at 10 tokens/s after a 300 ms first-token wait (3.2 s a stream)"


def parse_slo(text: str) -> Slo:
    """`ttft=1000,tpot=200,e2e=5000` (milliseconds; `none` turns one off)."""
    values: dict[str, float | None] = {"ttft_ms": Slo().ttft_ms, "tpot_ms": Slo().tpot_ms, "e2e_ms": Slo().e2e_ms}
    for part in text.split(","):
        name, _, raw = part.strip().partition("=")
        key = f"{name.strip().lower()}_ms"
        if key not in values:
            raise ConfigError(f"--slo: unknown objective {name.strip()!r}; use ttft, tpot, e2e (milliseconds)")
        try:
            values[key] = None if raw.strip().lower() == "none" else float(raw)
        except ValueError as exc:
            raise ConfigError(f"--slo: {part.strip()!r} needs a number of milliseconds or none") from exc
    return Slo(**values)


class ProgressLine:
    """One status line per level, rewritten in place on a terminal, a line every 5 s otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._last_printed = -10.0
        self._web_url: str | None = None

    def __call__(self, p: Progress) -> None:
        if p.web_url and p.web_url != self._web_url:
            self._web_url = p.web_url
            click.echo(f"Locust web UI for {p.mode} @ {p.users} users: {p.web_url}", err=True)
        text = (
            f"[{p.level_index}/{p.level_count}] {p.mode.upper():3} {p.users:>5} users  {p.phase:<8} "
            f"{p.elapsed_s:6.1f}s  running {p.running_users:>5}  streams {p.streams:>7}  failed {p.failures}"
        )
        if p.expect_workers:
            text += f"  workers {p.workers}/{p.expect_workers}"
        if self.tty:
            click.echo("\r" + text, nl=False, err=True)
        elif p.elapsed_s - self._last_printed >= 5:
            self._last_printed = p.elapsed_s
            click.echo(text, err=True)

    def level_done(self, level: LevelResult) -> None:
        if self.tty:
            click.echo("", err=True)
        self._last_printed = -10.0
        ttft = f"{level.ttft.p50_us / 1000:.1f}/{level.ttft.p95_us / 1000:.1f}" if level.ttft.count else "-"
        itl = f"{level.itl.p50_us / 1000:.1f}/{level.itl.p95_us / 1000:.1f}" if level.itl.count else "-"
        click.echo(
            f"  {level.mode.upper():3} {level.users:>5} users: {level.streams} streams "
            f"({level.streams_per_s:.1f}/s), TTFT p50/p95 {ttft} ms, ITL p50/p95 {itl} ms, "
            f"errors {level.error_rate:.1%}, violations {violations_text(level)}",
            err=True,
        )


@click.command("load")
@load_options
def command(
    base_url: str | None,
    modes: str,
    users_text: str,
    duration: str | None,
    spawn_rate: float | None,
    processes: int,
    gate_file: Path | None,
    baseline: Path | None,
    report_dir: Path,
    ui: bool,
    ui_port: int | None,
    target_pid: int | None,
    prefer: str | None,
    project_id: int,
    stage: str,
    slo_text: str,
    token: str | None,
    expect_workers: int | None = None,
    master_bind_host: str = "0.0.0.0",
    master_bind_port: int = 5557,
    workers_timeout: str = "2m",
    embedded_mock: bool = False,
    find_capacity: bool = False,
    max_users: int = 2000,
    max_time: str = "9m",
    max_steps: int = 16,
    probes_text: str = "all",
    probes_only: bool = False,
    chromium: str = "/usr/bin/chromium",
) -> None:
    """Sweep concurrency levels in SSE and WebSocket mode; measure TTFT, inter-token gaps, E2E.

    Each level is ramped, then held for --duration; every stream is checked against the
    protocol rules. Writes results.json, index.html and summary.md to --report-dir. Without
    --gate, any violation or failed/incomplete stream fails the run (exit 1). With
    --find-capacity, each mode's knee is searched instead (the gate's min_capacity judges it).
    """
    # Everything the user typed is checked before anything starts (no mock, no Locust yet).
    gate = load_gate(gate_file) if gate_file else None
    previous = load_baseline(baseline) if baseline else None
    workers_timeout_s = parse_duration(workers_timeout, "--workers-timeout")
    mode_list = parse_modes(modes)
    levels = parse_levels(users_text)
    duration_s = parse_duration(duration or (CAPACITY_DURATION if find_capacity else DEFAULT_DURATION))
    slo = parse_slo(slo_text)
    probes = parse_probes(probes_text)
    if probes_only and not probes:
        raise ConfigError("--probes-only with --probes none would measure nothing")
    if probes_only and find_capacity:
        raise ConfigError("--probes-only runs no sweep: it cannot be used with --find-capacity")
    if expect_workers and processes > 1:
        raise ConfigError("--processes and --expect-workers exclude each other: workers run here or elsewhere")
    search: CapacitySearch | None = None
    if find_capacity:
        if expect_workers:
            raise ConfigError("--find-capacity runs its load here: it cannot be used with --expect-workers")
        search = CapacitySearch(
            start_users=levels[0],
            max_users=max_users,
            max_time_s=parse_duration(max_time, "--max-time"),
            max_steps=max_steps,
        )
    if token is None:
        token = os.environ.get("STAGECHECK_TOKEN")
    stream = StreamSettings(
        base_url=(base_url or "http://127.0.0.1").rstrip("/"),
        ws_url=ws_url_for(base_url or "http://127.0.0.1"),
        project_id=project_id,
        stage=stage,
        prefer=prefer,
        token=token,
        slo=slo,
    )
    config = SweepConfig(
        stream=stream,
        modes=mode_list,
        levels=levels,
        duration_s=duration_s,
        spawn_rate=spawn_rate,
        processes=processes,
        target_pid=target_pid,
        target_kind="embedded-mock" if embedded_mock else "external",
        web_ui=ui,
        web_port=ui_port,
        log_dir=str(report_dir / "logs"),
        expect_workers=expect_workers or 0,
        master_bind_host=master_bind_host,
        master_bind_port=master_bind_port,
        workers_timeout_s=workers_timeout_s,
    )
    if probes_only:
        click.echo(f"stagecheck load: no sweep; probes {', '.join(probes)}", err=True)
    elif search is not None:
        click.echo(f"stagecheck load: {capacity_estimate(config, search)}", err=True)
    else:
        click.echo(f"stagecheck load: {estimate(mode_list, levels, duration_s)}", err=True)
    with ExitStack() as stack:
        try:
            if base_url is None:
                from stagecheck.mock_server.config import MockConfig
                from stagecheck.mock_server.embedded import EmbeddedMock

                mock_config = MockConfig()
                if search is not None:
                    # The mock's default tasks (12 tokens, 240 ms) end before most sockets of a big
                    # level open: streams like an LLM's (10 tokens/s) make every level time tokens.
                    mock_config = MockConfig(tokens=30, token_delay_ms=100.0, first_token_delay_ms=300.0)
                    click.echo(f"stagecheck load: the embedded mock streams {CAPACITY_MOCK_TEXT}", err=True)
                mock = stack.enter_context(EmbeddedMock(mock_config, mode="process"))
                stream = dataclasses.replace(stream, base_url=mock.base_url, ws_url=ws_url_for(mock.base_url))
                config = dataclasses.replace(config, stream=stream, target_pid=mock.pid, target_kind="embedded-mock")
                click.echo(f"stagecheck load: embedded mock at {mock.base_url} (pid {mock.pid})", err=True)
            if expect_workers:
                click.echo(
                    f"stagecheck load: each level waits for {expect_workers} workers on port {master_bind_port}; "
                    f"on each worker host run: stagecheck load-worker --master-host "
                    f"{advertised_host(master_bind_host)} --master-port {master_bind_port}",
                    err=True,
                )
            line = ProgressLine()
            if probes_only:
                check_reachable(config.stream.base_url)  # a down target is exit 2, not probes "not run"
                results = not_run(config, None)
            elif search is not None:
                results = run_capacity(config, search, gate, progress=line, on_level=line.level_done)
                for found in results.capacity:
                    click.echo(f"  capacity {found.mode.upper()}: knee {found.knee} users. {found.note}", err=True)
            else:
                results = run_sweep(config, progress=line, on_level=line.level_done)
            results = dataclasses.replace(results, command=invoked_command(base_url is None or embedded_mock))
            if probes and not results.interrupted:
                results = run_probes(
                    results,
                    probes,
                    stream,
                    mode_list,
                    target_pid=config.target_pid,
                    chromium=chromium,
                    echo=lambda t: click.echo(t, err=True),
                )
        except WorkersMissing as exc:
            # Exit 2 with one line (the CLI's); the levels measured before are still reported.
            if exc.partial is not None:
                partial = dataclasses.replace(exc.partial, error=str(exc))
                outcome = judge(partial, gate, previous, str(baseline) if baseline else None)
                paths = write_load_reports(partial.with_gate(outcome), report_dir)
            else:
                paths = write_load_reports(not_run(config, str(exc)), report_dir)
            exc.args = (f"{exc}; report: {paths['html']}",)
            raise
        except StagecheckError as exc:
            # The target is down, the mock did not start ...: a report that says why, then exit 2.
            paths = write_load_reports(not_run(config, str(exc)), report_dir)
            exc.args = (f"{exc}; report: {paths['html']}",)
            raise
        except KeyboardInterrupt:
            # Between levels (a level in progress stops itself and keeps its figures).
            paths = write_load_reports(dataclasses.replace(not_run(config, None), interrupted=True), report_dir)
            click.echo(f"\nstagecheck load: interrupted before any level finished; report {paths['html']}", err=True)
            raise SystemExit(130) from None
    if probes_only and not results.interrupted and not probes_measured(results):
        # Nothing judged is no pass: exit 2, and the report keeps each probe's reason.
        reason = "no probe could measure this target: " + "; ".join(probe_reasons(results))
        paths = write_load_reports(dataclasses.replace(results, error=reason), report_dir)
        raise StagecheckError(f"{reason}; report: {paths['html']}")
    finish(results, report_dir, gate, previous, baseline)


# Options left out of the "measured by" command: where reports go, and how the embedded mock was run.
_NOT_MEASUREMENT = frozenset({"report_dir", "target_pid", "embedded_mock", "token", "ui", "ui_port", "chromium"})


def invoked_command(embedded: bool) -> str:
    """The command as the user could type it again: `stagecheck load` and the options given."""
    ctx = click.get_current_context()
    words: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        source = ctx.get_parameter_source(name)
        if source is not click.core.ParameterSource.COMMANDLINE or name in _NOT_MEASUREMENT:
            continue
        if name == "base_url" and embedded:
            continue
        if not isinstance(param, click.Option):
            continue
        value = ctx.params[name]
        flag = param.opts[0]
        words += [flag] if param.is_flag else [flag, str(value)]
    return " ".join([ctx.command_path, shlex.join(words)]).strip()


def estimate(modes: tuple[str, ...] | list[str], levels: tuple[int, ...] | list[int], duration_s: float) -> str:
    """What the sweep will do and about how long it takes (ramp and start-up come on top of the hold)."""
    count = len(modes) * len(levels)
    held = count * duration_s
    return (
        f"{count} level{'s' if count != 1 else ''} ({', '.join(modes)} at {', '.join(str(u) for u in levels)} users), "
        f"{duration_s:g} s held each: about {held + count * LEVEL_OVERHEAD_S:.0f} s in all"
    )


def not_run(config: SweepConfig, error: str | None) -> LoadResults:
    """The results of a sweep that measured nothing, so that a report says why."""
    return LoadResults(
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        target=config.stream.base_url,
        target_kind="embedded-mock" if config.target_kind == "embedded-mock" else "external",
        config=config.as_dict(),
        slo=config.stream.slo,
        levels=(),
        error=error,
    )


def advertised_host(bind_host: str) -> str:
    """The address to give workers: the bind address, or this host's outward one for 0.0.0.0."""
    if bind_host not in ("0.0.0.0", "*", "", "::"):
        return bind_host
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outward interface
            address = str(probe.getsockname()[0])
    except OSError:
        address = ""
    return address if address and not address.startswith("127.") else socket.gethostname()


def finish(
    results: LoadResults, report_dir: Path, gate: Gate | None, previous: LoadResults | None, baseline: Path | None
) -> None:
    """Judge, write the reports, say the verdict, exit 0 (held), 1 (breaches) or 130 (interrupted)."""
    outcome = judge(results, gate, previous, str(baseline) if baseline else None)
    results = results.with_gate(outcome)
    paths = write_load_reports(results, report_dir)
    for breach in outcome.breaches:
        click.echo(f"BREACH {breach}", err=True)
    if results.interrupted:
        # A cancelled run gives no verdict, whatever it measured: a cancelled CI job must not go green.
        click.echo(
            f"stagecheck load: interrupted: no verdict; the report covers what was measured: {paths['html']}", err=True
        )
        raise SystemExit(130)
    click.echo(f"stagecheck load: {'passed' if outcome.passed else 'FAILED'}; report {paths['html']}", err=True)
    raise SystemExit(0 if outcome.passed else 1)
