"""The Celery app of `--executor celery`: a real Celery worker produces the tokens.

`celery -A stagecheck.mock_server.celery_app worker --pool threads -c N` runs it (see
`celery_executor.start_celery_worker`). Its one task, `stagecheck.run_stage`, plans
the task's steps with the mock's own deterministic generator (`plan.plan_steps`), so
the text is the same as with the inline worker (D1), and plays them into Redis with
the Redis broker's task-side writes (`redis_producer`): the web processes only create
tasks and subscribe, as in the real backend where Celery workers publish to Redis.

Configuration comes from the environment (the worker is a separate process):
STAGECHECK_REDIS_URL, STAGECHECK_REDIS_PREFIX, STAGECHECK_RETENTION_S. Celery's own
keys (its queue) live under the same prefix plus `celery:`. Celery's result backend is
not used: task status lives in the broker's task hashes, which can tell an unknown id
(404, T2) from a pending one, which Celery's backend cannot.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutting_down
from redis.commands.core import Script

from .plan import ERROR_CODE, Plan, plan_steps
from .redis_producer import STEP_SCRIPT, TaskProgress, Write, queue_write, script_call
from .redis_wire import RedisKeys, describe_redis_error, redact_url
from .scenarios import Scenario

ENV_URL = "STAGECHECK_REDIS_URL"
ENV_PREFIX = "STAGECHECK_REDIS_PREFIX"
ENV_RETENTION = "STAGECHECK_RETENTION_S"
TASK_NAME = "stagecheck.run_stage"
SHUTDOWN_CODE = "worker_shutdown"
SETTLE_EVERY_S = 0.5
SETTLE_FOR_S = 60.0
READY_TTL_S = 3600

logger = logging.getLogger("stagecheck.mock")


def make_celery(url: str, prefix: str) -> Celery:
    """A Celery app on this Redis and prefix; the web side uses it to send, the worker to run."""
    app = Celery("stagecheck_mock", set_as_current=False)
    app.conf.update(
        broker_url=url,
        broker_transport_options={"global_keyprefix": f"{prefix}celery:", "socket_connect_timeout": 2},
        broker_connection_retry_on_startup=True,
        # Fail a send quickly when Redis is down: the web side then fails the task itself.
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # One task at a time per slot, as a real LLM worker: a busy pool makes tasks wait in PENDING.
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_default_queue="stagecheck-mock",
    )
    return app


def scenario_fields(scenario: Scenario) -> dict[str, Any]:
    """A Scenario as JSON for the task message."""
    fields = dataclasses.asdict(scenario)
    fields["applied"] = list(scenario.applied)
    return fields


class _Runtime:
    """This worker process's Redis client and settings, made on first use."""

    def __init__(self) -> None:
        self.url = os.environ.get(ENV_URL, "redis://127.0.0.1:6379/0")
        self.keys = RedisKeys(os.environ.get(ENV_PREFIX, "stagecheck:"))
        self.retention_s = float(os.environ.get(ENV_RETENTION, "60"))
        self.shown_url = redact_url(self.url)
        self.stopping = threading.Event()
        self._client: redis.Redis | None = None
        self._script: Script | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                self._client = redis.Redis.from_url(self.url, socket_connect_timeout=2, socket_timeout=5)
                self._script = self._client.register_script(STEP_SCRIPT)
            return self._client

    def apply(self, write: Write | None) -> None:
        if write is None:
            return
        client = self.client
        call = script_call(write)
        if call is not None and self._script is not None:
            self._script(keys=call[0], args=call[1], client=client)
            return
        pipe = client.pipeline(transaction=True)
        queue_write(pipe, write)
        pipe.execute()


runtime = _Runtime()
app = make_celery(runtime.url, runtime.keys.prefix)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _announce_ready(**_: Any) -> None:
    # start_celery_worker waits for this key: the worker consumes from now on.
    runtime.client.set(runtime.keys.worker_ready(os.getpid()), "1", ex=READY_TTL_S)


@worker_shutting_down.connect  # type: ignore[untyped-decorator]
def _stop_tasks(**_: Any) -> None:
    # Running tasks end with an error now instead of holding the warm shutdown.
    runtime.stopping.set()


@app.task(name=TASK_NAME)  # type: ignore[untyped-decorator]
def run_stage(task_id: str, stage_name: str, input_data: Any, scenario: dict[str, Any]) -> None:
    """Plan the task's steps and play them into Redis on their schedule."""
    steps = plan_steps(stage_name, input_data, Scenario(**{**scenario, "applied": tuple(scenario["applied"])}))
    play(task_id, steps)


def play(task_id: str, steps: Plan) -> None:
    try:
        fields = runtime.client.hgetall(runtime.keys.task(task_id))
    except (redis.RedisError, OSError) as exc:
        logger.warning("task %s: cannot read it from Redis at %s: %s", task_id, runtime.shown_url, exc)
        return
    progress = TaskProgress.from_hash(runtime.keys, task_id, fields, runtime.retention_s)
    if progress is None or progress.ended:
        return  # expired or already settled: nothing to produce
    try:
        _play_steps(progress, steps)
    except (redis.RedisError, OSError) as exc:
        progress.lost = describe_redis_error(exc)
        logger.warning("task %s: Redis at %s failed (%s)", task_id, runtime.shown_url, progress.lost)
        _settle(progress)


def _play_steps(progress: TaskProgress, steps: Plan) -> None:
    runtime.apply(progress.started())
    start = time.monotonic()
    for step in steps:
        # A stall hangs until the worker shuts down (None: wait without a bound).
        delay: float | None = None if step.kind == "stall" else start + step.due - time.monotonic()
        if (delay is None or delay > 0) and runtime.stopping.wait(delay):
            runtime.apply(progress.fail("the Celery worker is shutting down", SHUTDOWN_CODE))
            return
        if step.kind == "token":
            runtime.apply(progress.token(step.text))
        elif step.kind == "done":
            runtime.apply(progress.done())
        elif step.kind == "error":
            runtime.apply(progress.fail(step.text, ERROR_CODE))
        elif step.kind == "drop":
            runtime.apply(progress.drop(step.text))


def _settle(progress: TaskProgress) -> None:
    """Record the task as FAILURE once Redis answers again (bounded in time)."""
    deadline = time.monotonic() + SETTLE_FOR_S
    while time.monotonic() < deadline:
        try:
            runtime.apply(progress.settle_lost(runtime.shown_url))
            return
        except (redis.RedisError, OSError):
            if runtime.stopping.wait(SETTLE_EVERY_S):
                return
