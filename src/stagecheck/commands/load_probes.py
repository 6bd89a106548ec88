"""`stagecheck load --probes`: the short probes that answer the guide's table rows the sweep cannot.

A sweep times streams; the guide's table also claims a reconnection story, a heartbeat and
browser support. Each probe is bounded in time, runs after the sweep (so that the sweep
meets a fresh target) against the same target and settings, and ends with a result per
mode, or "not run: <why>". Their results go into `LoadResults`, the gate judges their
verdicts, and the comparison table shows them with the command that measured them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol, TypeVar

from stagecheck.browser.check import run_browser_check
from stagecheck.errors import ConfigError, StagecheckError
from stagecheck.load.config import StreamSettings
from stagecheck.load.heartbeat import run_heartbeat
from stagecheck.load.reconnect import run_reconnect
from stagecheck.results.browser_results import BrowserResult
from stagecheck.results.heartbeat_results import HeartbeatResult
from stagecheck.results.load_results import LoadResults, Mode
from stagecheck.results.reconnect_results import ReconnectResult

PROBES = ("reconnect", "heartbeat", "browser")
PROBES_HELP = (
    "Probes run after the sweep, each bounded: reconnect (streams dropped after some tokens and "
    "recovered as the guide's frontend does), heartbeat (an idle socket held and pinged, SSE "
    "keep-alives; about 6 s a mode), browser (the guide's two clients in headless Chromium, "
    "/usr/bin/chromium; not run without it). all, none, or a comma-separated list."
)


def parse_probes(text: str) -> tuple[str, ...]:
    """`all`, `none` or `reconnect,...` -> the probes to run, in their fixed order."""
    words = {part.strip().lower() for part in text.split(",") if part.strip()}
    if words == {"all"}:
        return PROBES
    if words in ({"none"}, set()):
        return ()
    unknown = sorted(words - set(PROBES))
    if unknown:
        raise ConfigError(f"--probes: unknown probe {', '.join(unknown)}; choose from all, none, {', '.join(PROBES)}")
    return tuple(p for p in PROBES if p in words)


def run_probes(
    results: LoadResults,
    probes: tuple[str, ...],
    stream: StreamSettings,
    modes: tuple[Mode, ...],
    *,
    target_pid: int | None,
    chromium: str | None = None,
    echo: Callable[[str], None],
) -> LoadResults:
    """Run each probe for each mode and fold the results in; Ctrl-C keeps what was measured."""
    reconnection: list[ReconnectResult] = []
    heartbeat: list[HeartbeatResult] = []
    browser: BrowserResult | None = None
    try:
        if "reconnect" in probes:
            for mode in modes:
                reconnection.append(
                    _one_mode("reconnect", mode, lambda m: run_reconnect(stream, m, target_pid=target_pid),
                              lambda m, why: ReconnectResult(mode=m, not_run=why), echo)
                )  # fmt: skip
        if "heartbeat" in probes:
            for mode in modes:
                heartbeat.append(
                    _one_mode("heartbeat", mode, lambda m: run_heartbeat(stream, m),
                              lambda m, why: HeartbeatResult(mode=m, not_run=why), echo)
                )  # fmt: skip
        if "browser" in probes:
            echo("stagecheck load: browser probe (headless Chromium)")
            try:
                browser = run_browser_check(
                    stream.base_url,
                    project_id=stream.project_id,
                    stage=stream.stage,
                    original_text=stream.original_text,
                    prefer=stream.prefer,
                    token=stream.token,
                    modes=modes,
                    executable=chromium,
                )
            except StagecheckError as exc:
                browser = BrowserResult(not_run=str(exc))
            verdict = f"not run ({browser.not_run})" if browser.not_run else ("held" if browser.held else "failed")
            echo(f"  browser: {verdict}")
    except KeyboardInterrupt:
        echo("stagecheck load: probes interrupted; what they measured is kept")
        return dataclasses.replace(
            results, reconnection=tuple(reconnection), heartbeat=tuple(heartbeat), browser=browser, interrupted=True
        )
    return dataclasses.replace(results, reconnection=tuple(reconnection), heartbeat=tuple(heartbeat), browser=browser)


class _ModeResult(Protocol):
    @property
    def verdict(self) -> str: ...
    @property
    def not_run(self) -> str | None: ...


R = TypeVar("R", bound=_ModeResult)


def _one_mode(
    name: str, mode: Mode, run: Callable[[Mode], R], not_run: Callable[[Mode, str], R], echo: Callable[[str], None]
) -> R:
    """One probe of one mode, said before and after; a StagecheckError is its "not run" reason."""
    echo(f"stagecheck load: {name} probe, {mode}")
    try:
        found = run(mode)
    except StagecheckError as exc:
        found = not_run(mode, str(exc))
    echo(f"  {name} {mode}: {found.verdict}" + (f" ({found.not_run})" if found.not_run else ""))
    return found


def probes_measured(results: LoadResults) -> bool:
    """At least one probe measured something (a verdict other than not run)."""
    found = [r.not_run for r in results.reconnection] + [r.not_run for r in results.heartbeat]
    if results.browser is not None:
        found.append(results.browser.not_run)
    return any(reason is None for reason in found)


def probe_reasons(results: LoadResults) -> list[str]:
    """Why each probe did not run, for the one line of an exit 2."""
    reasons = [f"{r.mode} reconnect: {r.not_run}" for r in results.reconnection if r.not_run]
    reasons += [f"{r.mode} heartbeat: {r.not_run}" for r in results.heartbeat if r.not_run]
    if results.browser is not None and results.browser.not_run:
        reasons.append(f"browser: {results.browser.not_run}")
    return reasons
