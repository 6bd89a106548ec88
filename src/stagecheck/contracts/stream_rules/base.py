"""What both transports share: task state, accumulation (Q2-Q4), schemas (M1), timing (Q6).

`StreamValidator` holds the rules that read the same on an SSE stream and a WebSocket
subscription; `SseStreamValidator` (`sse.py`) and `WsStreamValidator` (`ws.py`) add their
transport's rules by overriding the hooks below, as the `websockets` library's protocol
layer has one base class and one subclass per role. `StreamValidator(expect, ...)`
returns the subclass for `expect.transport`, the way `pathlib.Path(...)` returns a
`PosixPath`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..events import (
    RequestSent,
    ResponseHead,
    SseComment,
    StreamClosed,
    StreamEvent,
    WsOpened,
)
from ..messages import MessageSchemas, message_schemas
from ..violations import Severity, Violation

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

    first_event_timeout_s: float = 10.0
    idle_timeout_s: float = 10.0
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


# Transport name -> validator class, filled by the subclasses as they are defined.
_VALIDATORS: dict[str, type[StreamValidator]] = {}


@dataclass
class StreamValidator:
    """Validates one SSE stream or one WebSocket subscription against docs/protocol.md.

    Calling `StreamValidator(expect, ...)` builds the subclass for `expect.transport`;
    every validator is an instance of this class. Subclasses name their transport
    (`class SseStreamValidator(StreamValidator, transport="sse")`), their message event
    class (`_message_kind`) and implement the hooks `_message`, `_finish_stream` and,
    where they need them, `_response_head` and `_closed_by_server`.
    """

    expect: Expectation
    bounds: Bounds = field(default_factory=Bounds)
    schemas: MessageSchemas | None = None

    # The event class that carries this transport's messages (SseEvent, WsMessage).
    _message_kind: ClassVar[type[StreamEvent]]

    def __init_subclass__(cls, transport: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if transport is not None:
            _VALIDATORS[transport] = cls

    def __new__(cls, *args: Any, **kwargs: Any) -> StreamValidator:
        if cls is not StreamValidator:
            return object.__new__(cls)  # a subclass named directly, or copy/pickle rebuilding one
        expect = args[0] if args else kwargs.get("expect")
        transport = getattr(expect, "transport", None)
        chosen = _VALIDATORS.get(transport) if isinstance(transport, str) else None
        if chosen is None:
            raise ValueError(f"no stream validator for transport {transport!r} (known: {sorted(_VALIDATORS)})")
        return object.__new__(chosen)

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
        self._types = self.schemas.types
        self._idle_s = self.bounds.idle_timeout_s
        # An instance copy of the class's `_message_kind`: faster for `feed` to read.
        self._message_class: type[StreamEvent] = self._message_kind

    # -- public API -----------------------------------------------------------------

    def feed(self, event: StreamEvent) -> list[Violation]:
        """Take one event; return the violations it caused (also kept in `violations`).

        Events this transport has no rules for (the other transport's messages, a
        response body) are ignored.
        """
        self._new = []
        kind = event.__class__  # identity checks: this runs on every event of a load test
        if kind is self._message_class:
            at = event.at
            last = self.last_activity_at
            if last is not None and at - last <= self._idle_s:
                self.events += 1  # the common case, inlined: no gap to judge
                self.last_activity_at = at
            else:
                self._activity(at)
            self._message(event)
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
        self._finish_stream(at)
        return self._new

    @property
    def primary(self) -> TaskState:
        """The task this client follows."""
        for task_id in self.expect.task_ids:
            if task_id in self.tasks:
                return self.tasks[task_id]
        return TaskState()

    @property
    def complete(self) -> bool:
        return self.primary.terminal is not None

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]

    # -- hooks for the transports -------------------------------------------------------

    def _message(self, event: Any) -> None:
        """One event of `_message_kind`, already counted as activity (Q6)."""
        raise NotImplementedError

    def _finish_stream(self, at: float) -> None:
        """The transport's end-of-stream rules, after the final Q6 check."""
        raise NotImplementedError

    def _response_head(self, head: ResponseHead) -> None:
        """The HTTP answer's head; only SSE reads one."""

    def _closed_by_server(self, event: StreamClosed) -> None:
        """The server closed the stream (first close only, not after a failed head)."""

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
            if self.started_at is not None and at - self.started_at > self.bounds.first_event_timeout_s:
                self._report(
                    "Q6",
                    "first event arrived too late",
                    received=f"{at - self.started_at:.3f} s after the request",
                    expected=f"within {self.bounds.first_event_timeout_s:g} s (first-event bound)",
                    at=at,
                    index=self.events,
                )
        else:
            self._check_gap(at)
        self.last_activity_at = at

    def _check_gap(self, at: float, final: bool = False) -> None:
        last = self.last_activity_at
        if last is None:
            if final and self.started_at is not None and at - self.started_at > self.bounds.first_event_timeout_s:
                self._report(
                    "Q6",
                    "no event arrived",
                    received=f"nothing in {at - self.started_at:.3f} s",
                    expected=f"a first event within {self.bounds.first_event_timeout_s:g} s",
                    at=at,
                )
            return
        if final and self.primary.terminal is not None:
            return  # a quiet stream after its terminal event is S4/W7 business, not Q6
        if at - last > self.bounds.idle_timeout_s:
            self._report(
                "Q6",
                "stream went silent" if final else "gap between events too long",
                received=f"{at - last:.3f} s without an event",
                expected=f"at most {self.bounds.idle_timeout_s:g} s between events (idle bound)",
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

    def _closed(self, event: StreamClosed) -> None:
        if self.closed_at is not None:
            return
        self.closed_at = event.at
        if self._head_failed:
            return
        if not event.by_client:
            self._closed_by_server(event)

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
                if self._after_snapshot(state, 1):
                    self._report(
                        "W5",
                        "the late subscriber's snapshot is not the task's text: done.full_text differs from it",
                        received=f"snapshot {state.full_text!r}, then done {full_text!r}",
                        expected="a snapshot token holding all text so far, which done.full_text extends",
                        at=at,
                        index=index,
                        task_id=shown_id,
                    )
                    return
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
                    "the first token a late subscriber got is not a snapshot of all the text so far "
                    "(no snapshot, or a partial one)"
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
            if self._after_snapshot(state, 2) and full_text.endswith(content):
                # The live token is whole (its full_text ends with its content): what it does not
                # continue is the snapshot, which was not all the text so far (W5, not Q2).
                self._report(
                    "W5",
                    "the late subscriber's snapshot is not all the text so far: the next token does not continue it",
                    received=f"snapshot {previous!r}, then full_text {full_text!r}",
                    expected=f"a snapshot of {full_text[: len(full_text) - len(content)]!r}, the text before "
                    f"{content!r}",
                    at=at,
                    index=index,
                    task_id=task_id,
                )
                return
            self._report(
                "Q2",
                "full_text is not the previous full_text plus content",
                received=f"full_text {full_text!r}",
                expected=f"{previous!r} + {content!r}",
                at=at,
                index=index,
                task_id=task_id,
            )

    def _after_snapshot(self, state: TaskState, tokens: int) -> bool:
        """A late join whose first token (the snapshot, W5) is `tokens` ago: 1 on the terminal event, 2 on a token."""
        return self.expect.late_join and not self.expect.task_ended and state.tokens == tokens

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
