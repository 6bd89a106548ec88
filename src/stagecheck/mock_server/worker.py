"""The async-mode worker: plays a task's steps into the broker, as a Celery worker would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .broker import Broker
from .paced import PacedScript, Script
from .plan import ERROR_CODE, Plan
from .scenarios import Scenario


def _as_is(coro: Coroutine[Any, Any, None]) -> Awaitable[None]:
    return coro


class Worker:
    """Runs each task as a paced script (paced.py); keeps them so that shutdown can stop them."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._running: set[PacedScript] = set()

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
        # The task starts on the loop's next turn, as a Celery worker picks it up after the
        # POST has answered: its first token never reaches a socket before the 202 leaves.
        script = PacedScript(self._script(task_id, steps), start_now=False)
        self._running.add(script)
        script.ended.add_done_callback(lambda _: self._running.discard(script))

    def _script(self, task_id: str, steps: Plan) -> Script:
        start = asyncio.get_running_loop().time()
        broker = self.broker
        # A broker call that does I/O runs in a task of its own (its timeouts need one);
        # the in-memory broker's calls run eagerly, from the pacer.
        call: Callable[[Coroutine[Any, Any, None]], Awaitable[None]] = (
            _as_is if broker.runs_outside_a_task else asyncio.ensure_future
        )
        yield call(broker.started(task_id))
        token = broker.token  # the hot path: one lookup per task, not per token
        for step in steps:
            yield start + step.due
            if step.kind == "token":
                yield call(token(task_id, step.text))
            elif step.kind == "done":
                yield call(broker.done(task_id))
            elif step.kind == "error":
                yield call(broker.fail(task_id, step.text, ERROR_CODE))
            elif step.kind == "drop":
                yield call(broker.drop(task_id, step.text))
            else:  # stall: the task hangs until the server shuts down
                yield None

    async def shutdown(self) -> None:
        steps = [script.cancel() for script in list(self._running)]
        self._running.clear()
        await asyncio.gather(*(step for step in steps if step is not None), return_exceptions=True)
