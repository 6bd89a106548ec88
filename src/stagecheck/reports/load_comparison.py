"""The seed's SSE-vs-WebSocket table, with measured values where the guide made claims.

The migration guide's "real-time", "concurrency" and "server load" rows were claims;
here they are filled from a sweep. Rows the sweep cannot measure keep the guide's
words, marked as such. Shared by the HTML and Markdown reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from stagecheck.results.load_results import LevelResult, LoadResults

from .load_capacity import knee_text

# A level "held" when nothing failed or broke a rule and at least this share met the SLOs.
HELD_GOODPUT = 0.95

GUIDE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("connection", "long-lived HTTP", "WebSocket"),
    ("reconnection", "manual", "automatic"),
    ("heartbeat", "none", "yes"),
    ("browsers", "all modern", "all modern"),
    ("recommended for", "development and debugging", "production"),
)
GUIDE_CLAIMS = {
    "real-time": ("high", "high"),
    "concurrency": ("limited", "excellent"),
    "server load": ("higher", "lower"),
}


@dataclass(frozen=True)
class ComparisonRow:
    prop: str
    sse: str
    ws: str
    guide: str  # what the guide claimed, "SSE / WS"
    measured: bool


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
        ComparisonRow("real-time", _real_time(sse), _real_time(ws), "high / high", True),
        ComparisonRow(
            "concurrency",
            _capacity_or_concurrency(results, "sse", sse),
            _capacity_or_concurrency(results, "ws", ws),
            "limited / excellent",
            True,
        ),
        ComparisonRow("server load", _server_load(sse), _server_load(ws), "higher / lower", True),
    ]
    rows += [ComparisonRow(prop, s, w, f"{s} / {w}", False) for prop, s, w in GUIDE_ROWS]
    return rows


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
