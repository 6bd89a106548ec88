"""What the WebSocket transports report when a socket does not open or stops (sync and async).

A close code is an observation (W1 expects 4404, E2 expects 4401), so closes and rejected
handshakes become `StreamClosed` events; only a target that cannot be reached at all, or a
URL that is not a WebSocket URL, raises.
"""

from __future__ import annotations

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from stagecheck.contracts.events import StreamClosed, WsMessage
from stagecheck.errors import ConfigError

from .failures import unreachable

ABNORMAL_CLOSURE = 1006  # RFC 6455: the connection dropped without a close frame
INTERNAL_ERROR = 1011  # what websockets sends when its keep-alive ping goes unanswered
QUEUE_SIZE = 4096  # messages stamped but not yet read by the caller; the reader waits beyond


def message_event(data: str | bytes, at: float) -> WsMessage:
    if isinstance(data, str):
        return WsMessage(at, text=data)
    return WsMessage(at, binary=bytes(data))


def closed_event(exc: ConnectionClosed, at: float) -> StreamClosed:
    """The StreamClosed for a socket that stopped; `by_client` when our side closed first."""
    rcvd, sent = exc.rcvd, exc.sent
    if rcvd is None:
        if sent is not None and sent.code == INTERNAL_ERROR:
            error = "keep-alive ping went unanswered"
        else:
            error = "connection lost without a close frame"
        return StreamClosed(at, code=ABNORMAL_CLOSURE, error=error, by_client=sent is not None)
    by_client = sent is not None and not exc.rcvd_then_sent
    return StreamClosed(at, code=rcvd.code, reason=rcvd.reason, by_client=by_client)


def failed_open(url: str, exc: Exception, at: float, open_timeout: float) -> StreamClosed:
    """The StreamClosed for a handshake the target answered but did not complete.

    Raises TargetUnreachable when nothing answered, ConfigError for a URL that is not ws(s)://.
    """
    if isinstance(exc, InvalidURI):
        raise ConfigError(f"{url} is not a WebSocket URL: {exc}; use ws://host:port/path or wss://") from exc
    if isinstance(exc, InvalidStatus):
        response = exc.response
        body = response.body.decode("utf-8", "replace").strip()[:200] if response.body else ""
        return StreamClosed(
            at,
            reason=body,
            error=f"handshake rejected with HTTP {response.status_code} {response.reason_phrase}".rstrip(),
        )
    if isinstance(exc, InvalidHandshake):
        return StreamClosed(at, error=f"handshake failed: {exc}")
    if isinstance(exc, (OSError, TimeoutError)):
        raise unreachable(url, exc, timeout=open_timeout) from exc
    raise exc
