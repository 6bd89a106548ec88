"""The load gate: default gate, TOML limits per mode and level, baseline regressions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from stagecheck.errors import ConfigError
from stagecheck.load.gate import judge, load_gate
from stagecheck.reports.load_html import render_html
from stagecheck.reports.load_markdown import render_markdown
from stagecheck.results.browser_results import BrowserModeResult, BrowserResult
from stagecheck.results.heartbeat_results import HeartbeatResult
from stagecheck.results.load_results import Distribution, LevelResult, LoadResults, Slo
from stagecheck.results.reconnect_results import ReconnectResult


def level(mode: str = "sse", users: int = 10, ttft_p95_ms: float = 50.0, itl_p95_ms: float = 20.0, **kw) -> LevelResult:
    fields = dict(
        mode=mode, users=users, processes=1, window_s=10.0, ramp_s=1.0, streams=100, completed=100, failed=0,
        incomplete=0, task_errors=0, tokens=1000, events=1100, good=100,
        ttft=Distribution(count=100, p50_us=int(ttft_p95_ms * 800), p95_us=int(ttft_p95_ms * 1000)),
        itl=Distribution(count=900, p50_us=int(itl_p95_ms * 900), p95_us=int(itl_p95_ms * 1000)),
    )  # fmt: skip
    fields.update(kw)
    return LevelResult(**fields)  # type: ignore[arg-type]


def results(*levels: LevelResult) -> LoadResults:
    return LoadResults("2026-01-01T00:00:00+00:00", "http://t", "external", {}, Slo(), tuple(levels))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_gate_fails_violations_and_failed_or_incomplete_streams() -> None:
    clean = level()
    assert judge(results(clean)).passed
    broken = judge(results(level(violations={"Q2": 3}), level(users=20, incomplete=2), level(users=30, failed=1)))
    assert [(b.users, b.metric, b.source) for b in broken.breaches] == [
        (10, "max_violations", "default"),
        (20, "max_error_rate", "default"),
        (30, "max_error_rate", "default"),
    ]
    assert "Q2 x3" in broken.breaches[0].detail


def test_most_specific_table_wins_key_by_key(tmp_path: Path) -> None:
    gate = load_gate(
        write(
            tmp_path,
            "[limits]\nmax_ttft_p95_ms = 100\nmax_error_rate = 0.05\n"
            "[limits.ws]\nmax_ttft_p95_ms = 60\n"
            "[limits.ws.1000]\nmax_ttft_p95_ms = 300\nmin_goodput = 0.99\n",
        )
    )
    sweep = results(
        level("sse", 10, ttft_p95_ms=80),  # under the 100 of [limits]
        level("ws", 10, ttft_p95_ms=80),  # over the 60 of [limits.ws]
        level("ws", 1000, ttft_p95_ms=250, good=90, incomplete=3),  # under 300; goodput 90%; 3% errors allowed
    )
    breaches = judge(sweep, gate).breaches
    assert [(b.mode, b.users, b.metric, b.source) for b in breaches] == [
        ("ws", 10, "max_ttft_p95_ms", "gate"),
        ("ws", 1000, "min_goodput", "gate"),
    ]
    assert breaches[0].value == pytest.approx(80.0) and breaches[0].limit == 60.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[limits]\nmax_ttft_p42_ms = 1\n", "not a limit"),
        ("[limits]\nmax_ttft_p95_ms = 'fast'\n", "must be a number"),
        ("[limits.sse.many]\nmax_violations = 0\n", "user count"),
        ("[limitz]\n", "unknown table"),
        ("[baseline]\nttft_p95_ms = 'a lot'\n", "20%"),
        ("not toml = = 1", "not valid TOML"),
    ],
)
def test_gate_file_mistakes_are_config_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_gate(write(tmp_path, text))


def test_missing_gate_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_gate("/nonexistent/gate.toml")


def test_baseline_allows_the_configured_regression(tmp_path: Path) -> None:
    gate = load_gate(write(tmp_path, '[baseline]\nttft_p95_ms = "20%+2"\nstreams_per_s = "10%"\n'))
    base = results(level("sse", 10, ttft_p95_ms=50), level("ws", 10, ttft_p95_ms=50))
    now = results(
        level("sse", 10, ttft_p95_ms=61.9),  # 50 * 1.2 + 2 = 62: allowed
        level("ws", 10, ttft_p95_ms=62.5, streams=80),  # slower and 20% fewer streams/s
    )
    breaches = judge(now, gate, base, "old.json")
    assert [(b.mode, b.metric, b.source) for b in breaches.breaches] == [
        ("ws", "streams_per_s", "baseline"),
        ("ws", "ttft_p95_ms", "baseline"),
    ]
    assert breaches.baseline_file == "old.json"
    # Levels the baseline did not run are not compared.
    assert judge(results(level("sse", 999, ttft_p95_ms=500)), gate, base).passed


def test_results_json_round_trip() -> None:
    original = results(level(violations={"Q2": 1}, failures={"status 503": 2}, examples=("Q2: x",)))
    outcome = judge(original)
    original = original.with_gate(outcome)
    data = original.to_json()
    assert data["schema_version"] == 1 and data["levels"][0]["derived"]["error_rate"] == 0.0
    again = LoadResults.from_json(data)
    assert again == original
    with pytest.raises(ValueError, match="schema version"):
        LoadResults.from_json({**data, "schema_version": 99})


def test_a_failed_probe_is_a_breach_and_one_not_run_is_not() -> None:
    lost = ReconnectResult("ws", streams=6, dropped=6, recovered=6, tokens_never_seen=9, violations={"W5": 6})
    not_run = ReconnectResult("sse", not_run="streams have 1 token: nothing to drop mid-way")
    held = ReconnectResult("sse", streams=6, dropped=6, recovered=6, text_matches=6, starts_per_answer=2.0)
    outcome = judge(dataclasses.replace(results(level()), reconnection=(lost, not_run)))
    assert [(b.mode, b.metric) for b in outcome.breaches] == [("ws", "reconnect")]
    assert (
        str(outcome.breaches[0])
        == "ws reconnect probe failed (default: 6/6 recovered, 9 tokens never seen; rules W5×6)"
    )
    assert judge(dataclasses.replace(results(level()), reconnection=(held,))).passed


def test_a_browser_mode_that_did_not_hold_is_a_breach_and_a_browser_not_run_is_not() -> None:
    broken = BrowserModeResult("sse", streams_asked=3, streams_run=3, streams_held=1, violations={"S1": 2})
    fine = BrowserModeResult("ws", streams_asked=3, streams_run=3, streams_held=3)
    seen = BrowserResult(version="156.0", modes=(broken, fine))
    outcome = judge(dataclasses.replace(results(level()), browser=seen))
    assert [(b.mode, b.metric) for b in outcome.breaches] == [("sse", "browser")]
    assert "1/3 held; rules S1×2" in outcome.breaches[0].detail
    absent = BrowserResult(not_run="no Chromium at /usr/bin/chromium")
    assert judge(dataclasses.replace(results(level()), browser=absent)).passed


def lagging(**kw) -> LevelResult:
    """A level whose load client kept only half its users streaming (2 s streams, 100 users, 25/s)."""
    return level(users=100, streams=250, e2e=Distribution(count=250, mean_us=2_000_000.0), **kw)


def test_clock_rules_are_not_judged_where_the_load_client_lagged() -> None:
    outcome = judge(results(lagging(violations={"S4": 30})))
    assert outcome.passed
    assert outcome.notes == (
        "sse @ 100 users: S4×30 not judged: the load client kept only 50% of its users streaming, so its "
        "clock, not the target, may be late (give it more --processes)",
    )
    # Other rules are judged all the same, and a client that kept up is judged on every rule.
    assert not judge(results(lagging(violations={"S4": 30, "Q2": 1}))).passed
    assert not judge(results(level(violations={"S4": 1}))).passed


def test_notes_are_kept_in_results_json_and_shown() -> None:
    measured = results(lagging(violations={"Q6": 2}))
    measured = measured.with_gate(judge(measured))
    again = LoadResults.from_json(json.loads(json.dumps(measured.to_json())))
    assert again == measured and again.gate is not None and "Q6×2 not judged" in again.gate.notes[0]
    assert "Seen but not judged" in render_markdown(measured) and "Q6×2 not judged" in render_html(measured)


def test_a_heartbeat_probe_that_broke_a_rule_is_a_breach_and_no_heartbeat_is_not() -> None:
    late_pong = HeartbeatResult("ws", window_s=6.0, pings=4, pongs=4, violations={"W3": 2})
    quiet = HeartbeatResult("sse", window_s=6.0)  # heartbeats are optional: none is no failure
    outcome = judge(dataclasses.replace(results(level()), heartbeat=(late_pong, quiet)))
    assert [(b.mode, b.metric, b.detail) for b in outcome.breaches] == [("ws", "heartbeat", "rules W3×2")]
