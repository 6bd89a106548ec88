"""Load runs catch what only load shows: toy servers that break beyond N concurrent streams.

Each server is fine at the low level and faulty at the high one, so the same gate passes
the first and fails the second: the fault is visible only under load.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stagecheck.load.gate import judge, load_gate
from stagecheck.load.sweep import run_sweep


@pytest.mark.slow
def test_events_dropped_under_concurrency_break_q2_and_fail_the_default_gate(toy_server, sweep_config) -> None:
    server = toy_server("--fault", "drop", "--limit", "3")
    results = run_sweep(sweep_config(server.base_url, levels=(2, 8), duration_s=2.0))
    low = [level for level in results.levels if level.users == 2]
    high = [level for level in results.levels if level.users == 8]
    assert all(level.streams > 0 and not level.violations for level in low)
    assert all(level.violations.get("Q2", 0) > 0 for level in high)
    outcome = judge(results)
    assert not outcome.passed
    breached = {(b.mode, b.users, b.metric) for b in outcome.breaches}
    assert ("sse", 8, "max_violations") in breached and ("ws", 8, "max_violations") in breached
    assert not any(users == 2 for _mode, users, _metric in breached)


@pytest.mark.slow
def test_streams_refused_beyond_a_limit_are_errors(toy_server, sweep_config) -> None:
    server = toy_server("--fault", "refuse", "--limit", "4")
    results = run_sweep(sweep_config(server.base_url, levels=(3, 10), duration_s=2.0))
    for level in results.levels:
        if level.users == 3:
            assert level.streams > 0 and level.error_rate == 0
        else:
            assert level.error_rate > 0
    sse_high = results.level("sse", 10)
    ws_high = results.level("ws", 10)
    assert sse_high is not None and ws_high is not None
    assert sse_high.failures.get("status 503", 0) > 0  # SSE: refused with a status
    assert ws_high.incomplete > 0  # WebSocket: closed (1013) before the terminal event
    breaches = judge(results).breaches
    assert {(b.mode, b.users) for b in breaches if b.metric == "max_error_rate"} == {("sse", 10), ("ws", 10)}


@pytest.mark.slow
def test_slowdown_under_concurrency_breaches_an_itl_limit(toy_server, sweep_config, tmp_path: Path) -> None:
    # 20 ms between tokens; beyond 3 streams every gap grows by 15 ms per extra stream.
    server = toy_server("--fault", "slow", "--limit", "3", "--slow-ms", "15")
    config = sweep_config(server.base_url, levels=(2, 8), modes=("sse",), prefer="tokens=8, delay-ms=20")
    results = run_sweep(config)
    gate_file = tmp_path / "gate.toml"
    gate_file.write_text("[limits.sse]\nmax_itl_p95_ms = 40\n", encoding="utf-8")
    outcome = judge(results, load_gate(gate_file))
    assert [(b.users, b.metric, b.source) for b in outcome.breaches] == [(8, "max_itl_p95_ms", "gate")]
    low = results.level("sse", 2)
    assert low is not None and low.itl.percentile_ms(95.0) is not None
