"""worker.py: tasks start after the request that submitted them has answered."""

from __future__ import annotations

import asyncio

import pytest

from stagecheck.mock_server.broker import InMemoryBroker
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.plan import plan_steps
from stagecheck.mock_server.scenarios import scenario_for
from stagecheck.mock_server.worker import Worker

pytestmark = pytest.mark.anyio


async def test_a_task_starts_on_the_loops_next_turn_not_inside_submit() -> None:
    broker = InMemoryBroker()
    record = await broker.create_task(1, "rewrite")
    subscription = await broker.subscribe(1, "rewrite")
    config = MockConfig(tokens=3, token_delay_ms=0)
    steps = plan_steps("rewrite", {"original_text": "x"}, scenario_for([], config))
    worker = Worker(broker)
    worker.submit(record.task_id, steps)
    # Whatever the submitting request does next (answer 202) comes before the first token.
    status = await broker.task(record.task_id)
    assert status is not None and status.status == "PENDING"
    assert await subscription.next(timeout=0) is None
    delivered = [await subscription.next(timeout=1) for _ in range(4)]
    assert [d[:15] for d in delivered if isinstance(d, str)] == ['{"type":"token"'] * 3 + ['{"type":"done",']
    await asyncio.sleep(0)  # the ended task's bookkeeping runs as a callback
    assert worker.running == 0
    await subscription.close()


async def test_shutdown_stops_running_tasks() -> None:
    broker = InMemoryBroker()
    record = await broker.create_task(1, "rewrite")
    config = MockConfig(tokens=50, token_delay_ms=50)
    worker = Worker(broker)
    worker.submit(record.task_id, plan_steps("rewrite", {"original_text": "x"}, scenario_for([], config)))
    await asyncio.sleep(0.08)
    assert worker.running == 1
    await worker.shutdown()
    assert worker.running == 0
    status = await broker.task(record.task_id)
    assert status is not None and status.status == "PROGRESS"  # stopped mid-way, no terminal
