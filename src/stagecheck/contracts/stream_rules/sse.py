"""The SSE stream's own rules: the answer's head (S6), events and ids (S1-S3), close (S4), flushing (S5).

An SSE stream carries one task, kept under the task id "" in `tasks`.
"""

from __future__ import annotations

import orjson

from ..events import ResponseHead, SseEvent
from .base import StreamValidator, TaskState, _parse_json_leniently


class SseStreamValidator(StreamValidator, transport="sse"):
    """Validates one SSE stream (`StreamValidator(Expectation("sse", ...))` builds one)."""

    _message_kind = SseEvent

    def __post_init__(self) -> None:
        super().__post_init__()
        self._sse_ids = 0  # events that count for S2 (phantom keep-alive events do not)
        self._state = self._task("")

    @property
    def primary(self) -> TaskState:
        """The stream's only task."""
        return self._state

    # -- HTTP head ----------------------------------------------------------------------

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

    # -- events -------------------------------------------------------------------------

    def _message(self, event: SseEvent) -> None:
        index = self.events
        state = self._state
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

    # -- end of stream ------------------------------------------------------------------

    def _finish_stream(self, at: float) -> None:
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
