"""What the gate decides from measured timings, without a server: S5's witness, late joins, T3 polls."""

from __future__ import annotations

import pytest

from stagecheck.contracts.events import ResponseHead
from stagecheck.suites.agreement import POLL_MAX_S, POLL_MIN_S, poll_interval
from stagecheck.suites.context import TaskTiming, applied_preferences, confirms
from stagecheck.suites.sse_checks import FLUSH_MIN_TOKENS, Arrivals, judge_flushing
from stagecheck.suites.ws_checks import late_join_delay


def paced(count: int, gap_s: float, start: float = 0.0, burst: bool = False) -> Arrivals:
    """`count` tokens `gap_s` apart (or all at the end, when `burst`), then the terminal event."""
    end = start + count * gap_s
    if burst:
        return Arrivals(tuple(end for _ in range(count)), end)
    return Arrivals(tuple(start + n * gap_s for n in range(count)), end)


def test_s5_flushed_sse_spread_like_its_witness_passes() -> None:
    verdict = judge_flushing(paced(12, 0.010), paced(12, 0.010, start=1.0))
    assert verdict.violation is None and verdict.skip is None


def test_s5_sse_in_one_burst_while_the_witness_is_paced_is_a_violation() -> None:
    verdict = judge_flushing(paced(12, 0.010, burst=True), paced(12, 0.010, start=1.0))
    assert verdict.violation is not None and verdict.violation.rule == "S5"
    assert "12 tokens" in verdict.violation.received and "buffered" in verdict.violation.message


def test_s5_both_bursting_means_the_producer_does_not_pace() -> None:
    verdict = judge_flushing(paced(12, 0.0001, burst=True), paced(12, 0.0001))
    assert verdict.violation is None
    assert verdict.skip is not None and verdict.skip.startswith("the target does not pace its tokens")


def test_s5_a_stream_too_short_is_not_judged() -> None:
    verdict = judge_flushing(paced(FLUSH_MIN_TOKENS - 1, 0.1, burst=True), paced(12, 0.1))
    assert verdict.violation is None and verdict.skip is not None and verdict.skip.startswith("too short to judge")


def test_s5_a_spread_sse_passes_even_when_the_witness_bursts() -> None:
    assert judge_flushing(paced(12, 0.010), paced(12, 0.0001)).violation is None


def test_preference_applied_confirms_only_what_it_names() -> None:
    head = ResponseHead(0.0, 200, (("preference-applied", "tokens=6, delay-ms=80"),))
    assert applied_preferences(head) == {"tokens=6", "delay-ms=80"}
    assert confirms(head, tokens=6, delay_ms=80)
    assert not confirms(head, tokens=6, delay_ms=40)
    assert not confirms(ResponseHead(0.0, 200, ()), tokens=6)
    assert confirms({"Preference-Applied": 'scenario="fail-start"'}, scenario="fail-start")


def timing(duration_ms: float, tokens: int = 12, first_ms: float = 10, connect_ms: float = 2) -> TaskTiming:
    last = duration_ms - 1
    return TaskTiming(tokens, first_ms / 1000, last / 1000, duration_ms / 1000, connect_ms / 1000)


def test_a_late_join_aims_at_the_middle_of_the_measured_task() -> None:
    delay, why = late_join_delay(timing(120))
    assert why == "" and delay == pytest.approx((10 + 55 - 2) / 1000)


def test_a_task_too_short_to_join_late_is_not_run_with_the_measured_reason() -> None:
    delay, why = late_join_delay(timing(12, tokens=3, first_ms=8))
    assert delay is None
    assert why.startswith("the target's tasks last 12 ms") and "too short to join late" in why
    assert late_join_delay(None)[0] is None


def test_status_polls_follow_the_measured_task_length() -> None:
    assert poll_interval(timing(120)) == pytest.approx(0.030)
    assert poll_interval(timing(2)) == POLL_MIN_S
    assert poll_interval(timing(10_000)) == POLL_MAX_S
