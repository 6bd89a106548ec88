"""Two mock server processes on one Redis: a task POSTed to one is followed on the other.

Each server is a separate `python` process running the mock app with a RedisBroker on
a key prefix of this test's own. Every socket's events go through the rules core:
order and accumulation (Q1-Q3), the late subscriber's snapshot (W5), isolation (W6),
and task-status from both processes agrees with the stream (T3).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import orjson
import pytest

from stagecheck.contracts.events import WsMessage
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.transports.ws_async import WsSubscription, subscribe

pytestmark = [pytest.mark.redis, pytest.mark.anyio, pytest.mark.slow]

# A mock app whose broker is Redis, served by uvicorn: argv = redis url, prefix, port.
SERVER = """
import sys
import uvicorn
from stagecheck.mock_server.app import create_app
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.redis_broker import RedisBroker

url, prefix, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = create_app(MockConfig(tokens=8, token_delay_ms=10), broker=RedisBroker(url, prefix=prefix))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
"""


@pytest.fixture(scope="module")
def servers(redis_url: str, kit: Any) -> Iterator[tuple[str, str]]:
    """Two server processes sharing a fresh key prefix; (base URL of A, base URL of B).

    Started once for the module: each test uses projects of its own.
    """
    with kit.scratch_prefix(redis_url) as prefix:
        started = [kit.start_server_script(SERVER, redis_url, prefix, 30, pause_s=0.1) for _ in range(2)]
        yield started[0][1], started[1][1]
        for process, _ in started:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def ws(base: str, project: int = 1, stage: str = "rewrite", task_id: str | None = None) -> str:
    url = base.replace("http://", "ws://") + f"/ws/projects/{project}/stage/{stage}/"
    return url + (f"?task_id={task_id}" if task_id else "")


async def post(base: str, prefer: str, project: int = 1, stage: str = "rewrite") -> str:
    body: dict[str, Any] = {"stage_name": stage, "input_data": {"original_text": "two processes 两个进程 🚀"}}
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            f"{base}/api/v1/projects/projects/{project}/execute-stage/", json=body, headers={"Prefer": prefer}
        )
    assert answer.status_code == 202, answer.text
    task_id: str = answer.json()["task_id"]
    return task_id


async def status(base: str, task_id: str, project: int = 1) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            f"{base}/api/v1/projects/projects/{project}/task-status/", params={"task_id": task_id}
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def follow(kit: Any, sub: WsSubscription, tasks: set[str], validator: StreamValidator) -> list[dict[str, Any]]:
    """Feed events to the validator until every task in `tasks` ended; the messages."""
    run = kit.WsRun()
    await kit.read_ws(sub, run, validator, until=kit.is_terminal_of(tasks), idle_timeout_s=10, total_timeout=30)
    messages: list[dict[str, Any]] = run.messages
    pending = tasks - {m.get("task_id") for m in messages if m.get("type") in ("done", "error")}
    assert not pending, f"tasks {pending} did not end; got {messages[-3:]}"
    return messages


def validator(project: int, stage: str, tasks: set[str], **expect: Any) -> StreamValidator:
    return StreamValidator(
        Expectation("ws", task_ids=frozenset(tasks), project_id=project, stage_name=stage, **expect),
        Bounds(first_event_timeout_s=10, idle_timeout_s=10),
    )


def assert_clean(check: StreamValidator) -> None:
    check.finish(time.perf_counter())
    assert check.violations == [], "\n".join(str(v) for v in check.violations)


async def test_task_posted_on_one_process_is_followed_on_the_other(servers: tuple[str, str], kit: Any) -> None:
    a, b = servers
    async with subscribe(ws(b)) as sub:
        # The POST returns only after the socket is open: this subscriber is not late.
        first = await anext(sub.events(idle_timeout_s=10))
        task_id = await post(a, "tokens=30, delay-ms=10")
        check = validator(1, "rewrite", {task_id})
        check.feed(first)
        messages = await follow(kit, sub, {task_id}, check)
        await sub.close()
    assert_clean(check)
    assert [m["type"] for m in messages] == ["connected"] + ["token"] * 30 + ["done"]
    done = messages[-1]
    for base in (a, b):
        assert await status(base, task_id) == {
            "task_id": task_id,
            "stage_name": "rewrite",
            "status": "SUCCESS",
            "result": {"full_text": done["full_text"]},
        }


async def test_late_subscriber_on_the_other_process_gets_the_snapshot(servers: tuple[str, str], kit: Any) -> None:
    a, b = servers
    task_id = await post(a, "tokens=40, delay-ms=20", project=3)
    await anyio.sleep(0.3)  # about 15 tokens in
    check = validator(3, "rewrite", {task_id}, late_join=True)
    async with subscribe(ws(b, 3)) as sub:
        messages = await follow(kit, sub, {task_id}, check)
        await sub.close()
    assert_clean(check)
    tokens = [m for m in messages if m["type"] == "token"]
    assert 1 < len(tokens) < 40, "the subscriber did not join mid-task"
    assert tokens[0]["content"] == tokens[0]["full_text"] != ""
    done = messages[-1]
    assert (await status(b, task_id, 3))["result"] == {"full_text": done["full_text"]}

    # After the end, a new socket on either process replays the terminal at once (W5).
    for base in (a, b):
        replay_check = validator(3, "rewrite", {task_id}, late_join=True, task_ended=True)
        async with subscribe(ws(base, 3)) as sub:
            replay = await follow(kit, sub, {task_id}, replay_check)
            await sub.close()
        assert_clean(replay_check)
        assert [m["type"] for m in replay] == ["connected", "done"] and replay[1] == done


async def test_isolation_across_processes(servers: tuple[str, str], kit: Any) -> None:
    a, b = servers
    async with (
        subscribe(ws(b, 4, "storyboard")) as other_stage,
        subscribe(ws(b, 5, "rewrite")) as other_project,
        subscribe(ws(b, 4, "rewrite")) as everything,
    ):
        for sub in (other_stage, other_project, everything):
            await anext(sub.events(idle_timeout_s=10))  # WsOpened
        first = await post(a, "tokens=10, delay-ms=10", project=4)
        second = await post(a, "tokens=10, delay-ms=10", project=4)
        check_all = validator(4, "rewrite", {first, second})
        both = await follow(kit, everything, {first, second}, check_all)
        assert {m.get("task_id") for m in both if m["type"] != "connected"} == {first, second}
        async with subscribe(ws(b, 4, "rewrite", task_id=first)) as filtered:
            check_one = validator(4, "rewrite", {first}, task_filter=first, late_join=True, task_ended=True)
            only = await follow(kit, filtered, {first}, check_one)
            await filtered.close()
        assert {m.get("task_id") for m in only if m["type"] != "connected"} == {first}
        for sub in (other_stage, other_project):
            seen = [e async for e in sub.events(idle_timeout_s=0.5)]
            texts = [orjson.loads(e.text)["type"] for e in seen if isinstance(e, WsMessage) and e.text]
            assert texts == ["connected"], f"a foreign message leaked: {texts}"
        for sub in (other_stage, other_project, everything):
            await sub.close()
    assert_clean(check_all)
    assert_clean(check_one)
