"""Redis unreachable at start-up, lost mid-task, and back again: never a silent hang.

These tests start a redis-server of their own on a free port (not the session's shared one),
so that they can stop it.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest

from stagecheck.errors import ConfigError
from stagecheck.mock_server.broker import Cut, Subscription
from stagecheck.mock_server.cluster import ScaleOptions, create_scaled_app
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.plan import Plan, plan_steps
from stagecheck.mock_server.redis_broker import RedisBroker, RedisUnreachable, check_redis
from stagecheck.mock_server.redis_wire import BrokerUnavailable
from stagecheck.mock_server.scenarios import scenario_for
from stagecheck.mock_server.worker import Worker
from tests.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.redis, pytest.mark.anyio]


class OwnRedis(RedisServer):
    """A redis-server of this test's own, on a fixed free port, that can be stopped and restarted.

    Its binary is found as the session's private server's is (tests/redis_server.py); `stop`
    kills it, as a crash would.
    """

    def __init__(self, binary: str) -> None:
        super().__init__(binary, port=free_port())

    def stop(self, graceful: bool = False, timeout_s: float = 5.0) -> None:
        super().stop(graceful, timeout_s)


@pytest.fixture
def own_redis(redis_binary: str) -> Iterator[OwnRedis]:
    server = OwnRedis(redis_binary)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def brokers(own_redis: OwnRedis) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    producer = RedisBroker(own_redis.url, prefix="outage:", settle_for_s=30)
    web = RedisBroker(own_redis.url, prefix="outage:")
    await producer.start()
    await web.start()
    yield producer, web
    await producer.aclose()
    await web.aclose()


async def first_not_a_token(subscription: Subscription, within_s: float) -> dict[str, Any]:
    """The subscription's next message that is not a token (tokens are skipped), within `within_s`."""
    async with asyncio.timeout(within_s):
        while True:
            delivery = await subscription.next()
            assert isinstance(delivery, str)
            payload: dict[str, Any] = orjson.loads(delivery)
            if payload["type"] != "token":
                return payload


def steps(tokens: int, delay_ms: float) -> Plan:
    scenario = scenario_for([f"tokens={tokens}, delay-ms={delay_ms}"], MockConfig())
    return plan_steps("rewrite", {"original_text": "outage 测试 🚀"}, scenario)


async def test_start_up_names_the_url_and_what_to_do() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    broker = RedisBroker(url)
    with pytest.raises(RedisUnreachable) as caught:
        await broker.start()
    await broker.aclose()
    assert str(caught.value) == (
        f"cannot reach Redis at {url}: connection refused; start redis-server or use --broker memory"
    )
    assert isinstance(caught.value, ConfigError) and caught.value.exit_code == 2
    with pytest.raises(RedisUnreachable, match="connection refused; start redis-server"):
        check_redis(url)
    with pytest.raises(ConfigError, match="not a Redis URL"):
        RedisBroker("http://127.0.0.1:1/0")


async def test_password_is_not_shown() -> None:
    url = f"redis://user:secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnreachable) as caught:
        check_redis(url)
    assert "secret" not in str(caught.value) and "user:***@" in str(caught.value)


@pytest.mark.slow
async def test_redis_lost_mid_task_then_back(own_redis: OwnRedis, brokers: tuple[RedisBroker, RedisBroker]) -> None:
    producer, web = brokers
    subscription = await web.subscribe(1, "rewrite")
    record = await web.create_task(1, "rewrite")
    worker = Worker(producer)
    worker.submit(record.task_id, steps(400, 20))  # 8 s of tokens: Redis dies in the middle
    received: list[str] = []
    async with asyncio.timeout(10):
        while len(received) < 5:
            delivery = await subscription.next()
            assert isinstance(delivery, str)
            received.append(delivery)

    own_redis.stop()
    # The subscriber is told, promptly, instead of waiting forever.
    payload = await first_not_a_token(subscription, 5)
    assert payload["type"] == "error" and payload["code"] == "broker_unavailable"
    assert payload["task_id"] == record.task_id and f"127.0.0.1:{own_redis.port}" in payload["error"]
    # Requests that need Redis fail fast with a reason (the app answers 503).
    with pytest.raises(BrokerUnavailable, match=f"cannot reach Redis at redis://127.0.0.1:{own_redis.port}/0: "):
        await web.create_task(1, "rewrite")
    with pytest.raises(BrokerUnavailable):
        await web.task(record.task_id)
    refused = await web.subscribe(1, "storyboard")
    cut = await refused.next(5)
    assert isinstance(cut, Cut) and cut.code == 1013 and "cannot reach Redis" in cut.reason
    await refused.close()

    own_redis.start()  # empty: nothing was persisted
    # The lost task is recorded as FAILURE (T3 agrees with the error the subscriber got).
    async with asyncio.timeout(10):
        while True:
            try:
                status = await web.task(record.task_id)
            except BrokerUnavailable:
                status = None
            if status is not None and status.status == "FAILURE":
                break
            await asyncio.sleep(0.1)
    assert "lost the connection to Redis" in (status.error or "")

    # New tasks work again, on the old subscription (after its reconnection) and a new one.
    fresh = await web.subscribe(1, "rewrite")
    second = await web.create_task(1, "rewrite")
    worker.submit(second.task_id, steps(5, 5))
    for sub in (subscription, fresh):
        messages: list[dict[str, object]] = []
        async with asyncio.timeout(10):
            while not messages or messages[-1]["type"] not in ("done", "error"):
                delivery = await sub.next()
                assert isinstance(delivery, str)
                message = orjson.loads(delivery)
                if message["task_id"] == second.task_id:
                    messages.append(message)
        assert [m["type"] for m in messages] == ["token"] * 5 + ["done"]
        assert messages[0]["full_text"] == messages[0]["content"]
    # Nothing more of the first task reaches the old subscription after its error.
    assert await subscription.next(0.3) is None
    await subscription.close()
    await fresh.close()
    await worker.shutdown()


@pytest.mark.slow
async def test_paused_redis_is_noticed_not_waited_for(own_redis: OwnRedis) -> None:
    """A Redis that stops answering without closing (SIGSTOP) still ends the streams with an error."""
    web = RedisBroker(own_redis.url, prefix="paused:", health_check_s=0.5)
    producer = RedisBroker(own_redis.url, prefix="paused:")
    subscription = await web.subscribe(1, "rewrite")
    record = await web.create_task(1, "rewrite")
    worker = Worker(producer)
    worker.submit(record.task_id, steps(400, 20))
    first = await subscription.next(10)
    assert isinstance(first, str) and orjson.loads(first)["type"] == "token"
    assert own_redis.process is not None
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        payload = await first_not_a_token(subscription, 10)
        assert payload["code"] == "broker_unavailable" and "no answer to PING within 0.5 s" in payload["error"]
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    # Redis answers again: the subscription reconnects and follows new tasks.
    second = await web.create_task(1, "rewrite")
    worker.submit(second.task_id, steps(3, 5))
    async with asyncio.timeout(15):
        while True:
            delivery = await subscription.next()
            assert isinstance(delivery, str)
            message = orjson.loads(delivery)
            if message["task_id"] == second.task_id and message["type"] == "done":
                break
    await subscription.close()
    await worker.shutdown()
    await web.aclose()
    await producer.aclose()


async def test_requests_answer_503_while_redis_is_down(own_redis: OwnRedis) -> None:
    app = create_scaled_app(MockConfig(tokens=3, token_delay_ms=1), ScaleOptions(broker=own_redis.url))
    execute = "/api/v1/projects/projects/1/execute-stage/"
    body = {"stage_name": "rewrite", "input_data": {"original_text": "503"}}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock") as client:
        started = await client.post(execute, json=body)
        assert started.status_code == 202
        task_id = started.json()["task_id"]
        own_redis.stop()
        refused = await client.post(execute, json=body)
        status = await client.get("/api/v1/projects/projects/1/task-status/", params={"task_id": task_id})
    for answer in (refused, status):
        assert answer.status_code == 503, answer.text
        assert answer.json()["code"] == "broker_unavailable"
        assert answer.json()["error"].startswith(f"cannot reach Redis at {own_redis.url}: ")
    await app.state.mock.worker.shutdown()
    await app.state.mock.broker.aclose()
