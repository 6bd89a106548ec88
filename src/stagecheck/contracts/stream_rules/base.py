"""The rules core: one validator per stream (SSE) or subscription (WebSocket).

Feed it timestamped events (`events.py`) one at a time; it returns the violations each
event caused and keeps them all in `violations`. `finish(at)` closes the books: a
stream without a terminal event, a stall, a socket still open. It reads no clock and
does no I/O, so the suites (asyncio), the Locust users (gevent) and the mock server's
tests all drive the same code.

A broken event is reported once, under the most specific rule, and the validator then
resynchronises (the next token is taken as the new baseline), so one fault does not
cascade into a list of consequences.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from .events import (
    RequestSent,
    ResponseHead,
    SseComment,
    SseEvent,
    StreamClosed,
    StreamEvent,
    WsMessage,
    WsOpened,
)
from .messages import MessageSchemas, message_schemas
from .violations import Severity, Violation

TERMINAL_TYPES = frozenset({"done", "error"})
_BAD_TEXT = re.compile("[\ud800-\udfff\ufffd]")  # lone surrogates, replacement characters


def _parse_json_leniently(text: str) -> Any:
    """After orjson refused `text`: the stdlib keeps lone surrogates for Q4 to report; None if not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Bounds:
    """Time bounds in seconds (Q6, S4, S5)."""

    first_event_s: float = 10.0
    idle_s: float = 10.0
    close_after_terminal_s: float = 2.0
    # S5 is judged only when the producer's pacing is known (a scenario that sets it).
    min_buffering_span_s: float = 0.2


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the client knows about the stream it is reading."""

    transport: Literal["sse", "ws"]
    # Tasks this client started (the POST's task_id); WebSocket only.
    task_ids: frozenset[str] = frozenset()
    # The subscription's project and stage (W6 on `connected`).
    project_id: int | None = None
    stage_name: str | None = None
    # `?task_id=` on the socket: then only that task's messages may arrive (W6).
    task_filter: str | None = None
    # The socket was opened after the task began (W5), or after it ended.
    late_join: bool = False
    task_ended: bool = False
    # Seconds between tokens at the producer, when known; enables S5.
    token_interval_s: float | None = None
    # The input text; replacement characters it holds may legitimately come back (Q4).
    input_text: str = ""
    # Message types the user allows beyond the contract (M1).
    allowed_types: frozenset[str] = frozenset()


@dataclass(slots=True)
class TaskState:
    """What one task has shown this subscriber so far."""

    tokens: int = 0
    full_text: str | None = None
    terminal: str | None = None
    terminal_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None
    # After an unreadable event, the next token is the new baseline for Q2.
    resync: bool = False
    messages: int = 0


@dataclass
class StreamValidator:
    """Validates one SSE stream or one WebSocket subscription against docs/protocol.md."""

    expect: Expectation
    bounds: Bounds = field(default_factory=Bounds)
    schemas: MessageSchemas | None = None

    def __post_init__(self) -> None:
        if self.schemas is None:
            self.schemas = message_schemas(self.expect.transport)
        self.violations: list[Violation] = []
        self.tasks: dict[str, TaskState] = {}
        self.started_at: float | None = None
        self.last_activity_at: float | None = None
        self.first_event_at: float | None = None
        self.closed_at: float | None = None
        self.events = 0
        self.finished = False
        self._head_failed = False
        self._new: list[Violation] = []
        self._connected_seen = False
        self._sse_ids = 0  # events that count for S2 (phantom keep-alive events do not)
        self._types = self.schemas.types
        self._idle_s = self.bounds.idle_s
        self._sse_state = self._task("") if self.expect.transport == "sse" else TaskState()

    # -- public API -----------------------------------------------------------------

    def feed(self, event: StreamEvent) -> list[Violation]:
        """Take one event; return the violations it caused (also kept in `violations`)."""
        self._new = []
        kind = event.__class__  # identity checks: this runs on every event of a load test
        if kind is SseEvent or kind is WsMessage:
            at = event.at
            last = self.last_activity_at
            if last is not None and at - last <= self._idle_s:
                self.events += 1  # the common case, inlined: no gap to judge
                self.last_activity_at = at
            else:
                self._activity(at)
            if kind is SseEvent:
                self._sse_event(event)  # type: ignore[arg-type]
            else:
                self._ws_message(event)  # type: ignore[arg-type]
        elif kind is SseComment:
            pass  # S3: comments are not events, and do not count as activity for Q6
        elif kind is RequestSent or kind is WsOpened:
            if self.started_at is None:
                self.started_at = event.at
        elif kind is ResponseHead:
            self._response_head(event)  # type: ignore[arg-type]
        elif kind is StreamClosed:
            self._closed(event)  # type: ignore[arg-type]
        return self._new

    def finish(self, at: float) -> list[Violation]:
        """No more events will come (the client stops reading at `at`)."""
        self._new = []
        if self.finished:
            return self._new
        self.finished = True
        if self._head_failed:
            return self._new
        end = self.closed_at if self.closed_at is not None else at
        self._check_gap(end, final=True)
        if self.expect.transport == "sse":
            self._finish_sse(at)
        else:
            self._finish_ws(at)
        return self._new

    @property
    def primary(self) -> TaskState:
        """The task this client follows (SSE: the stream's only task)."""
        for task_id in self.expect.task_ids:
            if task_id in self.tasks:
                return self.tasks[task_id]
        if self.expect.transport == "sse" and "" in self.tasks:
            return self.tasks[""]
        return TaskState()

    @property
    def complete(self) -> bool:
        return self.primary.terminal is not None

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    # -- helpers ----------------------------------------------------------------------

    def _report(
        self,
        rule: str,
        message: str,
        *,
        received: Any = "",
        expected: str = "",
        at: float | None = None,
        index: int | None = None,
        severity: Severity = "error",
        task_id: str | None = None,
    ) -> None:
        shown = received if isinstance(received, str) else repr(received)
        if len(shown) > 300:
            shown = shown[:300] + f"... ({len(shown)} characters)"
        violation = Violation(rule, message, shown, expected, index, at, severity, task_id)
        self.violations.append(violation)
        self._new.append(violation)

    def _activity(self, at: float) -> None:
        self.events += 1
        if self.first_event_at is None:
            self.first_event_at = at
            if self.started_at is not None and at - self.started_at > self.bounds.first_event_s:
                self._report(
                    "Q6",
                    "first event arrived too late",
                    received=f"{at - self.started_at:.3f} s after the request",
                    expected=f"within {self.bounds.first_event_s:g} s (first-event bound)",
                    at=at,
                    index=self.events,
                )
        else:
            self._check_gap(at)
        self.last_activity_at = at

    def _check_gap(self, at: float, final: bool = False) -> None:
        last = self.last_activity_at
        if last is None:
            if final and self.started_at is not None and at - self.started_at > self.bounds.first_event_s:
                self._report(
                    "Q6",
                    "no event arrived",
                    received=f"nothing in {at - self.started_at:.3f} s",
                    expected=f"a first event within {self.bounds.first_event_s:g} s",
                    at=at,
                )
            return
        if final and self.primary.terminal is not None:
            return  # a quiet stream after its terminal event is S4/W7 business, not Q6
        if at - last > self.bounds.idle_s:
            self._report(
                "Q6",
                "stream went silent" if final else "gap between events too long",
                received=f"{at - last:.3f} s without an event",
                expected=f"at most {self.bounds.idle_s:g} s between events (idle bound)",
                at=at,
                index=None if final else self.events,
            )

    def _text_ok(self, text: str) -> bool:
        match = _BAD_TEXT.search(text)
        if match is None:
            return True
        return (
            match.group() == "\ufffd"
            and "\ufffd" in self.expect.input_text
            and not any("\ud800" <= ch <= "\udfff" for ch in text)
        )

    def _task(self, task_id: str) -> TaskState:
        state = self.tasks.get(task_id)
        if state is None:
            state = self.tasks[task_id] = TaskState()
        return state

    # -- HTTP head and close ----------------------------------------------------------

    def _response_head(self, head: ResponseHead) -> None:
        content_type = (head.header("content-type") or "").split(";")[0].strip().lower()
        if head.status != 200 or content_type != "text/event-stream":
            self._head_failed = True
            rule = "E3" if head.status >= 500 else "E4"
            self._report(
                rule,
                "the stream request was not answered with an event stream",
                received=f"{head.status} {content_type or '(no content type)'}",
                expected="200 text/event-stream",
                at=head.at,
            )
            return
        cache = (head.header("cache-control") or "").lower()
        if "no-cache" not in cache:
            self._report(
                "S6",
                "SSE answer may be cached",
                received=f"Cache-Control: {cache or '(absent)'}",
                expected="Cache-Control: no-cache",
                at=head.at,
            )
        if (head.header("x-accel-buffering") or "").lower() != "no":
            self._report(
                "S6",
                "SSE answer may be buffered by a proxy",
                received=f"X-Accel-Buffering: {head.header('x-accel-buffering') or '(absent)'}",
                expected="X-Accel-Buffering: no (SHOULD)",
                at=head.at,
                severity="warning",
            )

    def _closed(self, event: StreamClosed) -> None:
        if self.closed_at is not None:
            return
        self.closed_at = event.at
        if self._head_failed:
            return
        if self.expect.transport == "ws" and not event.by_client:
            self._ws_closed_by_server(event)

    # -- SSE --------------------------------------------------------------------------

    def _sse_event(self, event: SseEvent) -> None:
        index = self.events
        state = self._sse_state
        if event.data == "":
            self._report(
                "S3",
                "an event with empty data: keep-alives must be comment lines",
                received=f"event: {event.event or '(none)'}, data: (empty)",
                expected="': keep-alive' comment line",
                at=event.at,
                index=index,
            )
            return
        self._sse_ids += 1
        event_id = event.id
        if event_id is not None and not (event_id.isdigit() and event_id.isascii() and int(event_id) == self._sse_ids):
            self._report_sse_id(event, self._sse_ids)
        name = event.event
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            payload = _parse_json_leniently(event.data)
        if not isinstance(payload, dict):
            state.resync = True
            self._report(
                "S1",
                "data is not a JSON object",
                received=event.data,
                expected="one-line JSON object with a type field",
                at=event.at,
                index=index,
            )
            return
        kind = payload.get("type")
        message_type = self._types.get(name) if name is not None else None
        if message_type is None:
            if name in self.expect.allowed_types:
                return
            self._malformed(state, name, kind, event.at)
            self._report(
                "S1",
                "event type is not token, done or error",
                received=f"event: {name if name is not None else '(none: message)'}",
                expected="event: " + " | ".join(self._types),
                at=event.at,
                index=index,
            )
            return
        if kind != name:
            self._malformed(state, name, kind, event.at)
            self._report(
                "S1",
                "data.type does not match the event field",
                received=f"event: {name}, data.type: {kind!r}",
                expected=f"data.type == {name!r}",
                at=event.at,
                index=index,
            )
            return
        problem = None if message_type.validator.is_valid(payload) else message_type.first_error(payload)
        if problem is not None:
            self._malformed(state, name, kind, event.at)
            self._report(
                "M1",
                f"{name} event does not match its schema: {problem}",
                received=event.data,
                expected=f"asyncapi.yaml {message_type.pointer}",
                at=event.at,
                index=index,
            )
            return
        self._task_message(state, "", message_type.name, payload, event.at, index)

    def _report_sse_id(self, event: SseEvent, position: int) -> None:
        self._report(
            "S2",
            "event id does not count up by one from 1",
            received=f"id: {event.id}",
            expected=f"id: {position}",
            at=event.at,
            index=self.events,
        )

    def _finish_sse(self, at: float) -> None:
        state = self.tasks.get("")
        if state is None or state.terminal is None:
            how = "the stream ended" if self.closed_at is not None else "the client stopped reading"
            self._report(
                "S4",
                f"incomplete stream: {how} without a terminal event",
                received=f"{state.tokens if state else 0} tokens, no done/error",
                expected="token* then exactly one done or error",
                at=self.closed_at if self.closed_at is not None else at,
            )
            return
        assert state.terminal_at is not None
        end = self.closed_at if self.closed_at is not None else at
        if end - state.terminal_at > self.bounds.close_after_terminal_s:
            self._report(
                "S4",
                "stream not closed after its terminal event"
                if self.closed_at is None
                else "stream closed too late after its terminal event",
                received=f"{'still open' if self.closed_at is None else 'closed'} "
                f"{end - state.terminal_at:.3f} s after {state.terminal}",
                expected=f"server closes within {self.bounds.close_after_terminal_s:g} s",
                at=end,
            )
        self._check_flushing(state)

    def _check_flushing(self, state: TaskState) -> None:
        interval = self.expect.token_interval_s
        if interval is None or state.tokens < 3:
            return
        assert state.first_token_at is not None and state.last_token_at is not None
        produced_over = (state.tokens - 1) * interval
        if produced_over < self.bounds.min_buffering_span_s:
            return
        observed = state.last_token_at - state.first_token_at
        if observed < 0.25 * produced_over:
            self._report(
                "S5",
                "events arrived in one burst: the answer was buffered, not flushed as produced",
                received=f"{state.tokens} tokens within {observed * 1000:.1f} ms",
                expected=f"spread over about {produced_over * 1000:.0f} ms, as produced",
                at=state.last_token_at,
            )

    # -- WebSocket --------------------------------------------------------------------

    def _ws_message(self, message: WsMessage) -> None:
        index = self.events
        first = index == 1
        assert self.schemas is not None
        if message.text is None:
            self._report(
                "M1",
                "binary frame: messages are JSON text",
                received=f"{len(message.binary or b'')} bytes",
                expected="a JSON text frame",
                at=message.at,
                index=index,
            )
            return
        try:
            payload = orjson.loads(message.text)
        except orjson.JSONDecodeError:
            payload = _parse_json_leniently(message.text)
        if not isinstance(payload, dict):
            self._report(
                "M1",
                "message is not a JSON object",
                received=message.text,
                expected="a JSON object with a type field",
                at=message.at,
                index=index,
            )
            return
        kind = payload.get("type")
        if first and kind != "connected":
            self._report(
                "W2",
                "the first message is not connected",
                received=f"type {kind!r}",
                expected="type 'connected' first",
                at=message.at,
                index=index,
            )
        message_type = self._types.get(kind) if isinstance(kind, str) else None
        if message_type is None:
            if kind not in self.expect.allowed_types:
                self._report(
                    "M1",
                    "unknown message type",
                    received=f"type {kind!r}",
                    expected="type " + " | ".join(self.schemas.types),
                    at=message.at,
                    index=index,
                )
            return
        problem = None if message_type.validator.is_valid(payload) else message_type.first_error(payload)
        if problem is not None:
            task_id = payload.get("task_id")
            if isinstance(task_id, str) and task_id in self.tasks:
                self._malformed(self.tasks[task_id], kind, kind, message.at)
            elif not isinstance(task_id, str) and len(self.expect.task_ids) == 1:
                # A message without its task_id: most likely about the task we follow.
                self._malformed(self._task(next(iter(self.expect.task_ids))), kind, kind, message.at)
            self._report(
                "M1",
                f"{kind} message does not match its schema: {problem}",
                received=message.text,
                expected=f"asyncapi.yaml {message_type.pointer}",
                at=message.at,
                index=index,
            )
            return
        if kind == "connected":
            self._connected(payload, message.at, index, first)
            return
        if kind not in ("token", "done", "error"):
            return  # pong, heartbeat: activity only
        task_id = payload["task_id"]
        if self.expect.task_filter is not None and task_id != self.expect.task_filter:
            self._report(
                "W6",
                "a message of another task on a socket filtered by task_id",
                received=f"task_id {task_id}",
                expected=f"only task_id {self.expect.task_filter}",
                at=message.at,
                index=index,
                task_id=task_id,
            )
            return
        state = self.tasks.get(task_id) or self._task(task_id)
        if self.expect.late_join and self.expect.task_ended and task_id in self.expect.task_ids:
            self._check_ended_task_replay(state, kind, message.at, index, task_id)
        self._task_message(state, task_id, kind, payload, message.at, index)

    def _connected(self, payload: dict[str, Any], at: float, index: int, first: bool) -> None:
        if self._connected_seen or not first:
            self._report(
                "Q1",
                "connected arrived again or late: it opens the subscription once",
                received=f"connected as message #{index}",
                expected="connected once, as the first message",
                at=at,
                index=index,
            )
        self._connected_seen = True
        wanted = (self.expect.project_id, self.expect.stage_name)
        got = (payload.get("project_id"), payload.get("stage_name"))
        if (wanted[0] is not None and got[0] != wanted[0]) or (wanted[1] is not None and got[1] != wanted[1]):
            self._report(
                "W6",
                "connected names another project or stage than the socket's",
                received=f"project_id {got[0]}, stage_name {got[1]}",
                expected=f"project_id {wanted[0]}, stage_name {wanted[1]}",
                at=at,
                index=index,
            )

    def _check_ended_task_replay(self, state: TaskState, kind: str, at: float, index: int, task_id: str) -> None:
        # W5: after the task ended, its terminal event comes right after connected.
        if state.messages == 0 and kind not in TERMINAL_TYPES:
            self._report(
                "W5",
                "late subscriber to an ended task got a token instead of the terminal event",
                received=f"{kind} first",
                expected="the task's done/error right after connected",
                at=at,
                index=index,
                task_id=task_id,
            )
            state.resync = True

    def _malformed(self, state: TaskState, name: object, kind: object, at: float) -> None:
        """An event that breaks S1/M1 still ends the task if it was meant as its terminal.

        What it was meant as: the SSE event field when that names a known type, else
        the data's type.
        """
        state.resync = True
        assert self.schemas is not None
        meant = name if isinstance(name, str) and name in self.schemas else kind
        if state.terminal is None and meant in TERMINAL_TYPES:
            state.terminal = str(meant)
            state.terminal_at = at

    def _ws_closed_by_server(self, event: StreamClosed) -> None:
        primary = self.primary
        if primary.terminal is not None:
            self._report(
                "W7",
                "the server closed the socket after a terminal event",
                received=f"close {event.code} {event.reason!r}".strip(),
                expected="the socket stays open; the client closes it",
                at=event.at,
            )

    def _finish_ws(self, at: float) -> None:
        if self.events and not self._connected_seen and not any(v.rule == "W2" for v in self.violations):
            self._report("W2", "connected never arrived", expected="type 'connected' first", at=at)
        foreign = sorted(t for t in self.tasks if t not in self.expect.task_ids)
        for task_id in sorted(self.expect.task_ids):
            state = self.tasks.get(task_id)
            if state is not None and state.terminal is not None:
                continue
            end = self.closed_at if self.closed_at is not None else at
            if state is None and foreign and self.expect.task_filter is None:
                self._report(
                    "Q5",
                    "no message named the task the POST returned",
                    received=f"messages for task_id {', '.join(foreign[:3])}",
                    expected=f"task_id {task_id} on every message about the task",
                    at=end,
                    task_id=task_id,
                )
            elif self.expect.late_join:
                self._report(
                    "W5",
                    "late subscriber never reached the task's terminal event",
                    received=f"{state.tokens if state else 0} tokens, no done/error",
                    expected="snapshot then live tokens, or the terminal event of an ended task",
                    at=end,
                    task_id=task_id,
                )
            else:
                how = "the socket closed" if self.closed_at is not None else "the client stopped reading"
                self._report(
                    "Q1",
                    f"incomplete stream: {how} before the task's terminal event",
                    received=f"{state.tokens if state else 0} tokens, no done/error",
                    expected="token* then exactly one done or error",
                    at=end,
                    task_id=task_id,
                )

    # -- shared sequence rules (Q1-Q4) -------------------------------------------------

    def _task_message(
        self, state: TaskState, task_id: str, kind: str, payload: dict[str, Any], at: float, index: int
    ) -> None:
        state.messages += 1
        if kind == "token" and state.terminal is None and not state.resync and state.full_text is not None:
            # The common case on a load test, kept to a few comparisons: a clean token that
            # extends the text exactly (Q2) cannot break Q1, Q3 or Q4 either.
            content = payload["content"]
            full_text = payload["full_text"]
            previous = state.full_text
            if (
                len(full_text) == len(previous) + len(content)
                and full_text.startswith(previous)
                and full_text.endswith(content)
                and _BAD_TEXT.search(content) is None
            ):
                state.tokens += 1
                state.last_token_at = at
                state.full_text = full_text
                return
        shown_id = task_id or None
        if state.terminal is not None:
            self._report(
                "Q1",
                f"{kind} after the terminal event",
                received=f"{kind} after {state.terminal}",
                expected="nothing of a task after its done/error",
                at=at,
                index=index,
                task_id=shown_id,
            )
            return
        if kind == "token":
            self._token(state, payload, at, index, shown_id)
            return
        state.terminal = kind
        state.terminal_at = at
        if kind == "done":
            full_text = payload["full_text"]
            if not self._text_ok(full_text):
                self._report_text(full_text, at, index, shown_id)
            elif state.full_text is not None and not state.resync and full_text != state.full_text:
                self._report(
                    "Q3",
                    "done.full_text differs from the last token's full_text",
                    received=full_text,
                    expected=state.full_text,
                    at=at,
                    index=index,
                    task_id=shown_id,
                )
        elif not self._text_ok(payload["error"]):
            self._report_text(payload["error"], at, index, shown_id)

    def _token(self, state: TaskState, payload: dict[str, Any], at: float, index: int, task_id: str | None) -> None:
        content: str = payload["content"]
        full_text: str = payload["full_text"]
        state.tokens += 1
        if state.first_token_at is None:
            state.first_token_at = at
        state.last_token_at = at
        previous = state.full_text
        state.full_text = full_text
        search = _BAD_TEXT.search
        if (search(content) is not None and not self._text_ok(content)) or (
            previous is None and search(full_text) is not None and not self._text_ok(full_text)
        ):
            state.resync = True
            self._report_text(content if not self._text_ok(content) else full_text, at, index, task_id)
            return
        if state.resync:
            state.resync = False
            return
        if previous is None:
            if full_text != content:
                late = self.expect.late_join
                self._report(
                    "W5" if late else "Q2",
                    "the late subscriber's snapshot token is not the whole text so far"
                    if late
                    else "the first token's full_text is not its content",
                    received=f"content {content!r}, full_text {full_text!r}",
                    expected="content == full_text on the first token a subscriber sees",
                    at=at,
                    index=index,
                    task_id=task_id,
                )
            return
        if len(full_text) != len(previous) + len(content) or not (
            full_text.startswith(previous) and full_text.endswith(content)
        ):
            self._report(
                "Q2",
                "full_text is not the previous full_text plus content",
                received=f"full_text {full_text!r}",
                expected=f"{previous!r} + {content!r}",
                at=at,
                index=index,
                task_id=task_id,
            )

    def _report_text(self, text: str, at: float, index: int, task_id: str | None) -> None:
        match = _BAD_TEXT.search(text)
        position = match.start() if match else -1
        self._report(
            "Q4",
            "text is not Unicode-exact (replacement character or split code point)",
            received=f"{text[max(0, position - 10) : position + 10]!r} at position {position}",
            expected="the text as produced, every code point whole",
            at=at,
            index=index,
            task_id=task_id,
        )
