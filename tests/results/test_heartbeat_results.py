"""HeartbeatResult: its verdict and its JSON form (round trip, and what a reader refuses)."""

from __future__ import annotations

import json

import pytest

from stagecheck.results.heartbeat_results import HeartbeatResult
from stagecheck.results.load_results import ResultsFormatError

WS = HeartbeatResult(
    mode="ws",
    window_s=6.0,
    heartbeats=2,
    interval_s_p50=5.0,
    interval_s_max=5.1,
    pings=3,
    pongs=3,
    ping_period_s=1.5,
    pong_rtt_ms_p50=2.0,
    pong_rtt_ms_max=3.5,
    longest_silence_s=5.1,
    notice_silent_s=6.375,
    notice_basis="heartbeat",
    notice_how="derived: the longest heartbeat interval seen (5.10 s) plus 25%",
    violations={"M1": 2},
    examples=("M1: heartbeat message does not match its schema",),
    elapsed_s=6.2,
)


def test_the_json_form_round_trips_through_text() -> None:
    data = json.loads(json.dumps(WS.to_json()))
    assert data["verdict"] == "failed" and data["examples"] == list(WS.examples)
    assert HeartbeatResult.from_json(data) == WS


def test_verdicts() -> None:
    assert WS.verdict == "failed" and WS.seen
    quiet = HeartbeatResult(mode="sse", notice_basis="client-idle-bound", notice_silent_s=10.0)
    assert quiet.verdict == "passed" and not quiet.seen  # no heartbeat is allowed (they are optional)
    assert HeartbeatResult(mode="ws", not_run="cannot connect").verdict == "not-run"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "http"}, "mode"),
        ({"notice_basis": "magic"}, "notice_basis"),
        ({"surprise": 1}, "unknown fields surprise"),
        ({"violations": {"M1": "many"}}, "heartbeat result"),
    ],
)
def test_a_reader_refuses_what_it_cannot_read(change: dict[str, object], message: str) -> None:
    with pytest.raises(ResultsFormatError, match=message):
        HeartbeatResult.from_json({**WS.to_json(), **change})


def test_a_reader_refuses_a_non_object() -> None:
    with pytest.raises(ResultsFormatError, match="JSON object"):
        HeartbeatResult.from_json([])  # type: ignore[arg-type]
