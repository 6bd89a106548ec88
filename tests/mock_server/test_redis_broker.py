"""RedisBroker driven directly: live order, snapshot handover (W5), isolation (W6), status (T3).

A producer broker and a subscriber broker have separate Redis connections, as two
processes would; every subscriber's messages go through the rules core.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest

from stagecheck.contracts.events import StreamClosed, WsMessage, WsOpened
from stagecheck.contracts.stream_rules import Expectation, StreamValidator
from stagecheck.mock_server.broker import Cut, Subscription, TaskRecord
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.plan import Plan, plan_steps
from stagecheck.mock_server.redis_broker import RedisBroker
from stagecheck.mock_server.scenarios import scenario_for
from stagecheck.mock_server.worker import Worker

pytestmark = [pytest.mark.redis, pytest.mark.anyio]


@pytest.fixture
def prefix(redis_url: str, kit: Any) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards (never FLUSHALL)."""
    with kit.scratch_prefix(redis_url) as name:
        yield name


@pytest.fixture
async def pair(prefix: str, redis_url: str) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    """(producer, subscriber side): two brokers on one prefix, each with its own connections."""
    producer = RedisBroker(redis_url, prefix=prefix, retention_s=30)
    web = RedisBroker(redis_url, prefix=prefix, retention_s=30)
    await producer.start()
    await web.start()
    yield producer, web
    await producer.aclose()
    await web.aclose()


async def followed_task(
    pair: tuple[RedisBroker, RedisBroker], project: int, stage: str, plan: Plan
) -> tuple[Subscription, TaskRecord]:
    """Subscribe to (project, stage), create a task there and have a worker play `plan` for it."""
    producer, web = pair
    subscription = await web.subscribe(project, stage)
    record = await web.create_task(project, stage)
    Worker(producer).submit(record.task_id, plan)
    return subscription, record


async def collect(subscription: Subscription, tasks: set[str], timeout: float = 15.0) -> list[str]:
    """Messages until every task in `tasks` reached its terminal message (bounded)."""
    messages: list[str] = []
    waiting = set(tasks)
    async with asyncio.timeout(timeout):
        while waiting:
            delivery = await subscription.next(timeout)
            assert delivery is not None, f"no message within {timeout} s; got {messages[-3:]}"
            assert not isinstance(delivery, Cut), f"cut: {delivery}"
            messages.append(delivery)
            payload = orjson.loads(delivery)
            if payload["type"] in ("done", "error"):
                waiting.discard(payload["task_id"])
    return messages


def violations(messages: list[str], project: int, stage: str, tasks: set[str], **expect: object) -> list[str]:
    validator = StreamValidator(
        Expectation("ws", task_ids=frozenset(tasks), project_id=project, stage_name=stage, **expect)  # type: ignore[arg-type]
    )
    validator.feed(WsOpened(0.0))
    connected = orjson.dumps({"type": "connected", "project_id": project, "stage_name": stage}).decode()
    validator.feed(WsMessage(0.001, connected))
    for n, message in enumerate(messages):
        validator.feed(WsMessage(0.002 + n * 1e-5, message))
    validator.feed(StreamClosed(1.0, by_client=True))
    validator.finish(1.0)
    return [f"{v.rule}: {v.message} ({v.received})" for v in validator.violations]


def steps(tokens: int, delay_ms: float, scenario: str = "", text: str = "Hello 世界 😀 redis") -> Plan:
    prefer = [f"tokens={tokens}, delay-ms={delay_ms}" + (f", scenario={scenario}" if scenario else "")]
    return plan_steps("rewrite", {"original_text": text}, scenario_for(prefer, MockConfig()))


async def test_live_tokens_arrive_in_order_and_status_agrees(pair: tuple[RedisBroker, RedisBroker]) -> None:
    producer, web = pair
    subscription, record = await followed_task(pair, 1, "rewrite", steps(20, 2))
    messages = await collect(subscription, {record.task_id})
    await subscription.close()
    assert violations(messages, 1, "rewrite", {record.task_id}) == []
    assert len(messages) == 21
    done = orjson.loads(messages[-1])
    # T3 from either process: SUCCESS with the done message's text.
    for broker in (web, producer):
        status = await broker.task(record.task_id)
        assert status is not None
        assert status.status_body() == {
            "task_id": record.task_id,
            "stage_name": "rewrite",
            "status": "SUCCESS",
            "result": {"full_text": done["full_text"]},
        }
    assert web.stats().subscribers == 0


async def test_failure_is_recorded_and_published(pair: tuple[RedisBroker, RedisBroker]) -> None:
    _, web = pair
    subscription, record = await followed_task(pair, 2, "storyboard", steps(6, 1, "fail-midway"))
    messages = await collect(subscription, {record.task_id})
    await subscription.close()
    assert violations(messages, 2, "storyboard", {record.task_id}) == []
    error = orjson.loads(messages[-1])
    assert error["type"] == "error" and error["code"] == "stage_failed"
    status = await web.task(record.task_id)
    assert status is not None and status.status == "FAILURE" and status.error == error["error"]


async def test_subscribers_joining_mid_stream_miss_and_double_nothing(pair: tuple[RedisBroker, RedisBroker]) -> None:
    """The handover race: 400 tokens with no pause, subscribers joining all along the way."""
    producer, web = pair
    record = await web.create_task(3, "rewrite")
    Worker(producer).submit(record.task_id, steps(400, 0))
    joined: list[Subscription] = []
    for _ in range(12):
        joined.append(await web.subscribe(3, "rewrite"))
        await asyncio.sleep(0.003)
    results = await asyncio.gather(*(collect(s, {record.task_id}) for s in joined))
    final = (await web.task(record.task_id)).full_text  # type: ignore[union-attr]
    late_joiners = 0
    for messages in results:
        first = orjson.loads(messages[0])
        late = (first["type"] == "token" and first["full_text"] != first["content"]) or len(messages) < 401
        late_joiners += late
        assert violations(messages, 3, "rewrite", {record.task_id}, late_join=late) == []
        last = orjson.loads(messages[-1])
        assert last["type"] == "done" and last["full_text"] == final
        # Reassembling the stream gives exactly the task's text: nothing missed or doubled.
        assert "".join(orjson.loads(m)["content"] for m in messages[:-1]) == final
    assert late_joiners > 0, "no subscriber joined mid-stream: the race was not exercised"
    for subscription in joined:
        await subscription.close()


async def test_late_subscriber_to_an_ended_task_gets_its_terminal(pair: tuple[RedisBroker, RedisBroker]) -> None:
    producer, web = pair
    record = await web.create_task(4, "rewrite")
    worker = Worker(producer)
    worker.submit(record.task_id, steps(5, 0))
    for _ in range(200):
        status = await web.task(record.task_id)
        if status is not None and status.status == "SUCCESS":
            break
        await asyncio.sleep(0.01)
    subscription = await web.subscribe(4, "rewrite")
    messages = await collect(subscription, {record.task_id})
    await subscription.close()
    assert len(messages) == 1 and orjson.loads(messages[0])["type"] == "done"
    assert violations(messages, 4, "rewrite", {record.task_id}, late_join=True, task_ended=True) == []


async def test_isolation_by_project_stage_and_task_filter(pair: tuple[RedisBroker, RedisBroker]) -> None:
    producer, web = pair
    mine = await web.subscribe(5, "rewrite")
    other_stage = await web.subscribe(5, "storyboard")
    other_project = await web.subscribe(6, "rewrite")
    first = await web.create_task(5, "rewrite")
    second = await web.create_task(5, "rewrite")
    only_first = await web.subscribe(5, "rewrite", task_filter=first.task_id)
    worker = Worker(producer)
    worker.submit(first.task_id, steps(8, 1))
    worker.submit(second.task_id, steps(8, 1, text="second task"))
    both = await collect(mine, {first.task_id, second.task_id})
    filtered = await collect(only_first, {first.task_id})
    assert violations(both, 5, "rewrite", {first.task_id, second.task_id}) == []
    assert violations(filtered, 5, "rewrite", {first.task_id}, task_filter=first.task_id) == []
    assert {orjson.loads(m)["task_id"] for m in filtered} == {first.task_id}
    await asyncio.sleep(0.2)  # whatever would leak has had time to arrive
    assert await other_stage.next(0.05) is None
    assert await other_project.next(0.05) is None
    for subscription in (mine, other_stage, other_project, only_first):
        await subscription.close()
    assert web.stats().channels == 0


async def test_dropped_task_cuts_its_subscribers(pair: tuple[RedisBroker, RedisBroker]) -> None:
    _, web = pair
    subscription, record = await followed_task(pair, 7, "rewrite", steps(4, 1, "drop"))
    deliveries = []
    async with asyncio.timeout(10):
        while True:
            delivery = await subscription.next()
            deliveries.append(delivery)
            if isinstance(delivery, Cut):
                break
    await subscription.close()
    assert deliveries[-1] == Cut(1011, "rewrite task dropped the connection (Prefer: scenario=drop)")
    status = await web.task(record.task_id)
    assert status is not None and status.status == "FAILURE"


async def test_unknown_task_is_none(pair: tuple[RedisBroker, RedisBroker]) -> None:
    _, web = pair
    assert await web.task(str(uuid.uuid4())) is None
