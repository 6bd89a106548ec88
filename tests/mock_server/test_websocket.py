"""The WebSocket channel over a real socket, judged by the rules core (W1-W7, Q1-Q6, M1, E2)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from stagecheck.contracts.events import StreamClosed, WsMessage
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.mock_server.config import MockConfig

pytestmark = pytest.mark.anyio


def ws_validator(task_ids: set[str], project: int = 1, stage: str = "rewrite", **options: Any) -> StreamValidator:
    expect = Expectation("ws", task_ids=frozenset(task_ids), project_id=project, stage_name=stage, **options)
    return StreamValidator(expect, Bounds(first_event_timeout_s=5, idle_timeout_s=5))


async def wait_for(predicate: Any, what: str) -> None:
    for _ in range(200):  # bounded: 200 x 20 ms
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_socket_follows_a_task_and_stays_open_after_it(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url, 2, "storyboard")) as sub:
        task_id = await kit.start_task(mock.base_url, {"stage_name": "storyboard", "input_data": {"n": 1}}, project=2)
        validator = ws_validator({task_id}, 2, "storyboard")
        await kit.read_ws(sub, run, validator, until=kit.is_terminal_of({task_id}))
        # W7: nothing closes the socket after the terminal event; our idle timeout ends it.
        await kit.read_ws(sub, run, validator, idle_timeout_s=0.4)
    validator.finish(time.perf_counter())
    kit.assert_no_violations(validator)
    assert run.messages[0] == {"type": "connected", "project_id": 2, "stage_name": "storyboard"}  # W2
    kinds = [m["type"] for m in run.of_task(task_id)]
    assert kinds == ["token"] * 6 + ["done"]
    closed = run.closed
    assert closed is not None and closed.by_client


@pytest.mark.parametrize(("project", "stage"), [(999999999, "rewrite"), (0, "rewrite"), (1, "painting")])
async def test_unknown_project_or_stage_closes_4404(start_mock: Any, kit: Any, project: int, stage: str) -> None:
    mock = start_mock()
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url, project, stage)) as sub:
        await kit.read_ws(sub, run)
    assert run.closed is not None and run.closed.code == 4404 and run.closed.reason  # W1
    assert run.messages == []


async def test_auth_token_on_the_socket_url(start_mock: Any, kit: Any) -> None:
    mock = start_mock(MockConfig(auth_token="s3cret"))
    for query in ({}, {"token": "wrong"}):
        run = kit.WsRun()
        async with kit.subscribe(kit.socket_url(mock.ws_url, **query)) as sub:
            await kit.read_ws(sub, run)
        assert run.closed is not None and run.closed.code == 4401  # E2
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url, token="s3cret")) as sub:
        await kit.read_ws(sub, run, until=lambda e: isinstance(e, WsMessage))
    assert run.messages[0]["type"] == "connected"


async def test_ping_is_answered_with_pong_within_a_second(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
        await kit.read_ws(sub, run, until=lambda e: isinstance(e, WsMessage))
        sent = time.perf_counter()
        await sub.send_json({"type": "ping"})
        await kit.read_ws(sub, run, until=lambda e: isinstance(e, WsMessage) and '"pong"' in (e.text or ""))
    pong = run.events[-1]
    assert isinstance(pong, WsMessage) and pong.at - sent < 1.0  # W3
    assert run.messages[-1] == {"type": "pong"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [("not json", 1008), ('{"type": "subscribe"}', 1008), ("[1, 2]", 1008), (b"\x00\x01", 1003)],
)
async def test_bad_frame_closes_only_that_socket(start_mock: Any, kit: Any, frame: str | bytes, code: int) -> None:
    mock = start_mock(MockConfig(tokens=8, token_delay_ms=30))
    bystander_run = kit.WsRun()
    async with (
        kit.subscribe(kit.socket_url(mock.ws_url, 3)) as bystander,
        kit.subscribe(kit.socket_url(mock.ws_url, 3)) as offender,
    ):
        task_id = await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False), project=3)
        validator = ws_validator({task_id}, 3)
        offender_run = kit.WsRun()
        await kit.read_ws(
            offender, offender_run, until=lambda e: isinstance(e, WsMessage) and "token" in (e.text or "")
        )
        if isinstance(frame, bytes):
            await offender.send_bytes(frame)
        else:
            await offender.send_text(frame)
        await kit.read_ws(offender, offender_run)
        assert offender_run.closed is not None and offender_run.closed.code == code  # W4
        assert offender_run.closed.reason
        # The other socket and the task go on.
        await kit.read_ws(bystander, bystander_run, validator, until=kit.is_terminal_of({task_id}))
    validator.finish(time.perf_counter())
    kit.assert_no_violations(validator)
    assert bystander_run.of_task(task_id)[-1]["type"] == "done"


async def test_late_subscriber_gets_a_snapshot_then_live_tokens(start_mock: Any, kit: Any) -> None:
    mock = start_mock(MockConfig(tokens=12, token_delay_ms=40))
    task_id = await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False))
    await asyncio.sleep(0.2)  # a few tokens are out
    run = kit.WsRun()
    validator = ws_validator({task_id}, late_join=True)
    async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
        await kit.read_ws(sub, run, validator, until=kit.is_terminal_of({task_id}))
    validator.finish(time.perf_counter())
    kit.assert_no_violations(validator)
    messages = run.of_task(task_id)
    snapshot = messages[0]
    assert snapshot["type"] == "token" and snapshot["content"] == snapshot["full_text"]  # W5
    assert 1 < len(messages) < 13  # not the whole history replayed token by token
    assert messages[-1]["type"] == "done" and messages[-1]["full_text"].startswith(snapshot["full_text"])


@pytest.mark.parametrize(
    ("filtered", "scenario"), [(False, "fail-midway"), (True, "fail-midway"), (True, "fail-start")]
)
async def test_subscriber_after_the_task_ended_gets_its_terminal_event(
    start_mock: Any, kit: Any, filtered: bool, scenario: str
) -> None:
    mock = start_mock(MockConfig(tokens=2, token_delay_ms=0))
    task_id = await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False), prefer=f"scenario={scenario}")
    async with httpx.AsyncClient() as client:

        async def ended() -> bool:
            response = await client.get(kit.status_url(mock.base_url), params={"task_id": task_id})
            return bool(response.json()["status"] == "FAILURE")

        for _ in range(100):
            if await ended():
                break
            await asyncio.sleep(0.02)
    query = {"task_id": task_id} if filtered else {}
    run = kit.WsRun()
    validator = ws_validator({task_id}, late_join=True, task_ended=True, task_filter=query.get("task_id"))
    async with kit.subscribe(kit.socket_url(mock.ws_url, **query)) as sub:
        await kit.read_ws(sub, run, validator, until=kit.is_terminal_of({task_id}))
    validator.finish(time.perf_counter())
    kit.assert_no_violations(validator)
    assert [m["type"] for m in run.messages[:2]] == ["connected", "error"]  # W5: terminal right after connected


async def test_two_tasks_on_one_project_and_stage_are_isolated(start_mock: Any, kit: Any) -> None:
    mock = start_mock(MockConfig(tokens=6, token_delay_ms=20))
    all_run, first_run, other_stage_run = kit.WsRun(), kit.WsRun(), kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url, 4)) as everything:
        body = kit.rewrite_body(streaming=False)
        first = await kit.start_task(mock.base_url, body, project=4)
        second = await kit.start_task(mock.base_url, kit.rewrite_body("another text", streaming=False), project=4)
        async with (
            kit.subscribe(kit.socket_url(mock.ws_url, 4, task_id=first)) as only_first,
            kit.subscribe(kit.socket_url(mock.ws_url, 4, "storyboard")) as other_stage,
        ):
            all_validator = ws_validator({first, second}, 4)
            first_validator = ws_validator({first}, 4, task_filter=first, late_join=True)
            await kit.read_ws(everything, all_run, all_validator, until=kit.is_terminal_of({first, second}))
            await kit.read_ws(only_first, first_run, first_validator, until=kit.is_terminal_of({first}))
            await kit.read_ws(other_stage, other_stage_run, idle_timeout_s=0.3)
    for validator in (all_validator, first_validator):
        validator.finish(time.perf_counter())
        kit.assert_no_violations(validator)
    assert {m.get("task_id") for m in all_run.messages[1:]} == {first, second}
    assert {m.get("task_id") for m in first_run.messages[1:]} == {first}  # W6 with ?task_id
    assert [m["type"] for m in other_stage_run.messages] == ["connected"]  # W6 across stages
    assert all_run.of_task(first)[-1]["full_text"] != all_run.of_task(second)[-1]["full_text"]


async def test_drop_scenario_closes_the_socket_with_1011(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
        await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False), prefer="scenario=drop, tokens=6")
        await kit.read_ws(sub, run)
    assert [m["type"] for m in run.messages] == ["connected"] + ["token"] * 3
    assert run.closed is not None and run.closed.code == 1011 and not run.closed.by_client


async def test_stall_scenario_goes_silent_but_answers_pings(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
        task_id = await kit.start_task(
            mock.base_url, kit.rewrite_body(streaming=False), prefer="scenario=stall, tokens=4"
        )
        validator = ws_validator({task_id})
        await kit.read_ws(sub, run, validator, idle_timeout_s=0.4)
    validator.finish(time.perf_counter())
    assert [m["type"] for m in run.messages] == ["connected", "token", "token"]
    assert [v.rule for v in validator.violations] == ["Q1"]  # incomplete: no terminal event
    async with httpx.AsyncClient() as client:
        status = await client.get(kit.status_url(mock.base_url), params={"task_id": task_id})
    assert status.json()["status"] == "PROGRESS"


async def test_heartbeats_when_configured(start_mock: Any, kit: Any) -> None:
    mock = start_mock(MockConfig(heartbeat_s=0.1))
    run = kit.WsRun()
    validator = ws_validator(set())
    async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
        await kit.read_ws(sub, run, validator, total_timeout=0.35)
    validator.finish(time.perf_counter())
    kit.assert_no_violations(validator)
    assert [m["type"] for m in run.messages].count("heartbeat") >= 2


async def test_disconnects_free_every_resource(start_mock: Any, kit: Any) -> None:
    mock = start_mock(MockConfig(tokens=30, token_delay_ms=20))
    state = kit.state_of(mock)
    for _ in range(3):
        async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
            await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False))
            await kit.read_ws(sub, kit.WsRun(), until=lambda e: isinstance(e, WsMessage) and "token" in (e.text or ""))
    async with httpx.AsyncClient() as client:
        for _ in range(3):
            async with client.stream("POST", kit.execute_url(mock.base_url), json=kit.rewrite_body()) as response:
                async for _chunk in response.aiter_raw():
                    break  # leave mid-stream
    await wait_for(lambda: state.broker.stats().subscribers == 0 and not state.sockets, "sockets to be freed")
    await wait_for(lambda: not state.sse_streams, "SSE streams to be freed")
    await wait_for(lambda: state.worker.running == 0, "tasks to end")
    stats = state.broker.stats()
    assert (stats.subscribers, stats.channels, stats.running_tasks) == (0, 0, 0)


async def test_shutdown_closes_sockets_with_1001(start_mock: Any, kit: Any) -> None:
    mock = start_mock(MockConfig(tokens=100, token_delay_ms=50))
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
        await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False))
        await kit.read_ws(sub, run, until=lambda e: isinstance(e, WsMessage) and "token" in (e.text or ""))
        await asyncio.to_thread(mock.stop)
        await kit.read_ws(sub, run)
    closed = run.closed
    assert isinstance(closed, StreamClosed) and closed.code == 1001 and not closed.by_client


@pytest.mark.slow
async def test_process_mode_serves_the_same_protocol(start_mock: Any, kit: Any) -> None:
    mock = start_mock(mode="process")
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
        task_id = await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False))
        validator = ws_validator({task_id})
        await kit.read_ws(sub, run, validator, until=kit.is_terminal_of({task_id}))
    validator.finish(time.perf_counter())
    kit.assert_no_violations(validator)
    assert mock.pid != __import__("os").getpid()
