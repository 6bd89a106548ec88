"""`--executor celery`: a real Celery worker process produces the tokens into Redis.

The web side (this test process) only creates tasks, queues them and subscribes; the
worker plans the text with the mock's generator, so it equals the inline text (D1).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest

from stagecheck.contracts.events import StreamClosed, WsMessage, WsOpened
from stagecheck.contracts.stream_rules import Expectation, StreamValidator
from stagecheck.mock_server.broker import Subscription
from stagecheck.mock_server.celery_executor import (
    CeleryExecutor,
    CeleryWorkerError,
    CeleryWorkerProcess,
    start_celery_worker,
)
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.plan import plan_steps
from stagecheck.mock_server.redis_broker import RedisBroker
from stagecheck.mock_server.scenarios import scenario_for
from stagecheck.mock_server.textgen import stage_tokens

pytestmark = [pytest.mark.redis, pytest.mark.anyio, pytest.mark.slow]
INPUT = {"original_text": "celery worker 工人 🎬"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def prefix(redis_url: str) -> Iterator[str]:
    name = f"stagecheck-test:{uuid.uuid4().hex[:12]}:"
    yield name
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=name + "*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def worker(prefix: str, redis_url: str) -> Iterator[CeleryWorkerProcess]:
    process = start_celery_worker(redis_url, prefix, pool="threads", concurrency=4)
    yield process
    process.stop()


@pytest.fixture
async def web(
    prefix: str, worker: CeleryWorkerProcess, redis_url: str
) -> AsyncIterator[tuple[RedisBroker, CeleryExecutor]]:
    broker = RedisBroker(redis_url, prefix=prefix)
    await broker.start()
    executor = CeleryExecutor(broker, redis_url, prefix)
    yield broker, executor
    await executor.shutdown()
    await broker.aclose()


async def run(broker: RedisBroker, executor: CeleryExecutor, project: int, prefer: str) -> tuple[str, list[str]]:
    subscription = await broker.subscribe(project, "rewrite")
    record = await broker.create_task(project, "rewrite")
    scenario = scenario_for([prefer], MockConfig())
    steps = plan_steps("rewrite", INPUT, scenario)
    executor.submit(record.task_id, steps, stage_name="rewrite", input_data=INPUT, scenario=scenario)
    messages = await collect(subscription, record.task_id)
    await subscription.close()
    return record.task_id, messages


async def collect(subscription: Subscription, task_id: str, timeout: float = 30.0) -> list[str]:
    messages: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            delivery = await subscription.next()
            assert isinstance(delivery, str), f"unexpected {delivery}"
            messages.append(delivery)
            payload = orjson.loads(delivery)
            if payload["task_id"] == task_id and payload["type"] in ("done", "error"):
                return messages


def assert_valid(messages: list[str], project: int, task_id: str) -> None:
    validator = StreamValidator(Expectation("ws", task_ids=frozenset({task_id}), project_id=project))
    validator.feed(WsOpened(0.0))
    validator.feed(
        WsMessage(0.001, orjson.dumps({"type": "connected", "project_id": project, "stage_name": "rewrite"}).decode())
    )
    for n, message in enumerate(messages):
        validator.feed(WsMessage(0.002 + n * 1e-4, message))
    validator.feed(StreamClosed(1.0, by_client=True))
    validator.finish(1.0)
    assert validator.violations == [], "\n".join(str(v) for v in validator.violations)


async def test_worker_produces_the_deterministic_text(web: tuple[RedisBroker, CeleryExecutor]) -> None:
    broker, executor = web
    task_id, messages = await run(broker, executor, 1, "tokens=15, delay-ms=5")
    assert_valid(messages, 1, task_id)
    done = orjson.loads(messages[-1])
    assert done["type"] == "done" and len(messages) == 16
    assert done["full_text"] == "".join(stage_tokens("rewrite", INPUT, 15))  # D1: as the inline worker
    status = await broker.task(task_id)
    assert status is not None and status.status == "SUCCESS" and status.full_text == done["full_text"]


async def test_worker_failure_scenario(web: tuple[RedisBroker, CeleryExecutor]) -> None:
    broker, executor = web
    task_id, messages = await run(broker, executor, 2, "scenario=fail-midway, tokens=6, delay-ms=5")
    assert_valid(messages, 2, task_id)
    error = orjson.loads(messages[-1])
    assert error["type"] == "error" and error["code"] == "stage_failed"
    assert [orjson.loads(m)["type"] for m in messages] == ["token"] * 3 + ["error"]
    status = await broker.task(task_id)
    assert status is not None and status.status == "FAILURE"


async def test_many_tasks_queue_beyond_the_pool(web: tuple[RedisBroker, CeleryExecutor]) -> None:
    """Ten tasks on a pool of four: all end, each in order, each subscriber isolated by task."""
    broker, executor = web
    results = await asyncio.gather(*(run(broker, executor, 10 + n, "tokens=5, delay-ms=20") for n in range(10)))
    for n, (task_id, messages) in enumerate(results):
        assert_valid(messages, 10 + n, task_id)
        assert orjson.loads(messages[-1])["type"] == "done"


async def test_unqueueable_task_fails_with_broker_unavailable(prefix: str, redis_url: str) -> None:
    broker = RedisBroker(redis_url, prefix=prefix)
    # A Celery app pointed at a Redis that does not answer: the send fails, the task fails.
    executor = CeleryExecutor(broker, "redis://127.0.0.1:1/0", prefix)
    subscription = await broker.subscribe(3, "rewrite")
    record = await broker.create_task(3, "rewrite")
    scenario = scenario_for([], MockConfig())
    executor.submit(record.task_id, (), stage_name="rewrite", input_data=INPUT, scenario=scenario)
    messages = await collect(subscription, record.task_id)
    error = orjson.loads(messages[-1])
    assert error["code"] == "broker_unavailable" and "could not queue the task" in error["error"]
    await subscription.close()
    await executor.shutdown()
    await broker.aclose()


def test_stop_ends_a_stalled_task_with_an_error(prefix: str, redis_url: str) -> None:
    """A warm shutdown does not wait for a stalled task forever: the task ends with an error."""
    other = f"{prefix}stop:"
    process = start_celery_worker(redis_url, other, pool="solo")

    async def scenario() -> tuple[list[str], int]:
        broker = RedisBroker(redis_url, prefix=other)
        executor = CeleryExecutor(broker, redis_url, other)
        subscription = await broker.subscribe(4, "rewrite")
        record = await broker.create_task(4, "rewrite")
        stall = scenario_for(["scenario=stall, tokens=4"], MockConfig())
        executor.submit(record.task_id, (), stage_name="rewrite", input_data=INPUT, scenario=stall)
        first = await subscription.next(20)
        assert isinstance(first, str) and orjson.loads(first)["type"] == "token"
        status = await asyncio.to_thread(process.stop)
        messages = [first, *await collect(subscription, record.task_id)]
        await subscription.close()
        await executor.shutdown()
        await broker.aclose()
        return messages, status

    messages, status = asyncio.run(scenario())
    last = orjson.loads(messages[-1])
    assert last["type"] == "error" and last["code"] == "worker_shutdown"
    assert status == 0


def test_executor_needs_the_plan_inputs(prefix: str, redis_url: str) -> None:
    executor = CeleryExecutor(RedisBroker(redis_url, prefix=prefix), redis_url, prefix)
    with pytest.raises(ValueError, match="plans in its worker"):
        executor.submit(str(uuid.uuid4()), ())


def test_worker_that_cannot_start_says_why(redis_url: str) -> None:
    with pytest.raises(CeleryWorkerError, match="pool must be threads or solo"):
        start_celery_worker(redis_url, "x:", pool="prefork")  # type: ignore[arg-type]
    with pytest.raises(CeleryWorkerError, match=r"cannot reach Redis at redis://127.0.0.1:1/0: connection refused"):
        start_celery_worker("redis://127.0.0.1:1/0", "x:", ready_timeout_s=10)
