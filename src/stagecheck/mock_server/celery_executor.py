"""`--executor celery`, the web side: queue tasks on Celery, and run the worker process.

`CeleryExecutor` takes the inline `Worker`'s place in the app (same `submit`): it only queues
`stagecheck.run_stage` (the worker produces the tokens); a task that cannot be queued
fails at once with `broker_unavailable`, so its subscribers never wait for nothing.
`start_celery_worker` starts `celery -A stagecheck.mock_server.celery_app worker` as a
subprocess and returns when the worker consumes; `CeleryWorkerProcess.stop` ends it
with a warm shutdown (running tasks end with an `error`), killing it past a bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import redis
from kombu.exceptions import OperationalError

from stagecheck.errors import StagecheckError

from .broker import Broker
from .celery_app import ENV_PREFIX, ENV_RETENTION, ENV_URL, TASK_NAME, make_celery, scenario_fields
from .plan import Plan
from .redis_wire import BROKER_UNAVAILABLE, RedisKeys, describe_redis_error, redact_url
from .scenarios import Scenario

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
Pool = Literal["threads", "solo"]


class CeleryWorkerError(StagecheckError):
    """The Celery worker process did not start."""


class CeleryExecutor:
    """Queues each task on Celery; the Celery worker plays it into the Redis broker."""

    def __init__(self, broker: Broker, url: str, prefix: str) -> None:
        self.broker = broker
        self.shown_url = redact_url(url)
        self.celery = make_celery(url, prefix)
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """Sends in flight (the tasks themselves run in the worker process)."""
        return len(self._sending)

    def submit(
        self,
        task_id: str,
        steps: Plan,
        *,
        stage_name: str | None = None,
        input_data: Any = None,
        scenario: Scenario | None = None,
    ) -> None:
        """Queue the task without delaying the answer (kombu's publish blocks: it runs in a thread).

        The worker plans the steps itself from the plan's inputs, with the same generator,
        so `steps` (planned by the web process, as for the inline worker) is not sent.
        """
        if stage_name is None or scenario is None:
            raise ValueError("the Celery executor plans in its worker: pass stage_name, input_data and scenario")
        send = self._send(task_id, [task_id, stage_name, input_data, scenario_fields(scenario)])
        task = asyncio.get_running_loop().create_task(send)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, task_id: str, args: list[Any]) -> None:
        try:
            await asyncio.to_thread(self.celery.send_task, TASK_NAME, args=args)
        except (OperationalError, redis.RedisError, OSError) as exc:
            reason = f"could not queue the task on Redis at {self.shown_url}: {describe_redis_error(exc)}"
            # With Redis down too, the Redis broker records the failure once it is back.
            await self.broker.fail(task_id, reason, BROKER_UNAVAILABLE)

    async def shutdown(self) -> None:
        await asyncio.gather(*list(self._sending), return_exceptions=True)


@dataclass
class CeleryWorkerProcess:
    """A running `celery worker` subprocess."""

    process: subprocess.Popen[bytes]
    log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, limit: int = 2000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-limit:].strip() or "(no output)"

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """Warm shutdown (SIGTERM); SIGKILL past `timeout_s`. The exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


def start_celery_worker(
    url: str,
    prefix: str,
    *,
    pool: Pool = "threads",
    concurrency: int = 16,
    loglevel: str = "warning",
    retention_s: float = 60.0,
    ready_timeout_s: float = READY_TIMEOUT_S,
) -> CeleryWorkerProcess:
    """Start a worker on this Redis and prefix; return once it consumes tasks."""
    if pool not in ("threads", "solo"):
        raise CeleryWorkerError(f"pool must be threads or solo, got {pool!r}")
    env = {**os.environ, ENV_URL: url, ENV_PREFIX: prefix, ENV_RETENTION: str(retention_s)}
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "stagecheck.mock_server.celery_app",
        "worker",
        "--pool",
        pool,
        "--concurrency",
        str(1 if pool == "solo" else concurrency),
        "--loglevel",
        loglevel,
        "--hostname",
        f"stagecheck-{uuid.uuid4().hex[:8]}@%h",
        # No gossip, mingle or heartbeat: a lone worker needs none, and they cost a start-up wait.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by CeleryWorkerProcess.stop
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # noqa: S603 - our interpreter
    worker = CeleryWorkerProcess(process, log)
    ready_key = RedisKeys(prefix).worker_ready(process.pid)
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    deadline = time.monotonic() + ready_timeout_s
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CeleryWorkerError(f"the Celery worker exited with {process.returncode}: {worker.log_tail()}")
            if client.get(ready_key):
                client.delete(ready_key)
                return worker
            time.sleep(0.1)
    except redis.RedisError as exc:
        worker.stop()
        raise CeleryWorkerError(f"cannot reach Redis at {redact_url(url)}: {describe_redis_error(exc)}") from exc
    except CeleryWorkerError:
        worker.stop()
        raise
    finally:
        client.close()
    tail = worker.log_tail()
    worker.stop()
    raise CeleryWorkerError(f"the Celery worker did not start within {ready_timeout_s:g} s: {tail}")
