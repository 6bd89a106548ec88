"""Sans-I/O core of the SSE transports: an HTTP answer in, stream events out.

`sse_async` and `sse_sync` only move bytes and read the clock; this class decides what
each head, chunk and ending becomes, so both drivers yield exactly the same events.
"""

from __future__ import annotations

from collections.abc import Iterable

from stagecheck.contracts.events import ResponseBody, ResponseHead, SseComment, SseEvent, StreamClosed, StreamEvent
from stagecheck.contracts.sse_parser import SseParser

EVENT_STREAM = "text/event-stream"


def is_event_stream(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == EVENT_STREAM


class SseReading:
    """One answer being read: the head decides between SSE events and one whole body."""

    def __init__(self, max_events: int | None = None) -> None:
        if max_events is not None and max_events < 1:
            raise ValueError(f"max_events must be at least 1, got {max_events}")
        self.max_events = max_events
        self.is_stream = False
        self.events = 0
        self.ended = False
        self._parser = SseParser()
        self._body: list[bytes] = []

    @property
    def limit_reached(self) -> bool:
        """True once max_events events were delivered: the client stops reading."""
        return self.max_events is not None and self.events >= self.max_events

    def head(self, at: float, status: int, headers: Iterable[tuple[str, str]]) -> ResponseHead:
        pairs = tuple((name.lower(), value) for name, value in headers)
        head = ResponseHead(at, status, pairs)
        self.is_stream = is_event_stream(head.header("content-type"))
        return head

    def chunk(self, data: bytes, at: float) -> list[StreamEvent]:
        """Bytes received at `at`; returns the events they completed (none past max_events)."""
        if not self.is_stream:
            self._body.append(data)
            return []
        return self._count(self._parser.feed(data, at))

    def _count(self, parsed: list[SseEvent | SseComment]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in parsed:
            if self.limit_reached:
                break
            out.append(event)
            if isinstance(event, SseEvent):
                self.events += 1
        return out

    def end(self, at: float, *, error: str | None = None, by_client: bool = False) -> list[StreamEvent]:
        """The answer ended at `at`: the last events, then exactly one StreamClosed."""
        if self.ended:
            return []
        self.ended = True
        out: list[StreamEvent] = []
        if self.is_stream:
            # A last event without its blank line is dropped by the parser (WHATWG rule).
            out.extend(self._count(self._parser.close(at)))
        elif error is None:
            out.append(ResponseBody(at, b"".join(self._body)))
        out.append(StreamClosed(at, error=error, by_client=by_client))
        return out

    def stop_at_limit(self, at: float) -> list[StreamEvent]:
        """The client stops because max_events were delivered."""
        return self.end(at, error=f"max_events ({self.max_events}) reached", by_client=True)
