"""`RedisBroker`: the broker on Redis, as the real backend runs (Celery + Redis pub/sub).

Tasks, their text, status and terminal message live in Redis (`redis_wire` has the
layout), so any process sharing the Redis and key prefix can create a task, produce
its tokens (`redis_producer`), answer task-status, or serve a socket and its snapshot
(`redis_fanout`). Several uvicorn workers and Celery worker processes can therefore
serve one mock.

Redis failures never hang a stream: at start-up `start()` raises `RedisUnreachable`
(exit 2, with what to do); during a run, requests that need Redis raise
`BrokerUnavailable` (the app answers 503), subscribers get an `error` message with code
`broker_unavailable` for the tasks they follow, and a task whose writes failed is
recorded as FAILURE once Redis answers again. New tasks work as soon as it does.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable

import redis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry  # the asyncio client's own (redis-py 8.2 warns on the sync one)
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from stagecheck.errors import ConfigError

from .broker import ENDED, Broker, BrokerStats, Subscription, TaskRecord
from .redis_fanout import HEALTH_CHECK_S, Fanout, RedisSubscription, SnapshotEntry
from .redis_producer import STEP_SCRIPT, TaskProgress, Write, creation_write, queue_write, script_call
from .redis_wire import BrokerUnavailable, RedisKeys, describe_redis_error, record_from_hash, redact_url, seq_of

logger = logging.getLogger("stagecheck.mock")

CONNECT_TIMEOUT_S = 2.0
COMMAND_TIMEOUT_S = 5.0
SETTLE_EVERY_S = 0.5
_FAILURES = (RedisError, OSError)


class RedisUnreachable(ConfigError):
    """The --broker Redis does not answer at start-up."""


def unreachable_message(url: str, exc: BaseException) -> str:
    return (
        f"cannot reach Redis at {redact_url(url)}: {describe_redis_error(exc)}; "
        "start redis-server or use --broker memory"
    )


def check_redis(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, before any server process starts, when the Redis URL does not answer."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    except ValueError as exc:
        raise ConfigError(f"--broker {redact_url(url)} is not a Redis URL (redis://host:port/db): {exc}") from exc
    try:
        client.ping()
    except _FAILURES as exc:
        raise RedisUnreachable(unreachable_message(url, exc)) from exc
    finally:
        client.close()


class RedisBroker(Broker):
    """Task state and fan-out in Redis, shared by every process using the same URL and prefix."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "stagecheck:",
        retention_s: float = 60.0,
        settle_for_s: float = 60.0,
        health_check_s: float = HEALTH_CHECK_S,
    ) -> None:
        self.url = url
        self.shown_url = redact_url(url)
        self.keys = RedisKeys(prefix)
        self.retention_s = retention_s
        self.settle_for_s = settle_for_s
        try:
            # One retry without backoff: a pooled connection that died with a Redis restart
            # is replaced at once; a Redis that is down fails the command at once.
            self._client = Redis.from_url(
                url,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=COMMAND_TIMEOUT_S,
                retry=Retry(NoBackoff(), 1),
            )
            # The pub/sub connection blocks reading (no socket timeout) and must not retry
            # or resubscribe on its own: the fanout notices the failure and handles it.
            pubsub_client = Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, retry=Retry(NoBackoff(), 0))
        except ValueError as exc:
            raise ConfigError(f"--broker {self.shown_url} is not a Redis URL (redis://host:port/db): {exc}") from exc
        self._step_script = self._client.register_script(STEP_SCRIPT)
        self._fanout = Fanout(pubsub_client, self.shown_url, self._snapshot, retention_s, health_check_s)
        self._producing: dict[str, TaskProgress] = {}
        self._lost: dict[str, tuple[float, str]] = {}  # task -> (since, reason), to settle as FAILURE
        self._settler: asyncio.Task[None] | None = None
        self._ended: deque[float] = deque()  # when this process ended its tasks (stats)

    async def start(self) -> None:
        """Check that Redis answers; raise RedisUnreachable (exit 2) when it does not."""
        try:
            await self._client.ping()
        except _FAILURES as exc:
            raise RedisUnreachable(unreachable_message(self.url, exc)) from exc

    async def aclose(self) -> None:
        if self._settler is not None:
            self._settler.cancel()
            await asyncio.gather(self._settler, return_exceptions=True)
        await self._fanout.aclose()
        await self._client.aclose()
        await self._fanout.client.aclose()

    def _unavailable(self, exc: BaseException) -> BrokerUnavailable:
        return BrokerUnavailable(f"cannot reach Redis at {self.shown_url}: {describe_redis_error(exc)}")

    async def _apply(self, write: Write) -> None:
        call = script_call(write)
        if call is not None:
            await self._step_script(keys=call[0], args=call[1])
            return
        pipe = self._client.pipeline(transaction=True)
        queue_write(pipe, write)
        await pipe.execute()

    # -- task side (the worker) ---------------------------------------------------------

    async def create_task(self, project_id: int, stage_name: str) -> TaskRecord:
        task_id = str(uuid.uuid4())
        try:
            await self._apply(creation_write(self.keys, task_id, project_id, stage_name))
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc
        return TaskRecord(task_id, project_id, stage_name)

    async def _progress(self, task_id: str) -> TaskProgress:
        progress = self._producing.get(task_id)
        if progress is None:
            fields = await self._client.hgetall(self.keys.task(task_id))
            progress = TaskProgress.from_hash(self.keys, task_id, fields, self.retention_s)
            if progress is None:
                raise KeyError(task_id)  # never issued, or evicted (as InMemoryBroker)
            self._producing[task_id] = progress
        return progress

    async def _step(self, task_id: str, make: Callable[[TaskProgress], Write | None]) -> None:
        """Apply one step; when Redis fails, remember the task to record it as FAILURE later."""
        if task_id in self._lost:
            return  # its output is already lost; the settler records the failure
        try:
            progress = await self._progress(task_id)
            write = make(progress)
            if write is not None:
                await self._apply(write)
        except _FAILURES as exc:
            reason = describe_redis_error(exc)
            logger.warning("task %s: Redis at %s failed (%s)", task_id, self.shown_url, reason)
            self._lost[task_id] = (time.monotonic(), reason)
            if self._settler is None or self._settler.done():
                self._settler = asyncio.get_running_loop().create_task(self._settle())
            return
        if progress.ended:
            self._producing.pop(task_id, None)
            self._ended.append(time.monotonic())

    async def started(self, task_id: str) -> None:
        await self._step(task_id, TaskProgress.started)

    async def token(self, task_id: str, content: str) -> None:
        await self._step(task_id, lambda progress: progress.token(content))

    async def done(self, task_id: str) -> None:
        await self._step(task_id, TaskProgress.done)

    async def fail(self, task_id: str, error: str, code: str) -> None:
        await self._step(task_id, lambda progress: progress.fail(error, code))

    async def drop(self, task_id: str, reason: str) -> None:
        await self._step(task_id, lambda progress: progress.drop(reason))

    async def _settle(self) -> None:
        """Record lost tasks as FAILURE (broker_unavailable) once Redis answers; bounded in time."""
        while self._lost:
            await asyncio.sleep(SETTLE_EVERY_S)
            now = time.monotonic()
            for task_id, (since, reason) in list(self._lost.items()):
                if now - since > self.settle_for_s:
                    del self._lost[task_id]
                    self._producing.pop(task_id, None)
                    continue
                try:
                    progress = await self._progress(task_id)
                    progress.lost = reason
                    await self._apply(progress.settle_lost(self.shown_url))
                except KeyError:
                    pass  # Redis restarted before the task was ever loaded: nothing to record
                except _FAILURES:
                    continue
                del self._lost[task_id]
                self._producing.pop(task_id, None)
                self._ended.append(time.monotonic())

    # -- client side ----------------------------------------------------------------------

    async def task(self, task_id: str) -> TaskRecord | None:
        try:
            fields = await self._client.hgetall(self.keys.task(task_id))
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc
        return record_from_hash(task_id, fields)

    async def _snapshot(self, project_id: int, stage_name: str, task_filter: str | None) -> list[SnapshotEntry]:
        index = self.keys.index(project_id, stage_name)
        if task_filter is not None:
            task_ids = [task_filter]
        else:
            members: list[bytes] = await self._client.zrange(index, 0, -1)  # type: ignore[assignment]
            task_ids = [member.decode() for member in members]
        if not task_ids:
            return []
        pipe = self._client.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hgetall(self.keys.task(task_id))
        answers = await pipe.execute()
        entries: list[SnapshotEntry] = []
        expired: list[str] = []
        for task_id, fields in zip(task_ids, answers, strict=True):
            record = record_from_hash(task_id, fields)
            if record is None:
                expired.append(task_id)
            elif record.project_id == project_id and record.stage_name == stage_name:
                entries.append(SnapshotEntry(record, seq_of(fields)))
        if expired and task_filter is None:
            await self._client.zrem(index, *expired)  # ended tasks whose retention ran out
        return entries

    async def subscribe(self, project_id: int, stage_name: str, task_filter: str | None = None) -> Subscription:
        channel = self.keys.channel(project_id, stage_name).encode()
        subscription = RedisSubscription(self._fanout, channel, project_id, stage_name, task_filter)
        try:
            await self._fanout.join(subscription)
        except BrokerUnavailable as exc:
            # 1013 "try again later": the socket closes with the reason instead of hanging.
            subscription.cut(1013, str(exc)[:120])
        return subscription

    def stats(self) -> BrokerStats:
        """This process's share: its subscribers and channels, the tasks it produces and ended."""
        horizon = time.monotonic() - self.retention_s
        while self._ended and self._ended[0] <= horizon:
            self._ended.popleft()
        running = sum(1 for progress in self._producing.values() if progress.status not in ENDED)
        return BrokerStats(
            subscribers=self._fanout.subscribers,
            channels=self._fanout.channels,
            running_tasks=running,
            retained_tasks=len(self._ended),
        )
