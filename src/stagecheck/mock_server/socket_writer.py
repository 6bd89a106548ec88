"""Writing a subscription's deliveries to one WebSocket as they arrive.

A writer task that waits for each delivery pays a task wake-up and the resumption of the
whole ASGI stack per message, the cost paced.py removes from SSE streams. The in-memory
broker hands each delivery to `SocketWriter.deliver` instead, which sends it at once
(paced.run_eagerly) unless an earlier send still waits for the client to read
(back-pressure): then it queues, in order. Subscriptions that can only be read (Redis)
feed the writer from a pump task.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from starlette.types import Send
from starlette.websockets import WebSocketDisconnect

from .broker import Cut, Delivery, Subscription, encode
from .paced import run_eagerly

SEND_ERRORS = (WebSocketDisconnect, OSError, RuntimeError)  # RuntimeError: Starlette, socket already closed


class SocketWriter:
    """Sends deliveries in order; `ended` resolves with the Cut that ends the socket, None if the client left."""

    def __init__(self, send: Send, heartbeat_s: float | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.send = send
        self.heartbeat_s = heartbeat_s
        self.ended: asyncio.Future[Cut | None] = self.loop.create_future()
        self.busy: asyncio.Future[Any] | None = None  # a send waiting on back-pressure
        self._queue: deque[Delivery] = deque()
        self._last_write = self.loop.time()
        self._beat: asyncio.TimerHandle | None = None
        if heartbeat_s is not None:
            self._beat = self.loop.call_at(self._last_write + heartbeat_s, self._heartbeat)

    def deliver(self, delivery: Delivery) -> None:
        if self.ended.done():
            return
        if self.busy is not None:
            self._queue.append(delivery)
        else:
            self._write(delivery)

    def close(self) -> None:
        """Stop: nothing more is sent."""
        if self._beat is not None:
            self._beat.cancel()
        if self.busy is not None:
            self.busy.remove_done_callback(self._sent)
        self._queue.clear()
        if not self.ended.done():
            self.ended.set_result(None)

    def _write(self, delivery: Delivery) -> None:
        if isinstance(delivery, Cut):
            self._end(delivery)
            return
        try:
            pending = run_eagerly(self.send({"type": "websocket.send", "text": delivery}))
        except SEND_ERRORS:
            self._end(None)
            return
        if self._beat is not None:
            self._last_write = self.loop.time()
        if pending is not None:
            self.busy = pending
            pending.add_done_callback(self._sent)

    def _sent(self, pending: asyncio.Future[Any]) -> None:
        self.busy = None
        error = None if pending.cancelled() else pending.exception()
        if pending.cancelled() or isinstance(error, SEND_ERRORS):
            self._end(None)
            return
        if error is not None:  # not the client leaving: a bug, raised where the socket is served
            self._end(error)
            return
        while self._queue and self.busy is None and not self.ended.done():
            self._write(self._queue.popleft())

    def _heartbeat(self) -> None:
        assert self.heartbeat_s is not None
        if self.loop.time() - self._last_write >= self.heartbeat_s and self.busy is None:
            self.deliver(encode({"type": "heartbeat", "ts": time.time()}))
            self._last_write = self.loop.time()
        if not self.ended.done():
            self._beat = self.loop.call_at(self._last_write + self.heartbeat_s, self._heartbeat)

    def _end(self, outcome: Cut | BaseException | None) -> None:
        if self._beat is not None:
            self._beat.cancel()
        self._queue.clear()
        if self.ended.done():
            return
        if isinstance(outcome, BaseException):
            self.ended.set_exception(outcome)
        else:
            self.ended.set_result(outcome)


async def pump(subscription: Subscription, writer: SocketWriter) -> None:
    """Feed a writer from a subscription that can only be read, one delivery at a time."""
    while not writer.ended.done():
        delivery = await subscription.next()
        if delivery is not None:
            writer.deliver(delivery)
        if writer.busy is not None:  # the client reads slowly: read no further ahead
            await asyncio.wait([writer.busy])
