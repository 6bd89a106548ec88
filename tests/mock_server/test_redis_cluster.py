"""`serve_scaled`: several uvicorn worker processes on one socket, sharing the Redis broker.

The kernel spreads connections over the worker processes, so tasks are POSTed to and
followed on whichever process answers: every socket must still see every task of its
project and stage, in order (with a per-process broker, most would miss some).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis
import redis.asyncio

from stagecheck.contracts.events import StreamEvent, WsMessage
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.errors import ConfigError
from stagecheck.mock_server.cluster import ScaleOptions, create_app_from_env, export_env, serve_scaled
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock
from stagecheck.mock_server.redis_broker import RedisBroker, RedisUnreachable
from stagecheck.transports.ws_async import subscribe
from tests.redis_server import free_port

pytestmark = [pytest.mark.redis]

SERVE = """
import sys
from stagecheck.mock_server.cluster import ScaleOptions, serve_scaled
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock

url, prefix, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
options = ScaleOptions(broker=url, redis_prefix=prefix, workers=2)
serve_scaled(MockConfig(tokens=8, token_delay_ms=10, access_log=False), options, port=port)
"""


@pytest.fixture(scope="module")
def cluster(redis_url: str, kit: Any) -> Iterator[tuple[str, str]]:
    """(base URL, key prefix) of a two-process mock."""
    with kit.scratch_prefix(redis_url) as prefix:
        process, base = kit.start_server_script(SERVE, redis_url, prefix, 60, pause_s=0.2)
        try:
            yield base, prefix
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_options_refuse_what_cannot_work(redis_url: str) -> None:
    with pytest.raises(ConfigError, match="--workers 2 needs --broker redis://"):
        ScaleOptions(workers=2)
    with pytest.raises(ConfigError, match="--executor celery needs --broker redis://"):
        ScaleOptions(executor="celery")
    with pytest.raises(ConfigError, match="--broker must be memory or a redis:// URL"):
        ScaleOptions(broker="http://127.0.0.1:1")
    with pytest.raises(ConfigError, match="--workers must be 1 or more"):
        ScaleOptions(broker=redis_url, workers=0)


def test_unreachable_redis_stops_before_serving() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(RedisUnreachable, match=f"cannot reach Redis at {url}: connection refused; start redis-server"):
        serve_scaled(MockConfig(), ScaleOptions(broker=url, workers=2), port=0)


def test_factory_reads_the_environment(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    config = MockConfig(tokens=3, terminal_retention_s=7)
    for name, value in export_env(config, ScaleOptions(broker=redis_url, redis_prefix="p:", workers=3)).items():
        monkeypatch.setenv(name, value)
    app = create_app_from_env()
    broker = app.state.mock.broker
    assert isinstance(broker, RedisBroker)
    assert (broker.keys.prefix, broker.retention_s, app.state.mock.config) == ("p:", 7, config)


async def _follow(base: str, tasks_wanted: int, posted: list[str], ready: asyncio.Event) -> list[dict[str, Any]]:
    url = base.replace("http://", "ws://") + "/ws/projects/1/stage/rewrite/"
    async with subscribe(url) as sub:
        events = sub.events(idle_timeout_s=15, total_timeout=40, until=_ended_count(tasks_wanted))
        messages: list[dict[str, Any]] = []
        validator: list[StreamEvent] = []
        ready.set()
        async for event in events:
            validator.append(event)
            if isinstance(event, WsMessage) and event.text:
                messages.append(orjson.loads(event.text))
        await sub.close()
    check = StreamValidator(
        Expectation("ws", task_ids=frozenset(posted), project_id=1, stage_name="rewrite"), Bounds(10, 10)
    )
    for event in validator:
        check.feed(event)
    check.finish(time.perf_counter())
    assert check.violations == [], "\n".join(str(v) for v in check.violations)
    return messages


def _ended_count(wanted: int) -> Any:
    ended: set[str] = set()

    def until(event: StreamEvent) -> bool:
        if isinstance(event, WsMessage) and event.text:
            message = orjson.loads(event.text)
            if message.get("type") in ("done", "error"):
                ended.add(message["task_id"])
        return len(ended) >= wanted

    return until


@pytest.mark.slow
@pytest.mark.anyio
async def test_every_socket_sees_every_task_whichever_process_serves_it(
    cluster: tuple[str, str], redis_url: str
) -> None:
    base, prefix = cluster
    tasks = 6
    posted: list[str] = []
    followers: list[asyncio.Task[list[dict[str, Any]]]] = []
    # Open followers (at least 6) until both processes hold some: each process subscribes
    # to the channel once, so Redis counts the processes that serve sockets of it.
    for _ in range(40):
        ready = asyncio.Event()
        followers.append(asyncio.create_task(_follow(base, tasks, posted, ready)))
        await asyncio.wait_for(ready.wait(), 20)
        await asyncio.sleep(0.05)  # its `connected` is out: its process has subscribed
        if len(followers) >= 6 and await _processes_subscribed(redis_url, prefix) >= 2:
            break
    assert await _processes_subscribed(redis_url, prefix) == 2, "the kernel gave every socket to one process"
    body = {"stage_name": "rewrite", "input_data": {"original_text": "many workers 多进程"}}
    for _ in range(tasks):
        # A new connection per POST: the kernel picks the worker process.
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.post(f"{base}/api/v1/projects/projects/1/execute-stage/", json=body)
        assert answer.status_code == 202, answer.text
        posted.append(answer.json()["task_id"])
    results = await asyncio.gather(*followers)
    finals: dict[str, str] = {}
    for messages in results:
        done = {m["task_id"]: m["full_text"] for m in messages if m["type"] == "done"}
        assert set(done) == set(posted)
        for task_id, text in done.items():
            assert finals.setdefault(task_id, text) == text
    for task_id in posted:
        for _ in range(3):  # T3, asked of whichever process answers
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.get(
                    f"{base}/api/v1/projects/projects/1/task-status/", params={"task_id": task_id}
                )
                status = answer.json()
            assert status["status"] == "SUCCESS" and status["result"]["full_text"] == finals[task_id]


async def _processes_subscribed(redis_url: str, prefix: str) -> int:
    client = redis.asyncio.Redis.from_url(redis_url)
    answer = await client.pubsub_numsub(f"{prefix}live:1:rewrite")
    await client.aclose()
    return int(answer[0][1])


@pytest.mark.slow
def test_server_process_on_an_inherited_socket_says_ready(redis_url: str, kit: Any) -> None:
    """`python -m stagecheck.mock_server.cluster --fd`: how an embedded mock on Redis starts."""
    with kit.scratch_prefix(redis_url) as prefix:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        options = ScaleOptions(broker=redis_url, redis_prefix=prefix, workers=2)
        env = export_env(MockConfig(tokens=2, token_delay_ms=1), options)
        command = [
            *(sys.executable, "-m", "stagecheck.mock_server.cluster", "--fd", str(listener.fileno())),
            *("--config-json", env["STAGECHECK_MOCK_CONFIG"], "--scale-json", env["STAGECHECK_MOCK_SCALE"]),
        ]
        process = subprocess.Popen(
            command, pass_fds=[listener.fileno()], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        listener.close()
        try:
            assert process.stdout is not None
            assert process.stdout.readline() == b"ready\n", process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            body = {"stage_name": "rewrite", "input_data": {"original_text": "fd"}}
            answer = httpx.post(f"http://127.0.0.1:{port}/api/v1/projects/projects/1/execute-stage/", json=body)
            assert answer.status_code == 202
            process.send_signal(signal.SIGINT)
            assert process.wait(20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_embedded_mock_on_redis(mode: str, redis_url: str, kit: Any) -> None:
    workers = 2 if mode == "process" else 1
    with kit.scratch_prefix(redis_url) as prefix:
        scale = ScaleOptions(broker=redis_url, redis_prefix=prefix, workers=workers)
        with EmbeddedMock(MockConfig(tokens=3, token_delay_ms=1), mode=mode, scale=scale) as mock:  # type: ignore[arg-type]
            body = {"stage_name": "rewrite", "input_data": {"original_text": "embedded"}}
            answer = httpx.post(f"{mock.base_url}/api/v1/projects/projects/1/execute-stage/", json=body, timeout=10)
            assert answer.status_code == 202
            task_id = answer.json()["task_id"]
            client = redis.Redis.from_url(redis_url)
            assert client.exists(f"{prefix}task:{task_id}") == 1  # the task lives in Redis
            client.close()


def test_embedded_thread_mode_is_one_process(redis_url: str) -> None:
    with pytest.raises(ValueError, match="mode='process'"):
        EmbeddedMock(mode="thread", scale=ScaleOptions(broker=redis_url, workers=2))
