"""ReconnectResult: its JSON form round-trips, bad JSON is refused by name, the verdict says what failed."""

from __future__ import annotations

import dataclasses
import json

import pytest

from stagecheck.results.load_results import ResultsFormatError
from stagecheck.results.reconnect_results import ReconnectResult

CLEAN_WS = ReconnectResult(
    mode="ws",
    streams=6,
    dropped=6,
    recovered=6,
    drop_after_tokens=4,
    reference_tokens=12,
    outage_ms=40.0,
    recover_ms_p50=2.1,
    recover_ms_max=3.3,
    text_matches=6,
    final_text_matches=6,
    starts=6,
    starts_per_answer=1.0,
    elapsed_s=0.5,
)


def test_json_round_trips_through_text() -> None:
    result = dataclasses.replace(
        CLEAN_WS, violations={"W5": 2}, warnings={"S6": 1}, examples=("stream 1: W5 ...",), cpu_ms_per_answer=1.5
    )
    data = json.loads(json.dumps(result.to_json()))
    assert data["verdict"] == "failed"
    assert ReconnectResult.from_json(data) == result


def test_verdicts() -> None:
    assert CLEAN_WS.verdict == "passed"
    assert dataclasses.replace(CLEAN_WS, tokens_seen_twice=24).verdict == "passed"  # SSE's cost, not a fault
    assert dataclasses.replace(CLEAN_WS, tokens_never_seen=1).verdict == "failed"
    assert dataclasses.replace(CLEAN_WS, recovered=5).verdict == "failed"
    assert dataclasses.replace(CLEAN_WS, violations={"Q2": 1}).verdict == "failed"
    # Another text than the unbroken run's is a figure (an LLM target), not a failure.
    assert dataclasses.replace(CLEAN_WS, text_matches=0, final_text_matches=0).verdict == "passed"
    assert ReconnectResult(mode="sse", not_run="the target is down").verdict == "not-run"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"mode": "http"}, "mode 'http'"),
        ({"recovered_ms": 3}, "unknown fields recovered_ms"),
    ],
)
def test_bad_json_is_refused_by_name(change: dict[str, object], words: str) -> None:
    data = {**CLEAN_WS.to_json(), **change}
    with pytest.raises(ResultsFormatError, match=words):
        ReconnectResult.from_json(data)


def test_json_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ResultsFormatError, match="JSON object"):
        ReconnectResult.from_json([])  # type: ignore[arg-type]
