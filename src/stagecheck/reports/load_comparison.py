"""The seed's SSE-vs-WebSocket table, with measured values where the guide made claims.

The migration guide's "real-time", "concurrency" and "server load" rows were claims;
here they are filled from a sweep. Rows the sweep cannot measure keep the guide's
words, marked as such. Shared by the HTML and Markdown reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stagecheck.results.load_results import LevelResult, LoadResults

from .browser_row import browser_text
from .heartbeat_row import heartbeat_text
from .load_capacity import knee_text
from .reconnect_row import reconnect_text

# A level "held" when nothing failed or broke a rule and at least this share met the SLOs.
HELD_GOODPUT = 0.95

GUIDE_CLAIMS = {
    "connection": ("long-lived HTTP", "WebSocket"),
    "recommended for": ("development and debugging", "production"),
    "real-time": ("high", "high"),
    "concurrency": ("limited", "excellent"),
    "server load": ("higher", "lower"),
    "reconnection": ("manual", "automatic"),
    "heartbeat": ("none", "yes"),
    "browsers": ("all modern", "all modern"),
}


@dataclass(frozen=True)
class ComparisonRow:
    prop: str
    sse: str
    ws: str
    guide: str  # what the guide claimed, "SSE / WS"
    measured: bool
    how: str = ""  # what measured it: the command, and the probe or figures it came from


def ms(value_us: float) -> str:
    return f"{value_us / 1000:.1f} ms"


def held(level: LevelResult) -> bool:
    return level.streams > 0 and level.error_rate == 0 and level.violation_count == 0 and level.goodput >= HELD_GOODPUT


def _levels(results: LoadResults, mode: str) -> list[LevelResult]:
    return sorted((r for r in results.levels if r.mode == mode), key=lambda r: r.users)


def _real_time(levels: list[LevelResult]) -> str:
    if not levels:
        return "not measured"
    parts = []
    for level in levels:
        if level.ttft.count == 0:
            parts.append(f"{level.users} users: no tokens")
            continue
        parts.append(
            f"{level.users} users: TTFT p50 {ms(level.ttft.p50_us)} / p95 {ms(level.ttft.p95_us)}, "
            f"ITL p95 {ms(level.itl.p95_us)}"
        )
    return "; ".join(parts)


def _concurrency(levels: list[LevelResult]) -> str:
    if not levels:
        return "not measured"
    ok = [level for level in levels if held(level)]
    top = levels[-1]
    text = f"held up to {ok[-1].users} users" if ok else f"did not hold at {levels[0].users} users (the lowest level)"
    if ok and ok[-1] is not top:
        text += f"; at {top.users}: error rate {top.error_rate:.1%}, goodput {top.goodput:.1%}"
    text += (
        f"; at {top.users}: {top.streams_per_s:.0f} streams/s, {top.chars_per_s:.0f} chars/s of text, "
        f"{top.tokens_per_s:.0f} tokens/s ({top.full_tokens_per_s:.0f} over streams that saw every token)"
    )
    if top.mode == "ws":
        text += f", {top.late_join_share:.1%} of streams joined late (W5 snapshot)"
    return text


def _server_load(levels: list[LevelResult]) -> str:
    measured = [level for level in levels if level.server is not None and level.streams]
    if not measured:
        return "not measured (target not on this machine; give --target-pid)"
    parts = []
    for level in measured:
        assert level.server is not None
        parts.append(
            f"{level.users} users: {level.server_cpu_ms_per_stream:.2f} ms CPU/stream, "
            f"{level.server.cpu_percent_mean:.0f}% CPU, "
            f"{(level.server_rss_per_user_kib or 0):.0f} KiB RSS growth/user"
        )
    return "; ".join(parts)


def _capacity_or_concurrency(results: LoadResults, mode: str, levels: list[LevelResult]) -> str:
    found = results.capacity_for(mode)
    if found is None:
        return _concurrency(levels)
    return knee_text(found)


def _at_knee(results: LoadResults, mode: str, levels: list[LevelResult]) -> list[LevelResult]:
    """A capacity search tries many levels: the real-time and load rows show the knee's (its last try)."""
    found = results.capacity_for(mode)
    if found is None:
        return levels
    return [level for level in levels if level.users == found.knee][-1:]


def comparison_rows(results: LoadResults) -> list[ComparisonRow]:
    sse, ws = _levels(results, "sse"), _levels(results, "ws")
    sse, ws = _at_knee(results, "sse", sse), _at_knee(results, "ws", ws)
    rows = [
        ComparisonRow("real-time", _real_time(sse), _real_time(ws), _guide("real-time"), True),
        ComparisonRow(
            "concurrency",
            _capacity_or_concurrency(results, "sse", sse),
            _capacity_or_concurrency(results, "ws", ws),
            _guide("concurrency"),
            True,
        ),
        ComparisonRow("server load", _server_load(sse), _server_load(ws), _guide("server load"), True),
    ]
    sweep_how = _how(results, "the sweep's levels") if results.levels else ""
    rows = [dataclasses.replace(row, how=sweep_how) for row in rows]
    rows.append(_probe_row(results, "reconnection", "reconnect", results.reconnection, reconnect_text))
    rows.append(_probe_row(results, "heartbeat", "heartbeat", results.heartbeat, heartbeat_text))
    rows.append(_browser_row(results))
    rows.insert(0, _connection_row(sse, ws, sweep_how))
    rows.append(_recommendation_row(results, sse, ws))
    return rows


def _browser_row(results: LoadResults) -> ComparisonRow:
    browser = results.browser
    if browser is None:
        missing = "not measured (run with --probes browser)"
        return ComparisonRow("browsers", missing, missing, _guide("browsers"), False)
    return ComparisonRow(
        "browsers",
        browser_text(browser, "sse"),
        browser_text(browser, "ws"),
        _guide("browsers"),
        browser.not_run is None,
        _how(results, "the browser probe"),
    )


def _num(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _connection_row(sse: list[LevelResult], ws: list[LevelResult], how: str) -> ComparisonRow:
    """What each stream held open, and for how long (E2E p50 at the top level)."""

    def held(levels: list[LevelResult], what: str) -> str:
        timed = [level for level in levels if level.e2e.count]
        if not timed:
            return "not measured"
        top = timed[-1]
        return f"{what}, held {top.e2e.p50_us / 1e6:.2f} s p50 per stream at {top.users} users"

    return ComparisonRow(
        "connection",
        held(sse, "one POST whose response streams the events"),
        held(ws, "a POST (202 + task_id), then a WebSocket followed to the terminal event"),
        _guide("connection"),
        bool(sse or ws),
        how,
    )


def _recommendation_row(results: LoadResults, sse: list[LevelResult], ws: list[LevelResult]) -> ComparisonRow:
    """Not advice: which mode came out ahead on each figure both modes measured in this run."""
    ahead: dict[str, list[str]] = {"sse": [], "ws": []}

    def compare(label: str, a: float | None, b: float | None, lower_is_better: bool, unit: str = "") -> None:
        if a is None or b is None or a == b:
            return
        best = "sse" if (a < b) == lower_is_better else "ws"
        mine, other = (a, b) if best == "sse" else (b, a)
        ahead[best].append(f"{label} ({_num(mine)} against {_num(other)}{unit})")

    common = sorted({lv.users for lv in sse if lv.ttft.count} & {lv.users for lv in ws if lv.ttft.count})
    if common:
        top = common[-1]
        s_level = next(lv for lv in sse if lv.users == top)
        w_level = next(lv for lv in ws if lv.users == top)
        compare(f"TTFT p95 at {top} users", s_level.ttft.p95_us / 1000, w_level.ttft.p95_us / 1000, True, " ms")
        compare(f"error rate at {top} users", s_level.error_rate * 100, w_level.error_rate * 100, True, " %")
        compare(
            f"target CPU per stream at {top} users",
            s_level.server_cpu_ms_per_stream,
            w_level.server_cpu_ms_per_stream,
            True,
            " ms",
        )
    s_cap, w_cap = results.capacity_for("sse"), results.capacity_for("ws")
    if s_cap is not None and w_cap is not None:
        compare("capacity knee", float(s_cap.knee), float(w_cap.knee), False, " users")
    by_mode = {r.mode: r for r in results.reconnection if r.not_run is None}
    if "sse" in by_mode and "ws" in by_mode:
        compare(
            "server starts per reconnected answer",
            by_mode["sse"].starts_per_answer,
            by_mode["ws"].starts_per_answer,
            True,
        )
        compare("tokens seen twice on reconnect", by_mode["sse"].tokens_seen_twice,
                by_mode["ws"].tokens_seen_twice, True)  # fmt: skip
    if not ahead["sse"] and not ahead["ws"]:
        missing = "not measured (no figure both modes measured)"
        return ComparisonRow("recommended for", missing, missing, _guide("recommended for"), False)
    cells = ["ahead on " + "; ".join(ahead[m]) if ahead[m] else "ahead on none of them" for m in ("sse", "ws")]
    return ComparisonRow(
        "recommended for", cells[0], cells[1], _guide("recommended for"), True,
        "the figures of the rows above that both modes measured",
    )  # fmt: skip


def _guide(prop: str) -> str:
    sse, ws = GUIDE_CLAIMS[prop]
    return f"{sse} / {ws}"


def _how(results: LoadResults, source: str) -> str:
    """The "measured by" cell: the command, then which part of its run gave the row."""
    return f"{results.command}: {source}" if results.command else source


def _probe_row(
    results: LoadResults,
    prop: str,
    probe: str,
    found: Sequence[Any],
    text: Callable[[Any], str],
) -> ComparisonRow:
    """A row answered by a probe: its text per mode, or the guide's words when it did not run."""
    by_mode = {result.mode: result for result in found}
    if not by_mode:
        missing = f"not measured (run with --probes {probe})"
        return ComparisonRow(prop, missing, missing, _guide(prop), False)
    cells = [text(by_mode[mode]) if mode in by_mode else "not measured (mode not run)" for mode in ("sse", "ws")]
    # Measured when some mode gave figures; "not run: why" in every cell is no measurement.
    measured = any(result.not_run is None for result in found)
    return ComparisonRow(prop, cells[0], cells[1], _guide(prop), measured, _how(results, f"the {probe} probe"))


DEFINITIONS = (
    "Metric definitions follow vLLM's `bench serve`: TTFT = arrival of the first token event minus the "
    "request start (SSE: the streaming POST; WebSocket: the POST that starts the task, so the socket's "
    "opening is included); ITL = every gap between consecutive token events, pooled over all streams "
    "(the first token's wait is TTFT, not an ITL sample, as in GenAI-Perf; LLMPerf would include it); "
    "TPOT = (E2E - TTFT) / (tokens - 1) per stream with 2+ tokens; E2E = arrival of the terminal event "
    "minus the request start; goodput = share of streams that ended with `done`, broke no rule and met "
    "every SLO. Times are kept in HDR histograms at microsecond resolution (3 significant digits), merged "
    "across Locust workers. Streams are counted once every user of a level is running (the ramp is "
    "excluded); error rate = (failed + incomplete + task errors) / streams. A WebSocket that opens after "
    "its task began gets the W5 snapshot (one token holding all text so far), so tokens/s undercounts "
    "WebSocket: chars/s (each completed stream's text) is the unit both modes share, tokens/s is also "
    "given over the streams that saw every token, and ITL never spans a join (no gap ends at a snapshot)."
)
