"""Each stream-level rule: a literal stream that breaks exactly it, and conforming ones.

Every case asserts the rule id it breaks is reported and that no other rule is blamed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest

from stagecheck.contracts.events import (
    RequestSent,
    ResponseHead,
    SseComment,
    SseEvent,
    StreamClosed,
    StreamEvent,
    WsMessage,
    WsOpened,
)
from stagecheck.contracts.rule_catalog import RULES_BY_ID, STREAM_RULES
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from tests.contracts.samples import (
    OTHER_TASK,
    SSE,
    TASK,
    WS,
    connected,
    payloads,
    rules,
    run,
    sse_events,
    sse_stream,
    ws_messages,
    ws_stream,
)

# -- helpers that break one thing ---------------------------------------------------------


def replace_at(events: list[StreamEvent], index: int, **changes: Any) -> list[StreamEvent]:
    out = list(events)
    out[index] = dataclasses.replace(out[index], **changes)  # type: ignore[type-var]
    return out


def edit_payload(events: list[StreamEvent], index: int, edit: Callable[[dict[str, Any]], None]) -> list[StreamEvent]:
    event = events[index]
    if isinstance(event, SseEvent):
        payload = json.loads(event.data)
        edit(payload)
        return replace_at(events, index, data=json.dumps(payload, ensure_ascii=False))
    assert isinstance(event, WsMessage) and event.text is not None
    payload = json.loads(event.text)
    edit(payload)
    return replace_at(events, index, text=json.dumps(payload, ensure_ascii=False))


def head(*pairs: tuple[str, str], status: int = 200) -> ResponseHead:
    return ResponseHead(0.05, status, pairs)


# Index of the first token in sse_stream() (after RequestSent, ResponseHead) and ws_stream()
# (after RequestSent, WsOpened, connected).
SSE_TOKEN = 2
WS_TOKEN = 3


def sse_with_head(*pairs: tuple[str, str], status: int = 200) -> list[StreamEvent]:
    return replace_at(sse_stream(), 1, headers=pairs, status=status)


def without_close(events: list[StreamEvent]) -> list[StreamEvent]:
    return [e for e in events if not isinstance(e, StreamClosed)]


# -- conforming streams -------------------------------------------------------------------


def test_conforming_sse_stream_reports_nothing() -> None:
    assert run(sse_stream(), SSE) == []


def test_conforming_sse_error_stream_reports_nothing() -> None:
    assert run(sse_stream(terminal="error"), SSE) == []


def test_conforming_sse_stream_with_comments_and_no_ids_reports_nothing() -> None:
    events = sse_stream()
    events = [dataclasses.replace(e, id=None) if isinstance(e, SseEvent) else e for e in events]
    events.insert(3, SseComment(0.105, "keep-alive"))
    events.insert(2, SseComment(0.06, "keep-alive"))
    assert run(events, SSE) == []


def test_conforming_ws_stream_reports_nothing() -> None:
    assert run(ws_stream(), WS) == []


def test_conforming_ws_stream_with_pong_heartbeat_and_other_task_reports_nothing() -> None:
    events: list[StreamEvent] = [RequestSent(0.0), WsOpened(0.1)]
    mine = payloads(["a", "b"], task_id=TASK)
    other = payloads(["x", "y", "z"], task_id=OTHER_TASK)
    mixed = [connected(), other[0], mine[0], {"type": "pong"}, other[1], {"type": "heartbeat", "ts": 1.5}]
    mixed += [mine[1], other[2], mine[2], other[3]]
    events += ws_messages(mixed)
    events.append(StreamClosed(1.0, 1000, "bye", by_client=True))
    assert run(events, WS) == []


def test_conforming_late_join_snapshot_reports_nothing() -> None:
    # The snapshot holds all text so far, then live tokens continue from it (W5).
    items = [
        connected(),
        {"type": "token", "content": "Hello wor", "full_text": "Hello wor", "task_id": TASK},
        {"type": "token", "content": "ld", "full_text": "Hello world", "task_id": TASK},
        {"type": "done", "full_text": "Hello world", "task_id": TASK},
    ]
    events: list[StreamEvent] = [WsOpened(0.1), *ws_messages(items)]
    assert run(events, dataclasses.replace(WS, late_join=True)) == []


def test_conforming_late_join_after_the_end_reports_nothing() -> None:
    items = [connected(), {"type": "done", "full_text": "Hello world", "task_id": TASK}]
    expect = dataclasses.replace(WS, late_join=True, task_ended=True)
    assert run([WsOpened(0.1), *ws_messages(items)], expect) == []


# -- one broken rule per case -------------------------------------------------------------

BROKEN: dict[str, tuple[str, Callable[[], list[StreamEvent]], Expectation]] = {
    # S1: event field, data JSON, data.type agreement
    "sse-event-name-unknown": ("S1", lambda: replace_at(sse_stream(), SSE_TOKEN, event="progress"), SSE),
    "sse-event-name-missing": ("S1", lambda: replace_at(sse_stream(), SSE_TOKEN + 1, event=None), SSE),
    "sse-data-not-json": ("S1", lambda: replace_at(sse_stream(), SSE_TOKEN + 1, data="{not json"), SSE),
    "sse-type-mismatch": (
        "S1",
        lambda: edit_payload(sse_stream(), SSE_TOKEN, lambda p: p.update(type="done")),
        SSE,
    ),
    # S2: ids count up by one from 1
    "sse-id-skips": ("S2", lambda: replace_at(sse_stream(), SSE_TOKEN + 2, id="4"), SSE),
    "sse-id-not-integer": ("S2", lambda: replace_at(sse_stream(), SSE_TOKEN, id="abc"), SSE),
    "sse-id-starts-at-zero": ("S2", lambda: replace_at(sse_stream(), SSE_TOKEN, id="0"), SSE),
    # S3: a keep-alive sent as an event with empty data
    "sse-keepalive-as-event": (
        "S3",
        lambda: [*sse_stream()[:3], SseEvent(0.105, "", None, None), *sse_stream()[3:]],
        SSE,
    ),
    # S4: no terminal event, or not closed after it
    "sse-no-terminal": (
        "S4",
        lambda: [e for e in sse_stream() if not (isinstance(e, SseEvent) and e.event == "done")],
        SSE,
    ),
    "sse-closed-late": ("S4", lambda: replace_at(sse_stream(), -1, at=5.0), SSE),
    # S6: caching headers
    "sse-no-cache-control": (
        "S6",
        lambda: sse_with_head(("content-type", "text/event-stream"), ("x-accel-buffering", "no")),
        SSE,
    ),
    # M1: schema of a known type
    "sse-token-empty-content": (
        "M1",
        lambda: edit_payload(
            sse_stream(), SSE_TOKEN + 3, lambda p: p.update(content="", full_text=p["full_text"][:-2])
        ),
        SSE,
    ),
    "sse-done-without-full-text": ("M1", lambda: edit_payload(sse_stream(), -2, lambda p: p.pop("full_text")), SSE),
    "sse-error-without-code": (
        "M1",
        lambda: edit_payload(sse_stream(terminal="error"), -2, lambda p: p.pop("code")),
        SSE,
    ),
    # Q1: something after the terminal event
    "sse-token-after-done": (
        "Q1",
        lambda: [
            *sse_stream()[:-1],
            *sse_events([{"type": "token", "content": "x", "full_text": "x"}], start=0.2)[:0],
            SseEvent(0.19, json.dumps({"type": "token", "content": "!", "full_text": "Hello 世界 👋!"}), "token", "6"),
            StreamClosed(0.2),
        ],
        SSE,
    ),
    "sse-two-terminals": (
        "Q1",
        lambda: [
            *sse_stream()[:-1],
            SseEvent(0.19, json.dumps({"type": "error", "error": "late", "code": "x"}), "error", "6"),
            StreamClosed(0.2),
        ],
        SSE,
    ),
    # Q2: accumulation
    "sse-full-text-not-accumulated": (
        "Q2",
        lambda: edit_payload(sse_stream(), SSE_TOKEN + 2, lambda p: p.update(full_text="Hello 世")),
        SSE,
    ),
    "sse-first-token-not-whole": (
        "Q2",
        lambda: edit_payload(sse_stream(), SSE_TOKEN, lambda p: p.update(full_text="xHel")),
        SSE,
    ),
    # Q3: done text differs
    "sse-done-text-differs": ("Q3", lambda: edit_payload(sse_stream(), -2, lambda p: p.update(full_text="Hello")), SSE),
    # Q4: replacement character and split code point
    "sse-replacement-char": (
        "Q4",
        lambda: sse_stream(("Hel", "lo ", "世\ufffd", " 👋")),
        SSE,
    ),
    "sse-lone-surrogate": (
        "Q4",
        lambda: replace_at(
            sse_stream(("a", "b")),
            SSE_TOKEN + 1,
            data='{"type":"token","content":"\\ud83d","full_text":"a\\ud83d"}',
        ),
        SSE,
    ),
    # Q6: first event late, a gap too long
    "sse-first-event-late": (
        "Q6",
        lambda: sse_stream(step=0.01)[:1] + [dataclasses.replace(e, at=e.at + 20) for e in sse_stream()[1:]],
        SSE,
    ),
    "sse-gap-too-long": (
        "Q6",
        lambda: [*sse_stream()[:4], *[dataclasses.replace(e, at=e.at + 15) for e in sse_stream()[4:]]],
        SSE,
    ),
    # WebSocket
    "ws-unknown-type": (
        "M1",
        lambda: [*ws_stream()[:4], WsMessage(0.215, '{"type": "progress", "pct": 5}'), *ws_stream()[4:]],
        WS,
    ),
    "ws-not-json": ("M1", lambda: [*ws_stream()[:4], WsMessage(0.215, "hello"), *ws_stream()[4:]], WS),
    "ws-binary-frame": ("M1", lambda: [*ws_stream()[:4], WsMessage(0.215, None, b"\x00\x01"), *ws_stream()[4:]], WS),
    "ws-token-without-task-id": ("Q5", lambda: edit_payload(ws_stream(), WS_TOKEN + 1, lambda p: p.pop("task_id")), WS),
    "ws-heartbeat-without-ts": (
        "M1",
        lambda: [*ws_stream()[:4], WsMessage(0.215, '{"type": "heartbeat"}'), *ws_stream()[4:]],
        WS,
    ),
    "ws-no-terminal": ("Q1", lambda: ws_stream()[:-1], WS),
    "ws-token-after-done": (
        "Q1",
        lambda: [
            *ws_stream(),
            WsMessage(
                0.5, json.dumps({"type": "token", "content": "!", "full_text": "Hello 世界 👋!", "task_id": TASK})
            ),
        ],
        WS,
    ),
    "ws-connected-twice": (
        "Q1",
        lambda: [*ws_stream()[:4], WsMessage(0.215, json.dumps(connected())), *ws_stream()[4:]],
        WS,
    ),
    "ws-accumulation": (
        "Q2",
        lambda: edit_payload(ws_stream(), WS_TOKEN + 1, lambda p: p.update(full_text="Hel-lo ")),
        WS,
    ),
    "ws-done-differs": ("Q3", lambda: edit_payload(ws_stream(), -1, lambda p: p.update(full_text="Hello")), WS),
    "ws-replacement-char": ("Q4", lambda: ws_stream(("Hel", "\ufffd", "!")), WS),
    "ws-task-id-never-the-posted-one": ("Q5", lambda: ws_stream(task_id=OTHER_TASK), WS),
    "ws-first-message-late": (
        "Q6",
        lambda: [RequestSent(0.0), WsOpened(0.1), *[dataclasses.replace(m, at=m.at + 30) for m in ws_stream()[2:]]],
        WS,
    ),
    "ws-gap-too-long": (
        "Q6",
        lambda: [*ws_stream()[:5], *[dataclasses.replace(m, at=m.at + 11) for m in ws_stream()[5:]]],
        WS,
    ),
    "ws-connected-not-first": ("W2", lambda: [ws_stream()[0], ws_stream()[1], *ws_stream()[3:]], WS),
    "ws-late-join-snapshot-partial": (
        "W5",
        lambda: [
            WsOpened(0.1),
            *ws_messages(
                [
                    connected(),
                    {"type": "token", "content": "wor", "full_text": "Hello wor", "task_id": TASK},
                    {"type": "done", "full_text": "Hello wor", "task_id": TASK},
                ]
            ),
        ],
        dataclasses.replace(WS, late_join=True),
    ),
    "ws-late-join-no-snapshot": (
        "W5",
        lambda: [
            WsOpened(0.1),
            *ws_messages(
                [
                    connected(),
                    {"type": "token", "content": "ld", "full_text": "Hello world", "task_id": TASK},
                    {"type": "done", "full_text": "Hello world", "task_id": TASK},
                ]
            ),
        ],
        dataclasses.replace(WS, late_join=True),
    ),
    "ws-late-join-snapshot-not-the-text-so-far": (
        "W5",
        lambda: [
            WsOpened(0.1),
            *ws_messages(
                [
                    connected(),
                    {"type": "token", "content": "wor", "full_text": "wor", "task_id": TASK},
                    {"type": "token", "content": "ld", "full_text": "Hello world", "task_id": TASK},
                    {"type": "done", "full_text": "Hello world", "task_id": TASK},
                ]
            ),
        ],
        dataclasses.replace(WS, late_join=True),
    ),
    "ws-late-join-snapshot-then-done-differs": (
        "W5",
        lambda: [
            WsOpened(0.1),
            *ws_messages(
                [
                    connected(),
                    {"type": "token", "content": "wor", "full_text": "wor", "task_id": TASK},
                    {"type": "done", "full_text": "Hello world", "task_id": TASK},
                ]
            ),
        ],
        dataclasses.replace(WS, late_join=True),
    ),
    "ws-late-join-ended-task-gets-token": (
        "W5",
        lambda: [
            WsOpened(0.1),
            *ws_messages(
                [
                    connected(),
                    {"type": "token", "content": "Hello", "full_text": "Hello", "task_id": TASK},
                    {"type": "done", "full_text": "Hello", "task_id": TASK},
                ]
            ),
        ],
        dataclasses.replace(WS, late_join=True, task_ended=True),
    ),
    "ws-late-join-never-terminal": (
        "W5",
        lambda: [WsOpened(0.1), *ws_messages([connected()])],
        dataclasses.replace(WS, late_join=True, task_ended=True),
    ),
    "ws-connected-other-project": (
        "W6",
        lambda: [ws_stream()[0], ws_stream()[1], WsMessage(0.2, json.dumps(connected(project_id=2))), *ws_stream()[3:]],
        WS,
    ),
    "ws-filtered-socket-gets-other-task": (
        "W6",
        lambda: [
            *ws_stream()[:4],
            WsMessage(0.215, json.dumps({"type": "token", "content": "x", "full_text": "x", "task_id": OTHER_TASK})),
            *ws_stream()[4:],
        ],
        dataclasses.replace(WS, task_filter=TASK),
    ),
    "ws-closed-by-server-after-done": ("W7", lambda: [*ws_stream(), StreamClosed(0.4, 1000, "done")], WS),
}


# Breaks that rightly show under a second rule too: a missing task_id is both Q5 and a schema error.
ALSO: dict[str, set[str]] = {"ws-token-without-task-id": {"M1"}}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_stream_breaking_one_rule_reports_exactly_that_rule(case: str) -> None:
    rule, build, expect = BROKEN[case]
    violations = run(build(), expect)
    assert sorted(set(rules(violations)) - ALSO.get(case, set())) == [rule], "\n".join(str(v) for v in violations)
    assert rule in rules(violations)
    found = [v for v in violations if v.rule == rule]
    assert all(v.message and (v.received or v.expected) for v in found)
    assert all(str(v).startswith(rule + ":") for v in found)


def test_every_stream_rule_has_a_breaking_case() -> None:
    covered = {rule for rule, _, _ in BROKEN.values()}
    wanted = set(STREAM_RULES["sse"]) | set(STREAM_RULES["ws"])
    # S5 and S6's SHOULD half have dedicated tests below.
    assert wanted - covered == {"S5"}
    assert covered <= set(RULES_BY_ID)


# -- S5, S6 warning, bounds, details ------------------------------------------------------


def test_s5_buffered_stream_is_reported_when_the_producer_pacing_is_known() -> None:
    pieces = [f"t{n} " for n in range(10)]
    burst = sse_stream(pieces, step=0.0005)  # 10 tokens within 5 ms
    expect = dataclasses.replace(SSE, token_interval_s=0.05)  # produced 50 ms apart
    assert rules(run(burst, expect)) == ["S5"]


def test_s5_flushed_stream_passes() -> None:
    pieces = [f"t{n} " for n in range(10)]
    paced = sse_stream(pieces, step=0.05)
    assert run(paced, dataclasses.replace(SSE, token_interval_s=0.05)) == []


def test_s5_is_not_judged_without_known_pacing() -> None:
    burst = sse_stream([f"t{n} " for n in range(10)], step=0.0005)
    assert run(burst, SSE) == []


def test_s6_missing_accel_buffering_is_a_warning_only() -> None:
    violations = run(sse_with_head(("content-type", "text/event-stream"), ("cache-control", "no-cache")), SSE)
    assert [(v.rule, v.severity) for v in violations] == [("S6", "warning")]


def test_non_stream_answer_is_reported_once_as_e4_or_e3() -> None:
    error_head = [RequestSent(0.0), ResponseHead(0.05, 400, (("content-type", "application/json"),))]
    assert rules(run([*error_head, StreamClosed(0.06)], SSE)) == ["E4"]
    server_error = [RequestSent(0.0), ResponseHead(0.05, 502, ())]
    assert rules(run([*server_error, StreamClosed(0.06)], SSE)) == ["E3"]


def test_stall_without_close_reports_silence_and_incomplete_stream() -> None:
    stalled = without_close(sse_stream())[:4]
    violations = run(stalled, SSE, finish_at=30.0)
    assert rules(violations) == ["Q6", "S4"]
    assert any("incomplete stream" in v.message for v in violations)


def test_open_after_terminal_is_s4_when_the_client_gives_up() -> None:
    assert rules(run(without_close(sse_stream()), SSE, finish_at=10.0)) == ["S4"]


def test_bounds_are_parameters() -> None:
    slow = sse_stream(step=3.0)
    assert rules(run(slow, SSE, bounds=Bounds(idle_timeout_s=2.0))) == ["Q6"]
    assert run(slow, SSE, bounds=Bounds(idle_timeout_s=4.0, close_after_terminal_s=5.0)) == []


def test_replacement_character_in_the_input_may_come_back() -> None:
    expect = dataclasses.replace(SSE, input_text="broken \ufffd input")
    assert run(sse_stream(("broken ", "\ufffd")), expect) == []


def test_allowed_unknown_types_are_not_reported() -> None:
    events = [*ws_stream()[:4], WsMessage(0.215, '{"type": "progress", "pct": 5}'), *ws_stream()[4:]]
    assert run(events, dataclasses.replace(WS, allowed_types=frozenset({"progress"}))) == []


def test_violation_carries_index_time_received_and_contract() -> None:
    events = replace_at(sse_stream(), SSE_TOKEN + 2, id="9")
    [violation] = run(events, SSE)
    assert (violation.rule, violation.index, violation.at) == ("S2", 3, pytest.approx(0.12))
    assert violation.received == "id: 9"
    assert violation.expected == "id: 3"
    assert "Received: id: 9" in str(violation)


def test_feed_returns_new_violations_and_finish_is_idempotent() -> None:
    validator = StreamValidator(SSE)
    events = replace_at(sse_stream(), SSE_TOKEN, event="bogus")
    new = [validator.feed(e) for e in events]
    assert [len(n) for n in new] == [0, 0, 1, 0, 0, 0, 0, 0]
    assert validator.finish(1.0) == []
    assert validator.finish(2.0) == []
    assert validator.complete


def test_primary_task_state_exposes_tokens_and_text() -> None:
    validator = StreamValidator(WS)
    for event in ws_stream():
        validator.feed(event)
    assert validator.primary.tokens == 4
    assert validator.primary.full_text == "Hello 世界 👋"
    assert validator.primary.terminal == "done"
