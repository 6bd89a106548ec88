"""Load reports: results.json, a self-contained index.html, summary.md, and the SVG charts."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from stagecheck.reports.load_comparison import comparison_rows
from stagecheck.reports.load_html import render_html
from stagecheck.reports.load_markdown import render_markdown
from stagecheck.reports.load_reports import write_load_reports
from stagecheck.reports.svg_plots import Series, line_chart, nice_ceiling
from stagecheck.results.browser_results import BrowserModeResult, BrowserResult
from stagecheck.results.heartbeat_results import HeartbeatResult
from stagecheck.results.load_results import (
    Breach,
    Distribution,
    GateOutcome,
    LevelResult,
    LoadResults,
    ProcessSample,
    Slo,
)
from stagecheck.results.reconnect_results import ReconnectResult


def dist(p50_ms: float) -> Distribution:
    us = int(p50_ms * 1000)
    return Distribution(count=50, min_us=us // 2, mean_us=us, max_us=us * 3, p50_us=us, p90_us=int(us * 1.5),
                        p95_us=us * 2, p99_us=int(us * 2.5), p999_us=us * 3)  # fmt: skip


def level(mode: str, users: int, ttft_ms: float, **kw) -> LevelResult:
    server = ProcessSample(pid=1, processes=1, cpu_seconds=2.0, cpu_percent_mean=40.0, cpu_percent_peak=60.0,
                           rss_start_bytes=50_000_000, rss_peak_bytes=51_024_000, samples=10)  # fmt: skip
    fields = dict(
        mode=mode, users=users, processes=1, window_s=10.0, ramp_s=1.0, streams=400, completed=400, failed=0,
        incomplete=0, task_errors=0, tokens=4800, events=5200, good=400, ttft=dist(ttft_ms), itl=dist(20.0),
        tpot=dist(20.5), e2e=dist(ttft_ms + 220), server=server,
    )  # fmt: skip
    fields.update(kw)
    return LevelResult(**fields)  # type: ignore[arg-type]


@pytest.fixture
def sweep() -> LoadResults:
    levels = (
        level("sse", 50, 11.0),
        level("ws", 50, 31.0),
        level("sse", 200, 40.0, incomplete=8, violations={"Q2": 8}, examples=("Q2: full_text is not ...",)),
        level("ws", 200, 90.0, server=None),
    )
    gate = GateOutcome(breaches=(Breach("sse", 200, "max_violations", 8, 0, "default", "rules Q2 x8"),))
    config = {"levels": [50, 200], "duration_s": 10.0, "processes": 1, "prefer": "tokens=12", "stage": "rewrite"}
    return LoadResults("2026-01-01T00:00:00+00:00", "http://t", "embedded-mock", config, Slo(), levels, gate=gate)


def test_html_is_self_contained_with_a_chart_per_metric(sweep: LoadResults) -> None:
    html = render_html(sweep)
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    titles = re.findall(r'aria-label="([^"]+)"', html)
    for wanted in ("Time to first token", "Inter-token latency", "Time per output token", "End-to-end",
                   "Throughput: tokens/s", "Errors and violations", "Server CPU per stream"):  # fmt: skip
        assert any(title.startswith(wanted) for title in titles), wanted
    # SSE and WebSocket at p50/p95/p99 in the TTFT chart's legend.
    assert all(f"{mode} {p}" in html for mode in ("SSE", "WS") for p in ("p50", "p95", "p99"))
    assert "FAILED (1 breach)" in html and "sse @ 200 users: max_violations" in html
    assert "Q2: full_text is not ..." in html
    assert "vLLM" in html


def test_comparison_table_is_filled_with_measured_values(sweep: LoadResults) -> None:
    rows = {row.prop: row for row in comparison_rows(sweep)}
    assert "TTFT p50 11.0 ms" in rows["real-time"].sse and "TTFT p50 31.0 ms" in rows["real-time"].ws
    assert rows["concurrency"].sse.startswith("held up to 50 users")
    assert rows["concurrency"].ws.startswith("held up to 200 users")
    assert "5.00 ms CPU/stream" in rows["server load"].sse  # 2 CPU-s over 400 streams
    assert rows["server load"].measured and not rows["reconnection"].measured
    assert rows["reconnection"].sse == "not measured (run with --probes reconnect)"
    assert "held 0." in rows["connection"].sse and "WebSocket" in rows["connection"].ws
    # The recommendation only says which mode came out ahead on figures both measured.
    assert rows["recommended for"].sse.startswith("ahead on TTFT p95 at 200 users (80 against 180 ms)")
    assert rows["recommended for"].ws.startswith("ahead on error rate at 200 users")


def test_probe_rows_say_what_measured_them(sweep: LoadResults) -> None:
    probes = (
        ReconnectResult("sse", streams=6, dropped=6, recovered=6, tokens_seen_twice=24, text_matches=6,
                        starts=12, starts_per_answer=2.0),
        ReconnectResult("ws", streams=6, dropped=6, recovered=6, text_matches=6, starts=6, starts_per_answer=1.0),
    )  # fmt: skip
    measured = dataclasses.replace(sweep, reconnection=probes, command="stagecheck load --users 50,200")
    rows = {row.prop: row for row in comparison_rows(measured)}
    assert rows["reconnection"].measured and "24 tokens twice" in rows["reconnection"].sse
    assert rows["reconnection"].how == "stagecheck load --users 50,200: the reconnect probe"
    assert rows["real-time"].how == "stagecheck load --users 50,200: the sweep's levels"
    assert "server starts per reconnected answer (1 against 2)" in rows["recommended for"].ws
    assert "measured by" in render_markdown(measured) and "the reconnect probe" in render_html(measured)
    assert not rows["browsers"].measured and rows["browsers"].ws == "not measured (run with --probes browser)"
    assert not rows["heartbeat"].measured and rows["heartbeat"].sse == "not measured (run with --probes heartbeat)"
    beats = (HeartbeatResult("ws", window_s=6.0, heartbeats=3, interval_s_p50=2.0, interval_s_max=2.1),)
    rows = {row.prop: row for row in comparison_rows(dataclasses.replace(measured, heartbeat=beats))}
    assert rows["heartbeat"].measured and rows["heartbeat"].how.endswith("the heartbeat probe")
    assert rows["heartbeat"].sse == "not measured (mode not run)"
    seen = BrowserResult(version="156.0.8078.114", modes=(BrowserModeResult("sse", streams_asked=3, streams_held=3),))
    rows = {row.prop: row for row in comparison_rows(dataclasses.replace(measured, browser=seen))}
    assert rows["browsers"].measured and rows["browsers"].sse.startswith("Chromium 156.0.8078.114 (headless)")
    assert rows["browsers"].ws == "not measured (mode not run in the browser)"
    again = dataclasses.replace(measured, browser=seen)
    assert LoadResults.from_json(json.loads(json.dumps(again.to_json()))) == again


def test_markdown_summary(sweep: LoadResults) -> None:
    text = render_markdown(sweep)
    assert text.startswith("# stagecheck load") and "**Gate: FAILED (1 breach)**" in text
    assert "| SSE | 200 | 400 |" in text and "Q2×8" in text
    assert "held up to 200 users" in text


def test_writer_writes_three_files_and_json_reads_back(sweep: LoadResults, tmp_path: Path) -> None:
    paths = write_load_reports(sweep, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["index.html", "results.json", "summary.md"]
    again = LoadResults.from_json(json.loads(paths["results"].read_text(encoding="utf-8")))
    assert again == sweep


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0.7, 1.0, 3.1, 24, 251, 0)] == [1.0, 1.0, 5.0, 25.0, 500.0, 1.0]


def test_a_missing_point_breaks_the_line_and_empty_charts_say_so() -> None:
    svg = line_chart("t", ["1", "2", "3", "4"], [Series("a", [1.0, None, 3.0, 4.0], "#000")], "ms")
    assert svg.count("<polyline") == 1 and svg.count("<circle") == 3  # [1] alone, then 3-4 joined
    assert "no data" in line_chart("t", ["1"], [Series("a", [None], "#000")], "ms")


def test_the_capacity_chart_marks_each_knee_on_a_log_axis() -> None:
    from stagecheck.reports.svg_plots import Marker, XYSeries, xy_chart

    svg = xy_chart(
        "capacity",
        [XYSeries("SSE TTFT p95", [(50, 10.0), (100, 20.0), (200, 900.0)], "#000", hollow=[False, False, True])],
        "ms",
        markers=[Marker(100, "SSE knee 100", "#000")],
    )
    assert svg.count('class="knee"') == 1 and "SSE knee 100" in svg
    assert svg.count("<circle") == 3 and svg.count('fill="#fff"') == 1  # the level that did not hold: a ring
    assert ">100<" in svg and ">50<" in svg and ">200<" in svg  # 1-2-5 ticks between the levels tried


def test_a_probe_row_whose_every_mode_did_not_run_is_not_measured(sweep: LoadResults) -> None:
    down = tuple(ReconnectResult(mode, not_run="cannot connect") for mode in ("sse", "ws"))
    rows = {row.prop: row for row in comparison_rows(dataclasses.replace(sweep, reconnection=down))}
    assert rows["reconnection"].sse == "not run: cannot connect" and not rows["reconnection"].measured
    one = (ReconnectResult("sse", not_run="cannot connect"), ReconnectResult("ws", streams=6, dropped=6, recovered=6))
    assert {r.prop: r for r in comparison_rows(dataclasses.replace(sweep, reconnection=one))}["reconnection"].measured
