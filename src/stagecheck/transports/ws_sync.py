"""Follow a WebSocket channel with the sync `websockets` client (the twin of ws_async).

Runs under gevent monkey-patching (Locust), where each thread is a greenlet. A reader
thread receives every message as it arrives and stamps it there, so a caller busy elsewhere
does not delay the timestamps. Closes, rejected handshakes and breaks are reported as a
`StreamClosed` from `events()`; sends on a closed socket are dropped for the same reason.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, suppress
from types import TracebackType

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from stagecheck.contracts.events import StreamClosed, StreamEvent, WsOpened

from .failures import idle_timeout_text, total_timeout_text
from .ws_outcomes import QUEUE_SIZE, closed_event, failed_open, message_event

CLOSE_TIMEOUT = 2.0  # seconds to wait for the server's answer to our close frame
READER_JOIN_TIMEOUT = 5.0


class WsSubscription:
    """One open socket; use as `with subscribe(url) as sub:`."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        open_timeout: float = 5.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.url = url
        self._headers = dict(headers or {})
        self._open_timeout = open_timeout
        self._clock = clock
        self._ws: ClientConnection | None = None
        self._stack = ExitStack()
        self._queue: queue.Queue[StreamEvent] = queue.Queue(QUEUE_SIZE)
        self._reader: threading.Thread | None = None
        self._first: WsOpened | StreamClosed | None = None
        self.handshake_status: int | None = None
        """HTTP status of the handshake answer: 101 when the socket opened, else the rejection."""
        self.ended: StreamClosed | None = None
        """The StreamClosed that `events()` yielded; nothing follows it."""

    def __enter__(self) -> WsSubscription:
        try:
            # Entered as a context manager, the way websockets >= 17 wants a direct connection.
            ws = self._stack.enter_context(
                connect(
                    self.url,
                    additional_headers=self._headers,
                    open_timeout=self._open_timeout,
                    close_timeout=CLOSE_TIMEOUT,
                )
            )
        except Exception as exc:
            # Raises TargetUnreachable or ConfigError; a target that answered is observed instead.
            self._first = failed_open(self.url, exc, self._clock(), self._open_timeout)
            if isinstance(exc, InvalidStatus):
                self.handshake_status = exc.response.status_code
            return self
        self._first = WsOpened(self._clock())
        self._ws = ws
        self.handshake_status = ws.response.status_code if ws.response is not None else None
        self._reader = threading.Thread(target=self._read, args=(ws,), name="stagecheck-ws-reader", daemon=True)
        self._reader.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
        self._stack.close()
        if self._reader is not None:
            self._drain()  # a reader blocked on a full queue can then finish
            self._reader.join(READER_JOIN_TIMEOUT)

    def _read(self, ws: ClientConnection) -> None:
        while True:  # ends when the socket closes, which recv() reports by raising
            try:
                data = ws.recv()
            except ConnectionClosed as exc:
                self._put(closed_event(exc, self._clock()))
                return
            self._put(message_event(data, self._clock()))

    def _put(self, event: StreamEvent) -> None:
        # After the caller has stopped reading, nobody drains the queue: do not block forever.
        with suppress(queue.Full):
            self._queue.put(event, timeout=None if self.ended is None else 0)

    def _drain(self) -> None:
        with suppress(queue.Empty):
            for _ in range(QUEUE_SIZE):
                self._queue.get_nowait()

    def events(
        self,
        *,
        idle_timeout_s: float = 10.0,
        total_timeout: float | None = None,
        until: Callable[[StreamEvent], bool] | None = None,
    ) -> Iterator[StreamEvent]:
        """WsOpened (first call only), WsMessage as they arrive, and StreamClosed at the end.

        Stops after an event for which `until(event)` is true, leaving the socket open; call
        again to read on. An idle or total timeout closes the socket and ends with a
        StreamClosed(by_client=True, error=...).
        """
        if self.ended is not None:
            return
        deadline = None if total_timeout is None else self._clock() + total_timeout
        if self._first is not None:
            first, self._first = self._first, None
            if isinstance(first, StreamClosed):
                self.ended = first
            yield first
            if self.ended is not None or (until is not None and until(first)):
                return
        while True:  # bounded: every wait is limited by idle_timeout_s
            wait = idle_timeout_s if deadline is None else min(idle_timeout_s, deadline - self._clock())
            by_total = wait < idle_timeout_s
            try:
                event = self._queue.get(timeout=max(0.0, wait))
            except queue.Empty:
                at = self._clock()
                self.ended = StreamClosed(
                    at,
                    error=total_timeout_text(total_timeout) if by_total else idle_timeout_text(idle_timeout_s),
                    by_client=True,
                )
                self.close()
                yield self.ended
                return
            if isinstance(event, StreamClosed):
                self.ended = event
            yield event
            if self.ended is not None or (until is not None and until(event)):
                return

    def send_text(self, text: str) -> None:
        self._send(text)

    def send_bytes(self, data: bytes) -> None:
        self._send(data)

    def send_json(self, obj: object) -> None:
        self._send(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))

    def _send(self, data: str | bytes) -> None:
        if self._ws is None:
            return
        with suppress(ConnectionClosed):
            self._ws.send(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (waits briefly for the server's answer); safe to call twice."""
        if self._ws is not None:
            self._ws.close(code, reason)


def subscribe(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    open_timeout: float = 5.0,
    clock: Callable[[], float] = time.perf_counter,
) -> WsSubscription:
    """A subscription to open with `with`; raises TargetUnreachable if nothing answers."""
    return WsSubscription(url, headers=headers, open_timeout=open_timeout, clock=clock)
