"""The async-mode worker: plays a task's steps into the broker, as a Celery worker would."""

from __future__ import annotations

import asyncio
from typing import Any

from .broker import Broker
from .plan import ERROR_CODE, Plan
from .scenarios import Scenario


class Worker:
    """Runs each task as an asyncio task; keeps them so that shutdown can cancel them."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._running: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        return len(self._running)

    def submit(
        self,
        task_id: str,
        steps: Plan,
        *,
        stage_name: str | None = None,
        input_data: Any = None,
        scenario: Scenario | None = None,
    ) -> None:
        """Play `steps`; the plan's inputs serve executors that plan in another process (Celery)."""
        task = asyncio.get_running_loop().create_task(self._run(task_id, steps))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, task_id: str, steps: Plan) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self.broker.started(task_id)
        token = self.broker.token  # the hot path: one lookup per task, not per token
        for step in steps:
            delay = start + step.due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if step.kind == "token":
                await token(task_id, step.text)
            elif step.kind == "done":
                await self.broker.done(task_id)
            elif step.kind == "error":
                await self.broker.fail(task_id, step.text, ERROR_CODE)
            elif step.kind == "drop":
                await self.broker.drop(task_id, step.text)
            else:  # stall: the task hangs until the server shuts down
                await loop.create_future()

    async def shutdown(self) -> None:
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
