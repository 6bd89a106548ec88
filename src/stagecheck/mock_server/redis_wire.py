"""What the Redis broker stores and publishes: key names, the task hash, the pub/sub frame.

Shared by the web processes (`RedisBroker`) and the Celery worker (`celery_app`), so
both sides agree on the layout without importing each other.

- `{prefix}task:{task_id}`: a hash per task (project_id, stage_name, status, full_text,
  seq, error, terminal, ended_at); it expires `retention` seconds after the task ends.
- `{prefix}chan:{project_id}:{stage_name}`: a sorted set of the tasks of one project and
  stage (score: creation time), which late subscribers read their snapshot from (W5).
- `{prefix}live:{project_id}:{stage_name}`: the pub/sub channel of live messages.

A live frame is `<task_id>|<seq>|<kind>|<body>`: `seq` numbers the task's messages
from 1, so that a subscriber can drop what its snapshot already covered (no token lost
or doubled between snapshot and live stream); `kind` is `t` (token), `e` (done/error,
the terminal message) or `x` (the task dropped: body is the reason, sockets are cut).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .broker import TaskRecord, encode

FrameKind = Literal["t", "e", "x"]
BROKER_UNAVAILABLE = "broker_unavailable"


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key names under one prefix (several mocks and tests share a Redis safely)."""

    prefix: str = "stagecheck:"

    def task(self, task_id: str) -> str:
        return f"{self.prefix}task:{task_id}"

    def index(self, project_id: int, stage_name: str) -> str:
        return f"{self.prefix}chan:{project_id}:{stage_name}"

    def channel(self, project_id: int, stage_name: str) -> str:
        return f"{self.prefix}live:{project_id}:{stage_name}"

    def worker_ready(self, pid: int) -> str:
        return f"{self.prefix}celery-ready:{pid}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One live message as it travels on a pub/sub channel."""

    task_id: str
    seq: int
    kind: FrameKind
    body: str


def pack_frame(task_id: str, seq: int, kind: FrameKind, body: str) -> bytes:
    return f"{task_id}|{seq}|{kind}|{body}".encode()


def unpack_frame(data: bytes) -> Frame | None:
    """The frame, or None for bytes that are not one (never raises: the reader must go on)."""
    try:
        task_id, seq, kind, body = data.decode().split("|", 3)
        number = int(seq)
    except (UnicodeDecodeError, ValueError):
        return None
    if kind not in ("t", "e", "x"):
        return None
    return Frame(task_id, number, kind, body)  # type: ignore[arg-type]  # checked just above


def hash_identity(fields: Mapping[Any, Any]) -> tuple[int, str, str] | None:
    """(project id, stage name, status) of a task hash from HGETALL; None for a missing or partial hash."""
    try:
        return int(fields[b"project_id"]), fields[b"stage_name"].decode(), fields[b"status"].decode()
    except (KeyError, ValueError):
        return None


def record_from_hash(task_id: str, fields: Mapping[Any, Any]) -> TaskRecord | None:
    """A TaskRecord from HGETALL's answer; None for a missing (expired) or partial hash."""
    identity = hash_identity(fields)
    if identity is None:
        return None
    project_id, stage_name, status = identity
    error = fields.get(b"error")
    terminal = fields.get(b"terminal")
    ended_at = fields.get(b"ended_at")
    return TaskRecord(
        task_id,
        project_id,
        stage_name,
        status,
        fields.get(b"full_text", b"").decode(),
        error.decode() if error else None,
        float(ended_at) if ended_at else None,
        terminal.decode() if terminal else None,
    )


def seq_of(fields: Mapping[Any, Any]) -> int:
    raw = fields.get(b"seq")
    return int(raw) if raw else 0


def lost_message(task_id: str, url: str, reason: str) -> str:
    """The `error` message a subscriber gets for a task whose messages can no longer reach it."""
    payload: dict[str, Any] = {
        "type": "error",
        "error": f"lost the connection to Redis at {url} ({reason}): the task's output cannot be delivered",
        "code": BROKER_UNAVAILABLE,
        "task_id": task_id,
    }
    return encode(payload)


def redact_url(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else f"{scheme}://{user}@{host}"


class BrokerUnavailable(Exception):
    """Redis cannot be reached right now (a request answers 503, a socket closes with 1013)."""


def describe_redis_error(exc: BaseException) -> str:
    """A short reason for a Redis failure: 'connection refused', 'timed out', ..."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    # redis-py words socket errors as "Error 111 connecting to host:port. ...": use the errno.
    number = re.match(r"error (\d+) ", lowered)
    if number is not None:
        return os.strerror(int(number.group(1))).lower()
    if "refused" in lowered:
        return "connection refused"
    if "timeout" in lowered or "timed out" in lowered:
        return "timed out"
    if "closed by server" in lowered or "connection reset" in lowered:
        return "connection closed by the server"
    return text[:200]
