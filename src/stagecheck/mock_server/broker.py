"""The task and fan-out layer, as Celery + Redis would provide it, behind one interface.

A `Broker` keeps task status (the result backend), fans each task's messages out to
every subscriber of its project and stage (pub/sub), and gives late subscribers a
snapshot (W5). The routes only talk to this interface; `InMemoryBroker` is the
single-process implementation, and a Redis one can replace it without touching them.

Messages travel as encoded JSON text, encoded once per publish whatever the number of
subscribers.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

# Celery's states, in the order a task moves through them (T1, T3: only forward).
STATUS_ORDER = ("PENDING", "STARTED", "PROGRESS", "SUCCESS", "FAILURE", "REVOKED")
ENDED = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


@functools.lru_cache(maxsize=4096)
def _escaped_piece(content: str) -> str:
    """A token's text as a JSON string body (no quotes); tasks of one plan share their tokens."""
    return orjson.dumps(content).decode()[1:-1]


@dataclass(frozen=True, slots=True)
class Cut:
    """Tells a subscriber its socket must close with this code (drop, bad frame, shutdown)."""

    code: int
    reason: str


Delivery = str | Cut
"""What a subscription yields: an encoded JSON message, or an order to close."""


@dataclass(slots=True)
class TaskRecord:
    """A task's state as the result backend holds it."""

    task_id: str
    project_id: int
    stage_name: str
    status: str = "PENDING"
    full_text: str = ""
    error: str | None = None
    ended_at: float | None = None
    # The terminal message, replayed to late subscribers (W5); None while running or when dropped.
    terminal: str | None = None

    def status_body(self) -> dict[str, Any]:
        """The task-status answer (T1)."""
        body: dict[str, Any] = {"task_id": self.task_id, "stage_name": self.stage_name, "status": self.status}
        if self.status in ("SUCCESS", "PROGRESS"):
            body["result"] = {"full_text": self.full_text}
        elif self.status == "FAILURE":
            body["error"] = self.error or "task failed"
        return body


@dataclass(frozen=True, slots=True)
class BrokerStats:
    """Counters that show whether resources are freed (disconnect cleanup, eviction)."""

    subscribers: int
    channels: int
    running_tasks: int
    retained_tasks: int


class Subscription(ABC):
    """One subscriber's stream of deliveries for a project and stage."""

    @abstractmethod
    async def next(self, timeout: float | None = None) -> Delivery | None:
        """The next delivery; None when `timeout` seconds passed without one."""

    @abstractmethod
    def cut(self, code: int, reason: str) -> None:
        """Make the subscriber close: `next` returns a Cut once what is queued before it is read."""

    def push_to(self, sink: Callable[[Delivery], None]) -> bool:
        """Hand every delivery to `sink` as it arrives, queued ones first, instead of `next`.

        False when this subscription can only be read with `next` (the caller pumps it).
        """
        return False

    @abstractmethod
    async def close(self) -> None:
        """Unsubscribe and free everything the subscription holds."""


class Broker(ABC):
    """Task status store and pub/sub for task messages."""

    # True when the task-side calls (started, token, done, fail, drop) never wait and use
    # nothing of the task they run in: the worker then runs them straight from its pacer,
    # outside any task (paced.py). A broker that does I/O (timeouts need their own task)
    # leaves it False and each call gets a task.
    runs_outside_a_task: ClassVar[bool] = False

    @abstractmethod
    async def create_task(self, project_id: int, stage_name: str) -> TaskRecord:
        """Issue a task id (uuid4) in PENDING."""

    @abstractmethod
    async def started(self, task_id: str) -> None:
        """The worker picked the task up (STARTED)."""

    @abstractmethod
    async def token(self, task_id: str, content: str) -> None:
        """Append a piece of text (PROGRESS) and publish a token message."""

    @abstractmethod
    async def done(self, task_id: str) -> None:
        """SUCCESS; publish the done message."""

    @abstractmethod
    async def fail(self, task_id: str, error: str, code: str) -> None:
        """FAILURE; publish the error message."""

    @abstractmethod
    async def drop(self, task_id: str, reason: str) -> None:
        """The task vanished without a terminal message: its subscribers' sockets are cut (1011)."""

    @abstractmethod
    async def task(self, task_id: str) -> TaskRecord | None:
        """A copy of the task's record, or None when never issued or evicted."""

    @abstractmethod
    async def subscribe(self, project_id: int, stage_name: str, task_filter: str | None = None) -> Subscription:
        """Subscribe; the snapshot of running and recently ended tasks (W5) is queued first."""

    @abstractmethod
    def stats(self) -> BrokerStats:
        """Current counters."""


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(eq=False)
class _MemorySubscription(Subscription):
    """Pushes to a sink (the socket's writer, socket_writer.py), or else a deque with at most one reader.

    Cheaper per message than an asyncio.Queue (no getter bookkeeping, no cancellation
    handling per get), and a `next` with a timeout costs a timer, not a timeout scope:
    tokens are the hot path.
    """

    broker: InMemoryBroker
    key: tuple[int, str]
    task_filter: str | None
    items: deque[Delivery] = field(default_factory=deque)
    waiter: asyncio.Future[None] | None = None
    sink: Callable[[Delivery], None] | None = None
    closed: bool = False

    def push_to(self, sink: Callable[[Delivery], None]) -> bool:
        while self.items:
            sink(self.items.popleft())
        self.sink = sink
        return True

    def put(self, delivery: Delivery) -> None:
        if self.sink is not None:
            self.sink(delivery)
            return
        self.items.append(delivery)
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            _wake(waiter)

    async def next(self, timeout: float | None = None) -> Delivery | None:
        items = self.items
        if items:
            return items.popleft()
        loop = asyncio.get_running_loop()
        timer = None
        if timeout is not None:
            deadline = loop.time() + timeout
        while not items:
            if timeout is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
            waiter = self.waiter = loop.create_future()
            if timeout is not None:
                timer = loop.call_at(deadline, _wake, waiter)
            try:
                await waiter
            finally:
                if self.waiter is waiter:
                    self.waiter = None
                if timer is not None:
                    timer.cancel()
        return items.popleft()

    def cut(self, code: int, reason: str) -> None:
        self.put(Cut(code, reason))

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.broker._unsubscribe(self)


class InMemoryBroker(Broker):
    """Single-process broker: the default, and what `stagecheck mock` runs."""

    runs_outside_a_task = True

    def __init__(self, retention_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.retention_s = retention_s
        self.clock = clock
        self._tasks: dict[str, TaskRecord] = {}
        # Running and retained tasks per project and stage, oldest first (snapshots, W5).
        self._channel_tasks: dict[tuple[int, str], dict[str, TaskRecord]] = {}
        self._subscribers: dict[tuple[int, str], set[_MemorySubscription]] = {}
        self._ended: deque[tuple[float, str]] = deque()
        # A running task's full text, JSON-escaped (without quotes), grown token by token.
        self._escaped: dict[str, str] = {}

    # -- task side (the worker) ---------------------------------------------------------

    async def create_task(self, project_id: int, stage_name: str) -> TaskRecord:
        self._evict()
        record = TaskRecord(str(uuid.uuid4()), project_id, stage_name)
        self._tasks[record.task_id] = record
        self._channel_tasks.setdefault((project_id, stage_name), {})[record.task_id] = record
        return record

    async def started(self, task_id: str) -> None:
        record = self._tasks[task_id]
        if record.status == "PENDING":
            record.status = "STARTED"

    async def token(self, task_id: str, content: str) -> None:
        record = self._tasks[task_id]
        record.status = "PROGRESS"
        record.full_text += content
        # JSON string escaping is per character, so the escaped full text grows by the
        # escaped token: no re-encoding of all the text so far on every token. The message
        # is the same text as encode() of the message's dict (same keys, same order).
        piece = _escaped_piece(content)
        escaped = self._escaped[task_id] = self._escaped.get(task_id, "") + piece
        subscribers = self._subscribers.get((record.project_id, record.stage_name))
        if subscribers:  # encoded once for every subscriber, and not at all for none
            # One f-string: chained `+` copied the growing text once per operand.
            message = f'{{"type":"token","content":"{piece}","full_text":"{escaped}","task_id":"{task_id}"}}'
            self._publish(record, message)

    async def done(self, task_id: str) -> None:
        record = self._tasks[task_id]
        record.terminal = encode({"type": "done", "full_text": record.full_text, "task_id": task_id})
        self._end(record, "SUCCESS")
        self._publish(record, record.terminal)

    async def fail(self, task_id: str, error: str, code: str) -> None:
        record = self._tasks[task_id]
        record.error = error
        record.terminal = encode({"type": "error", "error": error, "code": code, "task_id": task_id})
        self._end(record, "FAILURE")
        self._publish(record, record.terminal)

    async def drop(self, task_id: str, reason: str) -> None:
        record = self._tasks[task_id]
        record.error = reason
        self._end(record, "FAILURE")
        self._publish(record, Cut(1011, reason))

    def _end(self, record: TaskRecord, status: str) -> None:
        self._escaped.pop(record.task_id, None)
        record.status = status
        record.ended_at = self.clock()
        self._ended.append((record.ended_at, record.task_id))

    def _publish(self, record: TaskRecord, delivery: Delivery) -> None:
        for subscriber in self._subscribers.get((record.project_id, record.stage_name), ()):
            if subscriber.task_filter is None or subscriber.task_filter == record.task_id:
                subscriber.put(delivery)

    # -- client side ----------------------------------------------------------------------

    async def task(self, task_id: str) -> TaskRecord | None:
        self._evict()
        record = self._tasks.get(task_id)
        if record is None:
            return None
        return TaskRecord(
            record.task_id,
            record.project_id,
            record.stage_name,
            record.status,
            record.full_text,
            record.error,
            record.ended_at,
            record.terminal,
        )

    async def subscribe(self, project_id: int, stage_name: str, task_filter: str | None = None) -> Subscription:
        self._evict()
        key = (project_id, stage_name)
        subscription = _MemorySubscription(self, key, task_filter)
        # No await between the snapshot and the registration: nothing can slip in between.
        for record in self._channel_tasks.get(key, {}).values():
            if task_filter is not None and record.task_id != task_filter:
                continue
            if record.status in ENDED:
                if record.terminal is not None:
                    subscription.put(record.terminal)
            elif record.full_text:
                snapshot = {
                    "type": "token",
                    "content": record.full_text,
                    "full_text": record.full_text,
                    "task_id": record.task_id,
                }
                subscription.put(encode(snapshot))
        self._subscribers.setdefault(key, set()).add(subscription)
        return subscription

    def _unsubscribe(self, subscription: _MemorySubscription) -> None:
        subscribers = self._subscribers.get(subscription.key)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.key]

    def _evict(self) -> None:
        horizon = self.clock() - self.retention_s
        while self._ended and self._ended[0][0] <= horizon:
            _, task_id = self._ended.popleft()
            record = self._tasks.pop(task_id, None)
            if record is None:
                continue
            key = (record.project_id, record.stage_name)
            channel = self._channel_tasks.get(key)
            if channel is not None:
                channel.pop(task_id, None)
                if not channel:
                    del self._channel_tasks[key]

    def stats(self) -> BrokerStats:
        self._evict()
        running = sum(1 for record in self._tasks.values() if record.status not in ENDED)
        return BrokerStats(
            subscribers=sum(len(s) for s in self._subscribers.values()),
            channels=len(self._subscribers),
            running_tasks=running,
            retained_tasks=len(self._tasks) - running,
        )
