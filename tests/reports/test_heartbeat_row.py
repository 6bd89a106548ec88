"""The comparison table's "heartbeat" cell, from a HeartbeatResult."""

from __future__ import annotations

from stagecheck.reports.heartbeat_row import heartbeat_text
from stagecheck.results.heartbeat_results import HeartbeatResult


def test_websocket_with_heartbeats() -> None:
    result = HeartbeatResult(
        mode="ws",
        window_s=12.0,
        heartbeats=2,
        interval_s_p50=5.0,
        interval_s_max=5.1,
        pings=3,
        pongs=3,
        ping_period_s=3.0,
        pong_rtt_ms_p50=2.0,
        pong_rtt_ms_max=3.0,
        notice_silent_s=6.375,
        notice_basis="heartbeat",
    )
    assert heartbeat_text(result) == (
        "heartbeat every 5.0 s (max 5.1 s, 2 in 12 s); pong in 2.0 ms p50 (max 3.0 ms); "
        "a silent server is noticed in about 6.4 s"
    )


def test_websocket_without_heartbeats_relies_on_pings() -> None:
    result = HeartbeatResult(
        mode="ws",
        window_s=6.0,
        pings=3,
        pongs=3,
        ping_period_s=1.5,
        pong_rtt_ms_p50=0.4,
        pong_rtt_ms_max=12.0,
        notice_silent_s=1.89,
        notice_basis="ping",
    )
    assert heartbeat_text(result) == (
        "no heartbeat in 6 s; pong in 0.4 ms p50 (max 12 ms); a silent server is noticed in about 1.9 s "
        "by pinging every 1.5 s"
    )


def test_websocket_with_unanswered_pings_and_broken_rules() -> None:
    result = HeartbeatResult(mode="ws", window_s=6.0, pings=3, violations={"W3": 3})
    assert heartbeat_text(result) == (
        "no heartbeat in 6 s; no pong to 3 pings; a silent server cannot be told from a quiet one; rules broken: W3 x3"
    )


def test_sse_with_keep_alives_over_a_long_wait() -> None:
    result = HeartbeatResult(
        mode="sse",
        window_s=6.0,
        heartbeats=5,
        comments=5,
        interval_s_p50=0.5,
        interval_s_max=0.52,
        longest_silence_s=0.52,
        long_wait_s=3.0,
        notice_silent_s=0.77,
        notice_basis="keep-alive",
    )
    assert heartbeat_text(result) == (
        "keep-alive comment every 0.50 s (max 0.52 s, 5 seen); watched over a 3.0 s first-token wait; "
        "longest silence 0.52 s; a silent server is noticed in about 0.77 s"
    )


def test_sse_without_keep_alives_says_only_the_client_bound_notices() -> None:
    result = HeartbeatResult(
        mode="sse",
        window_s=6.0,
        comments=1,
        longest_silence_s=0.02,
        long_wait_skipped="the target did not confirm first-delay-ms=3000",
        notice_silent_s=10.0,
        notice_basis="client-idle-bound",
    )
    assert heartbeat_text(result) == (
        "no keep-alive comment; no long first wait observed (the target did not confirm first-delay-ms); "
        "longest silence 0.02 s; a silent server is noticed in about 10.0 s "
        "(the client's own idle bound: no signal from the server)"
    )


def test_not_run_says_why() -> None:
    result = HeartbeatResult(mode="ws", not_run="cannot connect to ws://x: connection refused")
    assert heartbeat_text(result) == "not run: cannot connect to ws://x: connection refused"
