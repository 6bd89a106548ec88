"""The task side of the Redis broker, with no I/O: what each step of a task writes.

A task has exactly one producer (the web process's worker, or a Celery worker), so the
producer keeps the task's text and message count locally and turns every step into a
`Write`: one MULTI/EXEC transaction that updates the task hash and publishes the frame.
Because the hash update and the PUBLISH are atomic together, a subscriber that reads
the hash sees either both or neither, which is what makes the snapshot handover exact.
A Write is applied as one call of `STEP_SCRIPT` (`script_call`) or, when it also lists
the task on its project and stage, as a pipeline (`queue_write`); redis-py's sync and
asyncio clients take the same calls, so the Celery worker (threads) and the web process
(asyncio) share them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .broker import encode
from .redis_wire import BROKER_UNAVAILABLE, FrameKind, RedisKeys, hash_identity, pack_frame, seq_of

RUNNING_TTL_S = 6 * 3600.0  # a task that runs longer is taken for dead (its producer vanished)


def _ms(seconds: float) -> int:
    # PEXPIRE 0 deletes the key at once, which is what a retention of 0 means.
    return max(int(seconds * 1000), 0)


@dataclass(frozen=True, slots=True)
class Write:
    """One atomic step: hash fields, an expiry, an index entry, a published frame."""

    key: str
    fields: dict[str, Any]
    expire_ms: int | None = None
    index_key: str | None = None
    index_member: str = ""
    index_score: float = 0.0
    index_trim_before: float | None = None
    channel: str | None = None
    frame: bytes | None = None


# A step without an index entry (every token) is one script call: one command instead of
# MULTI, HSET, PUBLISH, EXEC; about 1.6 times the tokens per second of the pipeline, measured
# in redis-py 8.1. A script runs atomically, as the transaction does.
STEP_SCRIPT = """
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return 1
"""


def script_call(write: Write) -> tuple[list[str], list[Any]] | None:
    """KEYS and ARGV of STEP_SCRIPT for this Write; None when it needs `queue_write`."""
    if write.index_key is not None:
        return None
    args: list[Any] = [
        "" if write.expire_ms is None else write.expire_ms,
        write.channel if write.channel is not None and write.frame is not None else "",
        write.frame if write.frame is not None else b"",
    ]
    for name, value in write.fields.items():
        args.extend((name, value))
    return [write.key], args


def queue_write(pipe: Any, write: Write) -> None:
    """Queue the Write's commands on a MULTI pipeline (redis.client or redis.asyncio.client)."""
    pipe.hset(write.key, mapping=write.fields)
    if write.expire_ms is not None:
        pipe.pexpire(write.key, write.expire_ms)
    if write.index_key is not None:
        pipe.zadd(write.index_key, {write.index_member: write.index_score})
        pipe.pexpire(write.index_key, _ms(RUNNING_TTL_S))
        if write.index_trim_before is not None:
            pipe.zremrangebyscore(write.index_key, "-inf", write.index_trim_before)
    if write.channel is not None and write.frame is not None:
        pipe.publish(write.channel, write.frame)


def creation_write(keys: RedisKeys, task_id: str, project_id: int, stage_name: str) -> Write:
    """A new task in PENDING, listed on its project and stage for snapshots."""
    now = time.time()
    return Write(
        keys.task(task_id),
        {"project_id": project_id, "stage_name": stage_name, "status": "PENDING", "full_text": "", "seq": 0},
        expire_ms=_ms(RUNNING_TTL_S),
        index_key=keys.index(project_id, stage_name),
        index_member=task_id,
        index_score=now,
        index_trim_before=now - RUNNING_TTL_S,
    )


@dataclass(slots=True)
class TaskProgress:
    """The producer's own view of one task; every method returns the Write to apply."""

    keys: RedisKeys
    task_id: str
    project_id: int
    stage_name: str
    retention_s: float
    status: str = "PENDING"
    full_text: str = ""
    seq: int = 0
    ended: bool = False
    # Why a write failed (Redis unreachable); the task is then settled as FAILURE later.
    lost: str | None = None
    channel: str = field(init=False)

    def __post_init__(self) -> None:
        self.channel = self.keys.channel(self.project_id, self.stage_name)

    @classmethod
    def from_hash(
        cls, keys: RedisKeys, task_id: str, fields: Mapping[Any, Any], retention_s: float
    ) -> TaskProgress | None:
        identity = hash_identity(fields)
        if identity is None:
            return None
        project_id, stage_name, status = identity
        progress = cls(keys, task_id, project_id, stage_name, retention_s, status)
        progress.full_text = fields.get(b"full_text", b"").decode()
        progress.seq = seq_of(fields)
        progress.ended = status in ("SUCCESS", "FAILURE", "REVOKED")
        return progress

    def _publish(self, kind: FrameKind, body: str, fields: dict[str, Any], ending: bool) -> Write:
        self.seq += 1
        fields["seq"] = self.seq
        if ending:
            self.ended = True
            fields["ended_at"] = time.time()
        return Write(
            self.keys.task(self.task_id),
            fields,
            expire_ms=_ms(self.retention_s) if ending else None,
            channel=self.channel,
            frame=pack_frame(self.task_id, self.seq, kind, body),
        )

    def started(self) -> Write | None:
        if self.ended or self.status != "PENDING":
            return None
        self.status = "STARTED"
        return Write(self.keys.task(self.task_id), {"status": "STARTED"})

    def token(self, content: str) -> Write | None:
        if self.ended:
            return None
        self.status = "PROGRESS"
        self.full_text += content
        message = {"type": "token", "content": content, "full_text": self.full_text, "task_id": self.task_id}
        return self._publish("t", encode(message), {"status": "PROGRESS", "full_text": self.full_text}, False)

    def done(self) -> Write | None:
        if self.ended:
            return None
        self.status = "SUCCESS"
        terminal = encode({"type": "done", "full_text": self.full_text, "task_id": self.task_id})
        return self._publish("e", terminal, {"status": "SUCCESS", "terminal": terminal}, True)

    def fail(self, error: str, code: str) -> Write | None:
        if self.ended:
            return None
        self.status = "FAILURE"
        terminal = encode({"type": "error", "error": error, "code": code, "task_id": self.task_id})
        return self._publish("e", terminal, {"status": "FAILURE", "error": error, "terminal": terminal}, True)

    def drop(self, reason: str) -> Write | None:
        if self.ended:
            return None
        self.status = "FAILURE"
        return self._publish("x", reason, {"status": "FAILURE", "error": reason}, True)

    def settle_lost(self, url: str) -> Write:
        """FAILURE for a task whose output was lost with Redis; recreates the hash if Redis lost it."""
        assert self.lost is not None
        error = f"lost the connection to Redis at {url} ({self.lost}): the task's output was not delivered"
        self.status = "FAILURE"
        terminal = encode({"type": "error", "error": error, "code": BROKER_UNAVAILABLE, "task_id": self.task_id})
        fields = {
            "project_id": self.project_id,
            "stage_name": self.stage_name,
            "status": "FAILURE",
            "full_text": self.full_text,
            "error": error,
            "terminal": terminal,
        }
        write = self._publish("e", terminal, fields, True)
        # After a Redis restart the task is gone from its index too: list it again (W5).
        return Write(
            write.key,
            write.fields,
            write.expire_ms,
            index_key=self.keys.index(self.project_id, self.stage_name),
            index_member=self.task_id,
            index_score=time.time(),
            channel=write.channel,
            frame=write.frame,
        )
