"""Follow one WebSocket as timestamped contract events in the caller's own thread or greenlet.

The reader for gevent (the load users under Locust), beside the `ws_sync`/`ws_async`
twins. It has no async twin: under asyncio, `ws_async`'s reader task already stamps each
message as it arrives. The socket is a plain (under Locust, gevent-patched) socket driven by the `websockets` sans-I/O
`ClientProtocol`: bytes read in chunks of up to 64 KiB, each chunk stamped as `recv`
returns, frames parsed from it. Why not `ws_sync`? Under gevent each of its
messages crosses two greenlet hand-offs (its receive thread, then its reader thread)
before it is stamped; measured against a toy server that records its send times (100
users, `tokens=10, delay-ms=100, first-delay-ms=300`, on this shared 2-core machine) its
p50 TTFT was 88 ms later than the truth. `websocket-client` stamped well (4 ms) but reads
each frame with two or three `recv` calls, which cut the events/s one process consumes
to a fifth. Reading chunks in the user's own greenlet keeps both. The events are the
contract's types, as the transports produce them, so the rules core sees no difference.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from functools import cache

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidState, InvalidStatus, InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

from stagecheck.contracts.events import StreamClosed, StreamEvent, WsMessage, WsOpened
from stagecheck.errors import ConfigError

from .failures import idle_timeout_text, total_timeout_text, unreachable

ABNORMAL_CLOSURE = 1006
CLOSE_TIMEOUT_S = 1.0  # wait for the server's answer to our close; the figures are already taken
CHUNK = 65536
MIN_WAKE_WAIT_S = 0.001  # a read never waits 0 s: settimeout(0) would make the socket non-blocking

# `sends(now)` -> (texts to send now, when to be called again; None: only after the next read).
Sends = Callable[[float], tuple[Sequence[str], float | None]]


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class _Socket:
    """The connection and its protocol state; sends whatever the protocol wants sent."""

    def __init__(self, url: str, open_timeout: float) -> None:
        try:
            uri = parse_uri(url)
        except InvalidURI as exc:
            raise ConfigError(f"{url} is not a WebSocket URL: {exc}") from exc
        try:
            sock = socket.create_connection((uri.host, uri.port), timeout=open_timeout)
        except OSError as exc:
            raise unreachable(url, exc, timeout=open_timeout) from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock: socket.socket = _tls().wrap_socket(sock, server_hostname=uri.host) if uri.secure else sock
        self.protocol = ClientProtocol(uri)
        self.protocol.send_request(self.protocol.connect())
        self.flush()

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def send_texts(self, texts: Sequence[str]) -> bool:
        """Send text frames now; False when the connection is gone."""
        try:
            for text in texts:
                self.protocol.send_text(text.encode())
            self.flush()
        except (OSError, InvalidState):
            return False
        return True

    def read(self, timeout: float) -> bytes:
        """One chunk (b"" at EOF); raises TimeoutError after `timeout` seconds without a byte."""
        self.sock.settimeout(timeout)
        return self.sock.recv(CHUNK)

    def feed(self, data: bytes) -> list[Frame | Response]:
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        events = self.protocol.events_received()
        self.flush()  # pongs, the close handshake's answer
        return [e for e in events if isinstance(e, (Frame, Response))]

    def close(self) -> None:
        try:
            opened = self.protocol.state is State.OPEN  # no close frame before the handshake's answer
            if opened and self.protocol.close_sent is None and self.protocol.close_rcvd is None:
                self.protocol.send_close(1000)
                self.flush()
                self.sock.settimeout(CLOSE_TIMEOUT_S)
                while self.protocol.close_rcvd is None:  # bounded by the timeout per read
                    data = self.sock.recv(CHUNK)
                    self.feed(data)
                    if not data:
                        break
        except OSError:
            pass  # the server went first; nothing left to say
        finally:
            self.sock.close()

    def drop(self) -> None:
        """Cut the connection with no close frame: the server sees it lost (1006), as on a network drop."""
        self.sock.close()


def _message(frame: Frame, at: float, parts: list[bytes], kind: list[Opcode]) -> WsMessage | None:
    """A whole message from data frames (fragments are joined); None while one is unfinished."""
    if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
        parts.clear()
        kind[:] = [frame.opcode]
    parts.append(bytes(frame.data))
    if not frame.fin:
        return None
    data = b"".join(parts)
    parts.clear()
    if kind and kind[0] is Opcode.TEXT:
        return WsMessage(at, text=data.decode("utf-8", "replace"))
    return WsMessage(at, binary=data)


def follow_socket(
    url: str,
    *,
    open_timeout: float,
    idle_timeout_s: float,
    deadline: float | None,
    total_timeout_s: float | None,
    clock: Callable[[], float],
    until: Callable[[StreamEvent], bool],
    drop: bool = False,
    sends: Sends | None = None,
) -> Iterator[StreamEvent]:
    """WsOpened, WsMessage as they arrive, then a StreamClosed; stops (and closes) after `until`.

    Raises TargetUnreachable when nothing accepts the connection. A rejected handshake, a
    close, a break or a timeout ends the events with a StreamClosed saying so. `drop`: stop
    by cutting the connection without the close handshake (a client whose network went).
    `sends` (after the handshake, before every read): the client's own frames, e.g. pings at
    set times; a read cut short by its wake-up time is not a timeout, and the idle bound then
    counts from the last byte received.
    """
    conn = _Socket(url, open_timeout)
    opened = False
    parts: list[bytes] = []
    kind: list[Opcode] = []
    quiet_since = clock()
    try:
        while True:  # bounded: every read waits at most idle_timeout_s, and the deadline ends it
            now = clock()
            wake: float | None = None
            if sends is not None and opened:
                texts, wake = sends(now)
                if texts and not conn.send_texts(texts):
                    yield StreamClosed(clock(), code=ABNORMAL_CLOSURE, error="connection lost without a close frame")
                    return
            idle_left = idle_timeout_s if sends is None else idle_timeout_s - (now - quiet_since)
            by_total = deadline is not None and deadline - now < idle_left
            wait = deadline - now if by_total and deadline is not None else idle_left
            if not opened:
                wait = min(wait, open_timeout)
            if wait <= 0:
                text = total_timeout_text(total_timeout_s) if by_total else idle_timeout_text(idle_timeout_s)
                yield StreamClosed(now, error=text, by_client=True)
                return
            woken = wake is not None and wake - now < wait
            if woken and wake is not None:
                wait = max(wake - now, MIN_WAKE_WAIT_S)
            try:
                data = conn.read(wait)
            except TimeoutError:
                if woken:
                    continue
                at = clock()
                if not opened:
                    raise unreachable(url, TimeoutError("no handshake answer"), timeout=open_timeout) from None
                text = total_timeout_text(total_timeout_s) if by_total else idle_timeout_text(idle_timeout_s)
                yield StreamClosed(at, error=text, by_client=True)
                return
            except OSError:
                yield StreamClosed(clock(), code=ABNORMAL_CLOSURE, error="connection lost without a close frame")
                return
            at = quiet_since = clock()
            for event in conn.feed(data):
                if isinstance(event, Response):
                    exc = conn.protocol.handshake_exc
                    if exc is not None:
                        status = exc.response.status_code if isinstance(exc, InvalidStatus) else None
                        text = f"handshake rejected with HTTP {status}" if status else f"handshake failed: {exc}"
                        yield StreamClosed(at, error=text)
                        return
                    opened = True
                    first = WsOpened(at)
                    yield first
                    if until(first):
                        return
                    continue
                if event.opcode is Opcode.CLOSE:
                    close = conn.protocol.close_rcvd
                    yield StreamClosed(at, code=close.code if close else 1005, reason=close.reason if close else "")
                    return
                if event.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                    message = _message(event, at, parts, kind)
                    if message is not None:
                        yield message
                        if until(message):
                            return
            if not data:
                if conn.protocol.handshake_exc is not None and not opened:
                    yield StreamClosed(at, error=f"handshake failed: {conn.protocol.handshake_exc}")
                else:
                    yield StreamClosed(at, code=ABNORMAL_CLOSURE, error="connection lost without a close frame")
                return
    finally:
        if drop:
            conn.drop()
        else:
            conn.close()
