"""Timestamped events that transports produce and the rules core consumes.

`at` is seconds on whatever monotonic clock the caller uses; the core only subtracts
times, it never reads a clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass


def header_value(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of header `name` (any case) among lower-cased (name, value) pairs; None if absent."""
    name = name.lower()
    for key, value in headers:
        if key == name:
            return value
    return None


@dataclass(frozen=True, slots=True)
class RequestSent:
    """The request that opens the stream left the client (start of TTFT and Q6)."""

    at: float


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """Status line and headers of an HTTP answer (header names lower-cased)."""

    at: float
    status: int
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


@dataclass(frozen=True, slots=True)
class ResponseBody:
    """The whole body of an answer that is not an event stream (an error body, a 202)."""

    at: float
    body: bytes


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched SSE event; `at` is the arrival of its first byte."""

    at: float
    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


@dataclass(frozen=True, slots=True)
class SseComment:
    """A comment line (`: keep-alive`); not an event (S3)."""

    at: float
    text: str = ""


@dataclass(frozen=True, slots=True)
class WsOpened:
    """The WebSocket handshake completed."""

    at: float


@dataclass(frozen=True, slots=True)
class WsMessage:
    """One WebSocket data frame; exactly one of text and binary is set."""

    at: float
    text: str | None = None
    binary: bytes | None = None


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The stream ended: the server closed the SSE body or the WebSocket.

    `code`/`reason` are the WebSocket close code and reason (None for SSE). `error` is
    set when the connection broke rather than closed cleanly; `by_client` when the
    client ended it (the server's own close is what W7 and S4 judge).
    """

    at: float
    code: int | None = None
    reason: str = ""
    error: str | None = None
    by_client: bool = False


StreamEvent = RequestSent | ResponseHead | ResponseBody | SseEvent | SseComment | WsOpened | WsMessage | StreamClosed
