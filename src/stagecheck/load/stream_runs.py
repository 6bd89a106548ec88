"""One stream of each mode, start to end, judged by the rules core: a `StreamOutcome`.

Plain blocking code over the sync transports (the socket: `transports.ws_follow`): under
Locust every socket is a gevent one, and in pytest it runs as is. Each event is fed to a `StreamValidator`; a token's
arrival time is taken when the validator counts it, so the figures and the rules see the
same events. SSE: one POST with `use_streaming: true`, read to the server's close.
WebSocket: POST (202 + task_id), open the socket filtered by `?task_id=`, read to the
task's terminal event, close; timed from the POST, as a browser client would live it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import httpx

from stagecheck.contracts.events import RequestSent, ResponseHead, SseEvent, StreamClosed, StreamEvent, WsMessage
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.errors import StagecheckError
from stagecheck.transports import http_sync, sse_sync
from stagecheck.transports.ws_follow import follow_socket

from .config import StreamSettings
from .metrics import StreamOutcome

Clock = Callable[[], float]


# A first token this many times longer than any later one is a W5 snapshot (several tokens in one).
SNAPSHOT_RATIO = 1.5


class _Follower:
    """Feeds events to the validator and notes token and terminal arrival times.

    `late_join_possible` (WebSocket): the first token may be the W5 snapshot. The protocol
    does not mark it, so it is told by its size: it holds all text so far, and is taken as a
    snapshot when it is more than `SNAPSHOT_RATIO` times as long as the longest token after
    it (or when the socket saw no token at all, only the terminal event of a task that ended).
    """

    def __init__(self, validator: StreamValidator, outcome: StreamOutcome, late_join_possible: bool = False) -> None:
        self.validator = validator
        self.outcome = outcome
        self.late_join_possible = late_join_possible
        self._text_len = 0
        self._first_len = 0
        self._longest_later = 0
        self._done_text_len: int | None = None

    def feed(self, event: StreamEvent) -> None:
        self.validator.feed(event)
        outcome = self.outcome
        state = self.validator.primary
        if state.tokens > len(outcome.token_times):
            outcome.token_times.append(event.at)
            text_len = len(state.full_text or "")
            added = max(0, text_len - self._text_len)
            self._text_len = text_len
            if len(outcome.token_times) == 1:
                self._first_len = added
            elif added > self._longest_later:
                self._longest_later = added
        if state.terminal is not None and outcome.terminal is None:
            outcome.terminal = state.terminal
            outcome.terminal_at = state.terminal_at
            if state.terminal == "done":
                self._done_text_len = _done_text_len(event)
        if isinstance(event, ResponseHead) and event.status != 200 and outcome.failure is None:
            outcome.failure = f"status {event.status}"
        elif isinstance(event, StreamClosed) and event.error and outcome.failure is None:
            # A stream the client cut after the terminal event is not a failure.
            if outcome.terminal is None:
                outcome.failure = event.error

    def feed_all(self, events: Iterable[StreamEvent]) -> None:
        for event in events:
            self.feed(event)

    def finish(self, at: float) -> StreamOutcome:
        self.validator.finish(at)
        outcome = self.outcome
        outcome.events = self.validator.events
        # The stream's text: done's full_text (a socket that opened after the task ended sees
        # only that), else the last token's.
        last_token_text = len(self.validator.primary.full_text or "")
        outcome.text_chars = self._done_text_len if self._done_text_len is not None else last_token_text
        if self.late_join_possible and outcome.terminal is not None:
            no_token = not outcome.token_times and outcome.terminal == "done"
            bundled = len(outcome.token_times) >= 2 and self._first_len > SNAPSHOT_RATIO * self._longest_later
            if no_token or bundled:
                outcome.late_join = True
                outcome.snapshot_index = 0 if outcome.token_times else None
        errors = [v for v in self.validator.violations if v.severity == "error"]
        outcome.violations = tuple(dict.fromkeys(v.rule for v in errors))
        outcome.warnings = tuple(dict.fromkeys(v.rule for v in self.validator.violations if v.severity == "warning"))
        if errors:
            outcome.message = str(errors[0]).splitlines()[0]
        elif outcome.failure:
            outcome.message = outcome.failure
        return outcome


def _done_text_len(event: StreamEvent) -> int | None:
    """Length of the `full_text` of a done event (SSE data or WebSocket message), once per stream."""
    raw = event.data if isinstance(event, SseEvent) else event.text if isinstance(event, WsMessage) else None
    if not raw:
        return None
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    text = payload.get("full_text") if isinstance(payload, dict) else None
    return len(text) if isinstance(text, str) else None


def _bounds(settings: StreamSettings) -> Bounds:
    return Bounds(first_event_timeout_s=settings.read_timeout_s, idle_timeout_s=settings.read_timeout_s)


def _unreachable_kind(exc: StagecheckError) -> str:
    # "cannot connect to URL: connection refused; is ..." -> "connect: connection refused"
    text = str(exc)
    reason = text.split(": ", 1)[-1].split(";", 1)[0]
    return f"connect: {reason}"


def run_sse_stream(client: httpx.Client, settings: StreamSettings, clock: Clock) -> StreamOutcome:
    """POST with use_streaming true and read the event stream to its end."""
    outcome = StreamOutcome(started_at=clock())
    follower = _Follower(StreamValidator(Expectation(transport="sse"), _bounds(settings)), outcome)
    try:
        events = sse_sync.stream_sse(
            client,
            settings.execute_url,
            json=settings.body(streaming=True),
            headers=settings.headers(),
            idle_timeout_s=settings.read_timeout_s,
            total_timeout=settings.stream_timeout_s,
            clock=clock,
        )
        for event in events:
            if isinstance(event, RequestSent):
                outcome.started_at = event.at
            follower.feed(event)
    except StagecheckError as exc:  # nothing answered: refused, or no connection in time
        outcome.failure = _unreachable_kind(exc)
    return follower.finish(clock())


def run_ws_stream(client: httpx.Client, settings: StreamSettings, clock: Clock) -> StreamOutcome:
    """POST (202 + task_id), then follow the task on its socket to the terminal event."""
    outcome = StreamOutcome(started_at=clock())
    try:
        answer = http_sync.request_json(
            client,
            "POST",
            settings.execute_url,
            json=settings.body(streaming=False),
            headers=settings.headers(),
            clock=clock,
        )
    except StagecheckError as exc:
        outcome.failure = _unreachable_kind(exc)
        return outcome
    outcome.started_at = answer.sent_at
    body = answer.json
    task_id = body.get("task_id") if isinstance(body, dict) else None
    if answer.status != 202 or not isinstance(task_id, str):
        outcome.failure = answer.error or f"status {answer.status}"
        outcome.message = f"execute-stage answered {answer.status}, expected 202 with a task_id"
        if answer.status >= 500:
            outcome.violations = ("E3",)  # a 5xx answer to any request (the SSE side gets it from the core)
        return outcome
    expectation = Expectation(
        transport="ws",
        task_ids=frozenset({task_id}),
        project_id=settings.project_id,
        stage_name=settings.stage,
        task_filter=task_id,
        # The socket opens after the POST returned: the task may have begun (W5 snapshot).
        late_join=True,
    )
    follower = _Follower(StreamValidator(expectation, _bounds(settings)), outcome, late_join_possible=True)

    def terminal_seen(_event: StreamEvent) -> bool:
        return outcome.terminal is not None

    try:
        # The client closes after the terminal event (W7: the server keeps the socket open).
        for event in follow_socket(
            settings.socket_url(task_id),
            open_timeout=settings.read_timeout_s,
            idle_timeout_s=settings.read_timeout_s,
            deadline=outcome.started_at + settings.stream_timeout_s,
            total_timeout_s=settings.stream_timeout_s,
            clock=clock,
            until=terminal_seen,  # checked after this loop has fed the event
        ):
            follower.feed(event)
    except StagecheckError as exc:
        outcome.failure = _unreachable_kind(exc)
    return follower.finish(clock())
