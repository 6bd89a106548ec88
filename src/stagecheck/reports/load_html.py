"""`index.html` of a load sweep: one self-contained page (inline CSS and SVG, no script).

For each metric a chart of SSE against WebSocket over the concurrency levels (p50, p95,
p99), then throughput, error and violation rates, server CPU and memory per stream, the
seed's comparison table filled with measured values, and every figure in a table.
"""

from __future__ import annotations

from html import escape

from stagecheck.results.load_results import Distribution, LevelResult, LoadResults

from .load_capacity import CAPACITY_COLUMNS, STEP_COLUMNS, capacity_chart, capacity_rows, step_rows
from .load_comparison import DEFINITIONS, comparison_rows
from .load_markdown import verdict
from .load_tables import LEVEL_COLUMNS, failures_text, level_row
from .svg_plots import Series, line_chart

MODE_COLORS = {"sse": "#1f77b4", "ws": "#e6550d"}
MODE_NAMES = {"sse": "SSE", "ws": "WS"}
PERCENTILE_DASHES = ((50.0, "p50", ""), (95.0, "p95", "6 3"), (99.0, "p99", "2 3"))

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ccc;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#127a12;font-weight:bold}.fail{color:#b00;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:10px}
.chart{border:1px solid #e3e3e3;background:#fff}
.chart .title{font-size:14px;font-weight:600}.chart .tick{font-size:11px;fill:#555}
.chart .axis{font-size:11px;fill:#333}.chart .legend{font-size:11px}.chart .grid{stroke:#eee}
.note{color:#555;font-size:13px;max-width:1100px}code{background:#f5f5f5;padding:0 3px}
"""


def _slo_text(results: LoadResults) -> str:
    """Only the SLOs that are judged (None means not judged)."""
    slo = results.slo
    pairs = [("TTFT", slo.ttft_ms), ("TPOT", slo.tpot_ms), ("E2E", slo.e2e_ms)]
    judged = [f"{name} ≤ {value:g} ms" for name, value in pairs if value is not None]
    return ", ".join(judged) if judged else "none (every completed stream without violations counts)"


def _dist_series(results: LoadResults, metric: str, users: list[int]) -> list[Series]:
    series: list[Series] = []
    for mode in results.modes:
        for percentile, label, dash in PERCENTILE_DASHES:
            values: list[float | None] = []
            for count in users:
                level = results.level(mode, count)
                dist: Distribution | None = None if level is None else getattr(level, metric)
                values.append(None if dist is None else dist.percentile_ms(percentile))
            series.append(Series(f"{MODE_NAMES[mode]} {label}", values, MODE_COLORS[mode], dash))
    return series


def _level_series(results: LoadResults, users: list[int], label: str, read: object, dash: str = "") -> list[Series]:
    series = []
    for mode in results.modes:
        values: list[float | None] = []
        for count in users:
            level = results.level(mode, count)
            values.append(None if level is None else read(level))  # type: ignore[operator]
        series.append(Series(f"{MODE_NAMES[mode]} {label}", values, MODE_COLORS[mode], dash))
    return series


def charts(results: LoadResults) -> list[str]:
    users = results.user_levels
    categories = [str(u) for u in users]
    out = [
        line_chart(title, categories, _dist_series(results, metric, users), "ms")
        for metric, title in (
            ("ttft", "Time to first token"),
            ("itl", "Inter-token latency (every gap)"),
            ("tpot", "Time per output token"),
            ("e2e", "End-to-end stream time"),
        )
    ]

    def tokens_per_s(level: LevelResult) -> float:
        return level.tokens_per_s

    def chars_per_s(level: LevelResult) -> float:
        return level.chars_per_s

    def streams_per_s(level: LevelResult) -> float:
        return level.streams_per_s

    def error_pct(level: LevelResult) -> float:
        return 100 * level.error_rate

    def violation_pct(level: LevelResult) -> float:
        return 100 * level.violation_rate

    def goodput_pct(level: LevelResult) -> float:
        return 100 * level.goodput

    def cpu_ms(level: LevelResult) -> float | None:
        return level.server_cpu_ms_per_stream

    def rss_kib(level: LevelResult) -> float | None:
        return level.server_rss_per_user_kib

    def client_cpu(level: LevelResult) -> float | None:
        return None if level.client is None else level.client.cpu_percent_mean

    out.append(
        line_chart(
            "Throughput: tokens/s", categories, _level_series(results, users, "tokens/s", tokens_per_s), "tokens/s"
        )
    )
    out.append(
        line_chart(
            "Throughput: characters of text/s (both modes alike)",
            categories,
            _level_series(results, users, "chars/s", chars_per_s),
            "chars/s",
        )
    )
    out.append(
        line_chart(
            "Throughput: streams/s", categories, _level_series(results, users, "streams/s", streams_per_s), "streams/s"
        )
    )
    out.append(
        line_chart(
            "Errors and violations",
            categories,
            _level_series(results, users, "error %", error_pct)
            + _level_series(results, users, "violations/100 streams", violation_pct, "6 3"),
            "% of streams",
        )
    )
    out.append(
        line_chart(
            "Goodput (SLOs met)", categories, _level_series(results, users, "goodput %", goodput_pct), "% of streams"
        )
    )
    out.append(
        line_chart(
            "Server CPU per stream", categories, _level_series(results, users, "CPU ms/stream", cpu_ms), "ms of CPU"
        )
    )
    out.append(
        line_chart(
            "Server memory growth per user", categories, _level_series(results, users, "KiB/user", rss_kib), "KiB"
        )
    )
    out.append(
        line_chart(
            "Load client CPU (validity check)",
            categories,
            _level_series(results, users, "client CPU %", client_cpu),
            "% of a core",
        )
    )
    return out


def _table(header: list[str] | tuple[str, ...], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(results: LoadResults) -> str:
    config = results.config
    status = verdict(results)
    css_class = "pass" if status == "PASSED" else "fail" if status.startswith("FAILED") else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>stagecheck load: SSE vs WebSocket</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>stagecheck load: SSE vs WebSocket</h1>",
        f'<p>Gate: <span class="{css_class}">{escape(status)}</span>'
        + (" — <b>the sweep was interrupted</b>; figures cover what was measured" if results.interrupted else "")
        + "</p>",
        f"<p>Target <code>{escape(results.target)}</code> ({escape(results.target_kind)}), started "
        f"{escape(results.started_at)}. Levels {escape(', '.join(str(u) for u in config.get('levels', [])))} users, "
        f"each ramped then held {escape(str(config.get('duration_s')))} s; {escape(str(config.get('processes', 1)))} "
        f"load process(es); stage <code>{escape(str(config.get('stage')))}</code>"
        + (f"; <code>Prefer: {escape(str(config['prefer']))}</code>" if config.get("prefer") else "")
        + f". SLOs for goodput: {escape(_slo_text(results))}.</p>",
    ]
    if results.gate is not None and results.gate.notes:
        parts.append("<h2>Seen but not judged</h2><ul>")
        parts += [f"<li>{escape(note)}</li>" for note in results.gate.notes]
        parts.append("</ul>")
    if results.gate is not None and results.gate.breaches:
        parts.append("<h2>Gate breaches</h2><ul>")
        parts += [f"<li>{escape(str(b))}</li>" for b in results.gate.breaches]
        parts.append("</ul>")
    if results.capacity:
        parts.append("<h2>Capacity: the most users each mode held</h2>")
        parts.append(_table(CAPACITY_COLUMNS, capacity_rows(results)))
        parts += [f'<p class="note">{escape(found.note)}</p>' for found in results.capacity if found.note]
        parts.append('<div class="charts">' + capacity_chart(results) + "</div>")
        parts.append("<h3>Every level the search tried</h3>")
        parts.append(_table(STEP_COLUMNS, step_rows(results)))
    parts.append("<h2>The guide's comparison table, measured</h2>")
    rows = [
        [r.prop, r.sse, r.ws, r.guide + ("" if r.measured else " (the guide's words; not measured)"), r.how]
        for r in comparison_rows(results)
    ]
    parts.append(_table(["property", "SSE mode", "WebSocket mode", "the guide said (SSE / WS)", "measured by"], rows))
    parts.append("<h2>Charts</h2>")
    parts.append('<div class="charts">' + "".join(charts(results)) + "</div>")
    parts.append("<h2>Every level</h2>")
    parts.append(_table(LEVEL_COLUMNS, [level_row(level) for level in results.levels]))
    troubled = [level for level in results.levels if level.error_rate or level.violations or level.warnings]
    if troubled:
        parts.append("<h2>Failures, violations and warnings</h2><ul>")
        for level in troubled:
            warnings = ", ".join(f"{rule}×{n}" for rule, n in level.warnings.items())
            parts.append(
                f"<li>{escape(level.mode)} @ {level.users} users: {escape(failures_text(level))}"
                + (f"; warnings {escape(warnings)}" if warnings else "")
            )
            if level.examples:
                parts.append("<ul>" + "".join(f"<li><code>{escape(e)}</code></li>" for e in level.examples) + "</ul>")
            parts.append("</li>")
        parts.append("</ul>")
    parts.append(f'<h2>Definitions</h2><p class="note">{escape(DEFINITIONS)}</p>')
    parts.append(
        '<p class="note">Server CPU and memory are sampled (psutil, process tree) while each level is held, when '
        "the target runs on this machine. The load client's own CPU is shown because a saturated client measures "
        "itself: near 100% of a core per load process, the latency figures include client queueing.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
