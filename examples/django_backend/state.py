"""What lives in Redis besides Celery's own keys and the channel layer's.

- `example:issued:<task_id>`: the tasks execute-stage issued (project and stage). Celery's
  AsyncResult answers PENDING for any id at all, so task-status asks this first (T2: 404).
- `example:snap:<task_id>`: a running task's text so far and token count, then its terminal
  event for ENDED_RETENTION_S (W5: what a late subscriber is owed).
- `example:tasks:<project>:<stage>`: the channel's recent tasks (sorted by start time), so that
  a consumer finds the snapshots of its channel.

The Celery worker writes with the sync client, the web process reads with redis.asyncio.
"""

from __future__ import annotations

import functools
import json
import re
import time
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings

_async: dict[int, aioredis.Redis] = {}


def group_name(project_id: int, stage_name: str) -> str:
    """The Channels group of one project and stage (W6: never wider)."""
    if "wide-group" in settings.BREAKS:
        return f"project.{project_id}"
    return f"project.{project_id}.stage.{stage_name}"


_TASK_ID = re.compile(r"[0-9a-f-]{1,64}")  # Celery's ids; what a Channels group name may hold


def task_group_name(project_id: int, stage_name: str, task_id: str) -> str | None:
    """The group of one task's messages, for sockets opened with `?task_id=`.

    Each socket of the channel's group receives every task's messages and drops the others:
    with N sockets on N tasks that is N x N messages through the web process, and past the
    layer's capacity channels_redis drops a slow consumer's oldest messages, its own task's
    tokens among them (Q2/Q3/W5 under load). None for an id no task can have.
    """
    if {"wide-group", "channel-fanout"} & settings.BREAKS or not _TASK_ID.fullmatch(task_id):
        return None
    return f"{group_name(project_id, stage_name)}.task.{task_id}"


def issued_key(task_id: str) -> str:
    return f"example:issued:{task_id}"


def snap_key(task_id: str) -> str:
    return f"example:snap:{task_id}"


def index_key(project_id: int, stage_name: str) -> str:
    return f"example:tasks:{project_id}:{stage_name}"


@functools.cache
def sync_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def async_client() -> aioredis.Redis:
    """One client per event loop (the web process has one; tests may make more)."""
    import asyncio

    loop = id(asyncio.get_running_loop())
    if loop not in _async:
        _async[loop] = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return _async[loop]


async def issue(task_id: str, project_id: int, stage_name: str) -> None:
    record = json.dumps({"project_id": project_id, "stage_name": stage_name})
    await async_client().set(issued_key(task_id), record, ex=settings.ISSUED_RETENTION_S)


async def issued(task_id: str) -> dict[str, Any] | None:
    record = await async_client().get(issued_key(task_id))
    return None if record is None else json.loads(record)


# -- the worker's side ---------------------------------------------------------------------------


def task_began(task_id: str, project_id: int, stage_name: str) -> None:
    client = sync_client()
    with client.pipeline() as pipe:
        pipe.hset(snap_key(task_id), mapping={"seq": 0, "full_text": ""})
        pipe.expire(snap_key(task_id), 600)  # a task that dies without a terminal is forgotten
        pipe.zadd(index_key(project_id, stage_name), {task_id: time.time()})
        pipe.zremrangebyscore(index_key(project_id, stage_name), 0, time.time() - 600)
        pipe.execute()


def token_produced(task_id: str, seq: int, full_text: str) -> None:
    sync_client().hset(snap_key(task_id), mapping={"seq": seq, "full_text": full_text})


def task_ended(task_id: str, terminal: dict[str, Any]) -> None:
    with sync_client().pipeline() as pipe:
        pipe.hset(snap_key(task_id), "terminal", json.dumps(terminal, ensure_ascii=False))
        pipe.expire(snap_key(task_id), settings.ENDED_RETENTION_S)
        pipe.execute()


# -- the consumer's side -------------------------------------------------------------------------


async def channel_snapshots(project_id: int, stage_name: str, task_filter: str | None) -> list[dict[str, Any]]:
    """The channel's tasks that began, oldest first: {task_id, seq, full_text, terminal?}."""
    client = async_client()
    if task_filter is not None:  # only that task, and only if it is this channel's (W6)
        known = await client.zscore(index_key(project_id, stage_name), task_filter)
        task_ids = [] if known is None else [task_filter]
    else:
        recent = await client.zrangebyscore(index_key(project_id, stage_name), time.time() - 600, "+inf")
        task_ids = [str(task_id) for task_id in recent]
    found = []
    for task_id in task_ids:
        snap = await client.hgetall(snap_key(task_id))
        if not snap:
            continue
        entry: dict[str, Any] = {"task_id": task_id, "seq": int(snap["seq"]), "full_text": snap["full_text"]}
        if "terminal" in snap:
            entry["terminal"] = json.loads(snap["terminal"])
        found.append(entry)
    return found
