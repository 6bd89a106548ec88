"""SSE answers over a real socket, judged by the rules core (S1-S6, M1, Q1-Q4, D1, L2)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from stagecheck.contracts.events import SseComment, SseEvent, StreamClosed
from stagecheck.contracts.stream_rules import Expectation
from stagecheck.mock_server.config import MockConfig

pytestmark = pytest.mark.anyio
STAGES = ["rewrite", "storyboard", "image_generation", "camera_movement", "video_generation"]


@pytest.mark.parametrize("stage", STAGES)
async def test_every_stage_streams_a_conforming_answer(start_mock: Any, kit: Any, stage: str) -> None:
    mock = start_mock()
    body = {"stage_name": stage, "input_data": {"original_text": "Grüße 你好 👋🏽"}, "use_streaming": True}
    run = await kit.read_sse(kit.execute_url(mock.base_url), body)
    kit.assert_no_violations(run.validator)
    assert run.terminal is not None and run.terminal.event == "done"
    assert [e.id for e in run.sse_events] == [str(n) for n in range(1, 8)]  # 6 tokens + done, ids from 1
    assert run.full_text


async def test_events_are_flushed_as_produced(start_mock: Any, kit: Any) -> None:
    mock = start_mock(MockConfig(tokens=8, token_delay_ms=60))
    run = await kit.read_sse(
        kit.execute_url(mock.base_url), kit.rewrite_body(), expect=Expectation("sse", token_interval_s=0.06)
    )
    kit.assert_no_violations(run.validator)  # S5 is judged with a known interval
    tokens = [e for e in run.sse_events if e.event == "token"]
    assert tokens[-1].at - tokens[0].at > 0.2  # spread over ~420 ms, not one burst


async def test_fail_start_is_an_error_before_any_token(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = await kit.read_sse(kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="scenario=fail-start")
    kit.assert_no_violations(run.validator)
    assert [e.event for e in run.sse_events] == ["error"]
    assert json.loads(run.sse_events[0].data)["code"]


async def test_fail_midway_is_an_error_after_some_tokens(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = await kit.read_sse(
        kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="scenario=fail-midway, tokens=10"
    )
    kit.assert_no_violations(run.validator)
    assert [e.event for e in run.sse_events] == ["token"] * 5 + ["error"]


async def test_prefer_parameters_shape_the_stream(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = await kit.read_sse(
        kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="tokens=3, delay-ms=30, first-delay-ms=300"
    )
    kit.assert_no_violations(run.validator)
    assert [e.event for e in run.sse_events] == ["token", "token", "token", "done"]
    head = run.events[1]
    assert head.header("preference-applied") == "tokens=3, delay-ms=30, first-delay-ms=300"
    assert run.sse_events[0].at - run.events[0].at >= 0.28  # first-delay-ms honoured


async def test_first_token_delay_scenario(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = await kit.read_sse(
        kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="scenario=first-token-delay, first-delay-ms=400"
    )
    kit.assert_no_violations(run.validator)
    assert run.sse_events[0].at - run.events[0].at >= 0.38


async def test_slow_scenario_multiplies_the_delay(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = await kit.read_sse(
        kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="scenario=slow, tokens=3, delay-ms=20"
    )
    kit.assert_no_violations(run.validator)
    tokens = [e for e in run.sse_events if e.event == "token"]
    assert tokens[-1].at - tokens[0].at >= 0.38  # 2 gaps of 200 ms


async def test_drop_ends_the_body_without_a_terminal_event(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    run = await kit.read_sse(kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="scenario=drop, tokens=6")
    assert [e.event for e in run.sse_events] == ["token"] * 3
    assert [v.rule for v in run.validator.violations] == ["S4"]  # incomplete stream, and nothing else
    assert "incomplete stream" in run.validator.violations[0].message


async def test_stall_holds_the_stream_open_until_the_client_leaves(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    state = kit.state_of(mock)
    run = await kit.read_sse(
        kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="scenario=stall, tokens=4", idle_timeout_s=0.5
    )
    assert [e.event for e in run.sse_events] == ["token"] * 2
    closed = run.events[-1]
    assert isinstance(closed, StreamClosed) and closed.by_client  # the server never ended it
    assert {v.rule for v in run.validator.violations} == {"S4"}
    for _ in range(100):  # the server notices the client left and frees the stream
        if not state.sse_streams:
            break
        await asyncio.sleep(0.02)
    assert not state.sse_streams


async def test_a_client_that_leaves_during_a_long_wait_leaves_nothing_behind(start_mock: Any, kit: Any) -> None:
    from stagecheck.mock_server import paced

    mock = start_mock()
    state = kit.state_of(mock)
    run = await kit.read_sse(
        kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="first-delay-ms=60000, tokens=2", idle_timeout_s=0.3
    )
    assert run.sse_events == []  # the client gave up during the first token's 60 s wait
    for _ in range(100):
        if not state.sse_streams:
            break
        await asyncio.sleep(0.02)
    assert not state.sse_streams
    # Not even the pacer keeps the stream until its first token's slot, a minute away:
    # no pacer (other tests' servers have theirs) holds a script that has ended.
    kept = [
        script
        for pacer in list(paced._PACERS.values())
        for bucket in pacer._buckets.values()
        for script in bucket
        if script.ended.done()
    ]
    assert kept == []


async def test_keep_alive_comments_when_configured(start_mock: Any, kit: Any) -> None:
    mock = start_mock(MockConfig(tokens=2, token_delay_ms=250, heartbeat_s=0.1))
    run = await kit.read_sse(kit.execute_url(mock.base_url), kit.rewrite_body())
    kit.assert_no_violations(run.validator)  # S3: comments are not events
    assert sum(isinstance(e, SseComment) for e in run.events) >= 1


async def test_output_is_identical_in_sse_websocket_and_legacy_modes(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    text = "混合 text ✨ with emoji 🚀 and 中文"
    sse = await kit.read_sse(kit.execute_url(mock.base_url, 5), kit.rewrite_body(text))
    legacy = await kit.read_sse(kit.legacy_url(mock.base_url, 5), {"input_data": {"original_text": text}})
    kit.assert_no_violations(sse.validator)
    kit.assert_no_violations(legacy.validator)
    head = legacy.events[1]
    assert head.header("deprecation") and "successor-version" in (head.header("link") or "")
    task_id = await kit.start_task(mock.base_url, kit.rewrite_body(text, streaming=False), project=5)
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url, 5, "rewrite", task_id=task_id)) as sub:
        await kit.read_ws(sub, run, until=kit.is_terminal_of({task_id}))
    ws_text = run.of_task(task_id)[-1]["full_text"]
    assert sse.full_text == legacy.full_text == ws_text  # D1, L2
    assert any(ord(ch) > 0x7F for ch in ws_text)  # non-ASCII survives (Q4)


async def test_shutdown_ends_open_streams_with_an_error_event(start_mock: Any, kit: Any) -> None:
    mock = start_mock()
    reading = asyncio.create_task(
        kit.read_sse(kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="scenario=stall, tokens=4")
    )
    for _ in range(100):
        if kit.state_of(mock).sse_streams:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    await asyncio.to_thread(mock.stop)
    run = await reading
    kit.assert_no_violations(run.validator)
    last = run.sse_events[-1]
    assert isinstance(last, SseEvent) and json.loads(last.data)["code"] == "server_shutdown"
    assert isinstance(run.events[-1], StreamClosed) and not run.events[-1].error
