"""Per-stream figures (vLLM's definitions) and the HDR recorder that pools and ships them."""

from __future__ import annotations

import pytest

from stagecheck.load.metrics import LevelRecorder, StreamOutcome, level_result_from_wire
from stagecheck.results.load_results import Slo


def outcome(start: float = 100.0, first: float = 0.050, gap: float = 0.020, tokens: int = 5, **kw) -> StreamOutcome:
    times = [start + first + i * gap for i in range(tokens)]
    fields = {"terminal": "done", "terminal_at": (times[-1] if times else start) + 0.001, **kw}
    return StreamOutcome(started_at=start, token_times=times, events=tokens + 1, **fields)


def test_stream_figures_follow_vllm_definitions() -> None:
    o = outcome()
    assert o.ttft_s == pytest.approx(0.050)
    assert o.gaps_s == pytest.approx([0.020] * 4)  # every raw gap; TTFT is not one of them
    assert o.e2e_s == pytest.approx(0.050 + 4 * 0.020 + 0.001)
    assert o.tpot_s == pytest.approx((o.e2e_s - o.ttft_s) / 4)
    assert outcome(tokens=1).tpot_s is None


def test_goodput_needs_done_no_rule_broken_and_every_slo() -> None:
    slo = Slo(ttft_ms=60, tpot_ms=30, e2e_ms=None)
    assert outcome().meets(slo)
    assert not outcome(first=0.070).meets(slo)
    assert not outcome(violations=("Q2",)).meets(slo)
    assert not outcome(terminal="error").meets(slo)


def recorder_with_window(start: float = 0.0) -> LevelRecorder:
    recorder = LevelRecorder(Slo())
    recorder.window_start = start
    return recorder


def test_streams_that_started_during_the_ramp_are_not_pooled() -> None:
    recorder = recorder_with_window(start=100.5)
    assert not recorder.record(outcome(start=100.0))
    assert recorder.record(outcome(start=101.0))
    assert recorder.counters["warmup"] == 1 and recorder.counters["streams"] == 1


def test_outcomes_are_classified_once_each() -> None:
    recorder = recorder_with_window()
    recorder.record(outcome())
    recorder.record(StreamOutcome(started_at=1.0, failure="status 503"))  # never got going
    recorder.record(outcome(terminal=None, terminal_at=None, failure="connection reset by the server"))
    recorder.record(outcome(terminal="error"))
    recorder.record(outcome(violations=("Q2", "S4"), message="Q2: ..."))
    c = recorder.counters
    assert (c["streams"], c["completed"], c["failed"], c["incomplete"], c["task_errors"]) == (5, 3, 1, 1, 1)
    assert dict(recorder.violations) == {"Q2": 1, "S4": 1}
    assert recorder.failures["status 503"] == 1 and recorder.examples == ["Q2: ..."]


def test_microsecond_resolution_survives_pooling() -> None:
    recorder = recorder_with_window()
    for _ in range(100):
        recorder.record(outcome(first=0.0503, gap=0.0201))
    level = level_result_from_wire(recorder.to_wire(), mode="sse", users=1, processes=1, window_s=1.0, ramp_s=0.0)
    # Locust would say 50 ms and 20 ms; 3 significant digits keep 50.3 and 20.1.
    assert level.ttft.percentile_ms(50.0) == pytest.approx(50.3, abs=0.06)
    assert level.itl.percentile_ms(50.0) == pytest.approx(20.1, abs=0.03)
    assert level.itl.count == 400


def test_workers_shipped_deltas_merge_to_the_single_process_figures() -> None:
    single, master = recorder_with_window(), recorder_with_window()
    workers = [recorder_with_window(), recorder_with_window()]
    samples = [outcome(first=0.010 * (i + 1), gap=0.001 * (i + 3)) for i in range(12)]
    for i, sample in enumerate(samples):
        single.record(sample)
        workers[i % 2].record(sample)
        if i % 5 == 4:  # a periodic report: each worker ships what is new, then forgets it
            for worker in workers:
                master.merge_wire(worker.take_wire())
    for worker in workers:
        master.merge_wire(worker.take_wire())
    merged = level_result_from_wire(master.to_wire(), mode="ws", users=2, processes=2, window_s=1.0, ramp_s=0.0)
    alone = level_result_from_wire(single.to_wire(), mode="ws", users=2, processes=1, window_s=1.0, ramp_s=0.0)
    assert merged.streams == alone.streams == 12
    for name in ("ttft", "itl", "tpot", "e2e"):
        a, b = getattr(merged, name), getattr(alone, name)
        assert (a.count, a.p50_us, a.p99_us, a.max_us) == (b.count, b.p50_us, b.p99_us, b.max_us)


def test_no_gap_ends_at_a_snapshot_token() -> None:
    o = outcome(tokens=5)
    o.snapshot_index = 2  # a snapshot mid-stream: the wait before it is a join, not a gap
    assert o.gaps_s == pytest.approx([0.020] * 3)
    o.snapshot_index = 0  # the usual late join: the snapshot is the first token
    assert o.gaps_s == pytest.approx([0.020] * 4)


def test_late_joins_count_text_but_not_full_stream_tokens() -> None:
    recorder = recorder_with_window()
    recorder.record(outcome(tokens=6, text_chars=30))  # saw every token
    recorder.record(outcome(tokens=3, text_chars=30, late_join=True, snapshot_index=0))  # joined late
    level = level_result_from_wire(recorder.to_wire(), mode="ws", users=2, processes=1, window_s=2.0, ramp_s=0.0)
    assert (level.chars, level.full_streams, level.full_stream_tokens, level.late_joins) == (60, 1, 6, 1)
    assert level.chars_per_s == 30.0 and level.full_tokens_per_s == 3.0 and level.tokens_per_s == 4.5
    assert level.late_join_share == 0.5


def _ws_stream(contents: list[str], done_text: str | None = None) -> StreamOutcome:
    """Feed one WebSocket subscription (connected, tokens, done) through the follower."""
    import json

    from stagecheck.contracts.events import StreamClosed, WsMessage, WsOpened
    from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
    from stagecheck.load.stream_runs import _Follower

    expect = Expectation(transport="ws", task_ids=frozenset({"t"}), project_id=1, stage_name="rewrite",
                         task_filter="t", late_join=True)  # fmt: skip
    follower = _Follower(StreamValidator(expect, Bounds()), StreamOutcome(started_at=0.0), late_join_possible=True)
    follower.feed(WsOpened(at=0.01))
    follower.feed(WsMessage(at=0.02, text=json.dumps({"type": "connected", "project_id": 1, "stage_name": "rewrite"})))
    text = ""
    for i, content in enumerate(contents):
        text += content
        message = {"type": "token", "content": content, "full_text": text, "task_id": "t"}
        follower.feed(WsMessage(at=0.03 + 0.01 * i, text=json.dumps(message)))
    done = {"type": "done", "full_text": text if done_text is None else done_text, "task_id": "t"}
    follower.feed(WsMessage(at=0.2, text=json.dumps(done)))
    follower.feed(StreamClosed(at=0.21, code=1000, by_client=True))
    return follower.finish(0.22)


def test_a_snapshot_token_marks_a_late_join() -> None:
    live = _ws_stream(["tok0 ", "tok1 ", "tok2 ", "tok3 "])
    late = _ws_stream(["tok0 tok1 tok2 ", "tok3 ", "tok4 "])
    assert not live.violations and not late.violations
    assert not live.late_join and live.text_chars == 20 and len(live.gaps_s) == 3
    assert late.late_join and late.snapshot_index == 0 and late.text_chars == 25 and len(late.gaps_s) == 2


def test_a_socket_that_opened_after_the_task_ended_counts_done_s_text() -> None:
    ended = _ws_stream([], done_text="tok0 tok1 ")  # connected, then the ended task's terminal: no token
    assert not ended.violations and ended.terminal == "done"
    assert ended.late_join and ended.text_chars == 10 and ended.gaps_s == []
