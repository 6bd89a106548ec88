"""Live delivery for the Redis broker: one pub/sub connection per process, fanned out locally.

Each web process holds one Redis pub/sub connection whatever its number of sockets: a
channel is subscribed while at least one local subscriber wants it, and every frame is
decoded once and offered to each local subscriber of its channel. (A connection per
socket would make Redis send every token once per socket, over TCP.)

Handover without loss or duplicates (W5): a subscription holds live frames in a buffer
from the moment its channel is subscribed; then the snapshot is read; then snapshot
messages are queued, followed by the buffered frames that the snapshot did not already
cover (a frame's sequence number against the snapshot's). When the connection to
Redis breaks, every subscriber gets an `error` (code broker_unavailable) for each task
it follows, and the reader reconnects with a bounded backoff; after the channels are
subscribed again, each subscription reads a new snapshot for the tasks it has not seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from .broker import ENDED, Cut, Delivery, Subscription, TaskRecord, encode
from .redis_wire import BrokerUnavailable, Frame, describe_redis_error, lost_message, unpack_frame


async def _close_pubsub(pubsub: PubSub) -> None:
    # redis-py typed `PubSub.aclose` in 8.2 and not before: a typed alias suits both.
    close: Callable[[], Awaitable[object]] = pubsub.aclose
    await close()


logger = logging.getLogger("stagecheck.mock")

CONNECT_WAIT_S = 2.0  # how long a new subscriber waits for a (re)connecting reader
CONFIRM_WAIT_S = 5.0  # how long a SUBSCRIBE may take to be confirmed
MAX_BACKOFF_S = 1.0
# A Redis that stops answering without closing the connection (paused, partitioned) would
# leave the blocking read waiting forever: after this long without a message, a PING goes
# out, and when no answer comes within the same time again, the connection counts as lost.
HEALTH_CHECK_S = 5.0
DROPPED_CODE = 1011  # the task vanished without a terminal message (as InMemoryBroker)


@dataclass(frozen=True, slots=True)
class SnapshotEntry:
    record: TaskRecord
    seq: int  # the last message number the record includes


SnapshotReader = Callable[[int, str, str | None], Awaitable[list[SnapshotEntry]]]


class RedisSubscription(Subscription):
    """One subscriber: a queue of deliveries, fed by the process's pub/sub reader."""

    def __init__(
        self, fanout: Fanout, channel: bytes, project_id: int, stage_name: str, task_filter: str | None
    ) -> None:
        self.fanout = fanout
        self.channel = channel
        self.project_id = project_id
        self.stage_name = stage_name
        self.task_filter = task_filter
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.closed = False
        # Live frames held while a snapshot is being read; None once handed over.
        self._buffer: list[Frame] | None = []
        # Per task: the last message number delivered or covered by a snapshot.
        self._seen: dict[str, int] = {}
        # Tasks whose terminal (or a broker error) was delivered, with when (for pruning).
        self._ended: dict[str, float] = {}

    # -- fed by the fanout --------------------------------------------------------------

    def offer(self, frame: Frame) -> None:
        if self.task_filter is not None and frame.task_id != self.task_filter:
            return
        if self._buffer is not None:
            self._buffer.append(frame)
        else:
            self._accept(frame)

    def _accept(self, frame: Frame) -> None:
        task_id = frame.task_id
        if task_id in self._ended or frame.seq <= self._seen.get(task_id, 0):
            return  # covered by the snapshot, or after the task's end
        self._seen[task_id] = frame.seq
        if frame.kind == "t":
            self.queue.put_nowait(frame.body)
            return
        self.queue.put_nowait(frame.body if frame.kind == "e" else Cut(DROPPED_CODE, frame.body))
        self._end(task_id)

    def _end(self, task_id: str) -> None:
        self._ended[task_id] = time.monotonic()
        if len(self._ended) > 256:
            self._prune()

    def _prune(self) -> None:
        # An ended task can come back only through a snapshot, within the retention time.
        horizon = time.monotonic() - self.fanout.retention_s - 5.0
        for task_id in [t for t, at in self._ended.items() if at < horizon]:
            del self._ended[task_id]
            self._seen.pop(task_id, None)

    def apply_snapshot(self, entries: list[SnapshotEntry]) -> None:
        """Queue the snapshot of tasks not seen yet, then the live frames it does not cover."""
        for entry in entries:
            record = entry.record
            task_id = record.task_id
            if task_id in self._seen or task_id in self._ended:
                continue  # already followed: the buffer holds whatever came since
            self._seen[task_id] = entry.seq
            if record.status in ENDED:
                if record.terminal is not None:
                    self.queue.put_nowait(record.terminal)
                self._end(task_id)
            elif record.full_text:
                snapshot = {
                    "type": "token",
                    "content": record.full_text,
                    "full_text": record.full_text,
                    "task_id": task_id,
                }
                self.queue.put_nowait(encode(snapshot))
        buffered, self._buffer = self._buffer or [], None
        for frame in buffered:
            self._accept(frame)

    def lost(self, url: str, reason: str) -> None:
        """Redis went away: end every task this subscriber follows with an error, hold live frames."""
        for task_id in list(self._seen):
            if task_id not in self._ended:
                self.queue.put_nowait(lost_message(task_id, url, reason))
                self._end(task_id)
        if self._buffer is None:
            self._buffer = []

    # -- Subscription -------------------------------------------------------------------

    async def next(self, timeout: float | None = None) -> Delivery | None:
        if timeout is None:
            return await self.queue.get()
        try:
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None

    def cut(self, code: int, reason: str) -> None:
        self.queue.put_nowait(Cut(code, reason))

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.fanout.leave(self)


class Fanout:
    """The process's pub/sub reader and its local subscribers, by channel."""

    def __init__(
        self,
        client: Redis,
        shown_url: str,
        read_snapshot: SnapshotReader,
        retention_s: float,
        health_check_s: float = HEALTH_CHECK_S,
    ) -> None:
        self.client = client
        self.health_check_s = health_check_s
        self.shown_url = shown_url
        self.read_snapshot = read_snapshot
        self.retention_s = retention_s
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._subs: dict[bytes, set[RedisSubscription]] = {}
        # SUBSCRIBE confirmations arrive in the order the commands were sent: FIFO per channel.
        self._confirm: dict[bytes, deque[asyncio.Future[bool]]] = {}
        self._ready: dict[bytes, asyncio.Future[bool]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self.last_error: str | None = None
        self._last_heard = 0.0  # loop time of the last message from Redis
        self._ping_sent: float | None = None
        self._stale: str | None = None  # why the watchdog closed the connection

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._subs.values())

    @property
    def channels(self) -> int:
        return len(self._subs)

    async def join(self, subscription: RedisSubscription) -> None:
        """Subscribe (if this process does not already) and hand over the snapshot."""
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._run())
            self._spawn(self._watch())
        if not self._connected.is_set():
            try:
                async with asyncio.timeout(CONNECT_WAIT_S):
                    await self._connected.wait()
            except TimeoutError:
                raise BrokerUnavailable(self._unreachable()) from None
        channel = subscription.channel
        subs = self._subs.get(channel)
        if subs is None:
            subs = self._subs[channel] = set()
            self._expect_confirmation(channel)
            try:
                if self._pubsub is None:
                    raise BrokerUnavailable(self._unreachable())
                await self._pubsub.subscribe(channel)
            except (RedisError, OSError, BrokerUnavailable) as exc:
                self._subs.pop(channel, None)
                self._ready.pop(channel, None)
                if isinstance(exc, BrokerUnavailable):
                    raise
                raise BrokerUnavailable(self._unreachable(exc)) from exc
        subs.add(subscription)
        try:
            async with asyncio.timeout(CONFIRM_WAIT_S):
                confirmed = await asyncio.shield(self._ready[channel])
        except (TimeoutError, KeyError):
            confirmed = False
        if not confirmed:
            await self.leave(subscription)
            raise BrokerUnavailable(self._unreachable())
        await self._resync(subscription)

    async def leave(self, subscription: RedisSubscription) -> None:
        subs = self._subs.get(subscription.channel)
        if subs is None or subscription not in subs:
            return
        subs.discard(subscription)
        if subs:
            return
        del self._subs[subscription.channel]
        self._ready.pop(subscription.channel, None)
        if self._pubsub is not None and self._connected.is_set():
            # On failure the reader sees the broken connection and reconnects.
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(subscription.channel)

    async def aclose(self) -> None:
        self._closing = True
        for task in [self._reader, *self._background]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._reader, *self._background] if t is not None), return_exceptions=True)
        self._reader = None
        await self._drop_pubsub()

    # -- the reader ---------------------------------------------------------------------

    def _unreachable(self, exc: BaseException | None = None) -> str:
        reason = describe_redis_error(exc) if exc is not None else (self.last_error or "not connected")
        return f"cannot reach Redis at {self.shown_url}: {reason}; try again later"

    def _expect_confirmation(self, channel: bytes) -> None:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._confirm.setdefault(channel, deque()).append(future)
        self._ready[channel] = future

    async def _run(self) -> None:
        backoff = 0.05
        while not self._closing:
            try:
                if self._pubsub is None:
                    await self._connect()
                    backoff = 0.05
                assert self._pubsub is not None
                message = await self._pubsub.get_message(timeout=None)
                if message is not None:
                    self._handle(message)
            except (RedisError, OSError) as exc:
                self.last_error = self._stale or describe_redis_error(exc)
                self._stale = None
                if self._connected.is_set():
                    logger.warning("lost the connection to Redis at %s: %s", self.shown_url, self.last_error)
                    self._on_lost(self.last_error)
                await self._drop_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _connect(self) -> None:
        pubsub = self.client.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            await _close_pubsub(pubsub)
            raise
        self._pubsub = pubsub
        channels = list(self._subs)
        if channels:
            for channel in channels:
                self._confirm[channel] = deque()
                self._expect_confirmation(channel)
            await pubsub.subscribe(*channels)
            waits = {channel: self._ready[channel] for channel in channels}
            self._spawn(self._resync_after(waits))
        self._last_heard = asyncio.get_running_loop().time()
        self._ping_sent = None
        self._connected.set()
        self.last_error = None

    async def _watch(self) -> None:
        """PING an idle connection; close it when Redis does not answer (the reader then reports it)."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            await asyncio.sleep(self.health_check_s / 2)
            pubsub = self._pubsub
            if pubsub is None or not self._connected.is_set():
                continue
            now = loop.time()
            if self._ping_sent is not None and now - self._ping_sent > self.health_check_s:
                self._stale = f"no answer to PING within {self.health_check_s:g} s"
                connection: Any = pubsub.connection
                if connection is not None:
                    await connection.disconnect(nowait=True)
            elif self._ping_sent is None and now - self._last_heard > self.health_check_s:
                self._ping_sent = now
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.ping()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _resync_after(self, waits: dict[bytes, asyncio.Future[bool]]) -> None:
        for channel, ready in waits.items():
            if not await asyncio.shield(ready):
                return  # lost again: the next reconnection resyncs
            for subscription in list(self._subs.get(channel, ())):
                await self._resync(subscription)

    async def _resync(self, subscription: RedisSubscription) -> None:
        try:
            entries = await self.read_snapshot(
                subscription.project_id, subscription.stage_name, subscription.task_filter
            )
        except (RedisError, OSError) as exc:
            # The reader notices the same failure and reports it to every subscriber.
            logger.warning("could not read a snapshot from Redis at %s: %s", self.shown_url, exc)
            return
        subscription.apply_snapshot(entries)

    def _handle(self, message: dict[str, Any]) -> None:
        self._last_heard = asyncio.get_running_loop().time()
        self._ping_sent = None
        kind = message["type"]
        channel = message["channel"]
        if kind == "message":
            frame = unpack_frame(message["data"])
            if frame is None:
                return
            for subscription in self._subs.get(channel, ()):
                subscription.offer(frame)
        elif kind == "subscribe":
            pending = self._confirm.get(channel)
            if pending:
                future = pending.popleft()
                if not future.done():
                    future.set_result(True)
                if not pending:
                    del self._confirm[channel]

    def _on_lost(self, reason: str) -> None:
        self._connected.clear()
        for pending in self._confirm.values():
            for future in pending:
                if not future.done():
                    future.set_result(False)
        self._confirm.clear()
        self._ready.clear()
        for subs in self._subs.values():
            for subscription in subs:
                subscription.lost(self.shown_url, reason)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await _close_pubsub(pubsub)
