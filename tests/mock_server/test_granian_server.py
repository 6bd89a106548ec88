"""The mock under Granian: both modes stream, shutdown ends open streams, bad choices are clear."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stagecheck.contracts.events import SseEvent, StreamClosed, WsMessage
from stagecheck.errors import ConfigError
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock

pytestmark = pytest.mark.anyio
STAGECHECK = [sys.executable, "-m", "stagecheck"]
FAST = MockConfig(tokens=6, token_delay_ms=10)


@pytest.fixture
def started() -> Iterator[list[EmbeddedMock]]:
    mocks: list[EmbeddedMock] = []
    yield mocks
    for mock in mocks:
        mock.stop()


def granian(mocks: list[EmbeddedMock], config: MockConfig = FAST, mode: str = "thread") -> EmbeddedMock:
    mock = EmbeddedMock(config, mode=mode, server="granian")  # type: ignore[arg-type]
    mocks.append(mock.start())
    return mock


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_sse_and_websocket_streams_follow_the_rules(started: list[EmbeddedMock], kit: Any, mode: str) -> None:
    mock = granian(started, mode=mode)
    sse = await kit.read_sse(kit.execute_url(mock.base_url), kit.rewrite_body())
    kit.assert_no_violations(sse.validator)
    assert sse.terminal is not None and sse.terminal.event == "done"
    assert len([e for e in sse.sse_events if e.event == "token"]) == FAST.tokens

    task_id = await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False))
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url, task_id=task_id)) as sub:
        await kit.read_ws(sub, run, until=kit.is_terminal_of({task_id}))
    kinds = [message["type"] for message in run.of_task(task_id)]
    assert kinds.count("token") == FAST.tokens and kinds[-1] == "done", kinds


async def test_shutdown_ends_an_open_sse_answer_with_an_error_event(started: list[EmbeddedMock], kit: Any) -> None:
    mock = granian(started)
    reading = asyncio.create_task(
        kit.read_sse(kit.execute_url(mock.base_url), kit.rewrite_body(), prefer="scenario=stall, tokens=4")
    )
    for _ in range(100):
        if kit.state_of(mock).sse_streams:
            break
        await asyncio.sleep(0.02)
    assert kit.state_of(mock).sse_streams, "the SSE answer never opened"
    await asyncio.to_thread(mock.stop)
    run = await asyncio.wait_for(reading, 10)
    kit.assert_no_violations(run.validator)
    last = run.sse_events[-1]
    assert isinstance(last, SseEvent) and json.loads(last.data)["code"] == "server_shutdown"
    assert isinstance(run.events[-1], StreamClosed) and not run.events[-1].error


@pytest.mark.parametrize("mode", ["thread", "process"])
async def test_shutdown_closes_a_live_socket_with_1001(started: list[EmbeddedMock], kit: Any, mode: str) -> None:
    mock = granian(started, MockConfig(tokens=100, token_delay_ms=50), mode=mode)
    run = kit.WsRun()
    async with kit.subscribe(kit.socket_url(mock.ws_url)) as sub:
        await kit.start_task(mock.base_url, kit.rewrite_body(streaming=False))
        await kit.read_ws(sub, run, until=lambda e: isinstance(e, WsMessage) and "token" in (e.text or ""))
        await asyncio.to_thread(mock.stop)
        await asyncio.wait_for(kit.read_ws(sub, run), 10)
    closed = run.closed
    assert isinstance(closed, StreamClosed) and closed.code == 1001 and not closed.by_client, closed


def test_a_stopped_server_never_closes_a_file_that_took_its_socket_number(started: list[EmbeddedMock]) -> None:
    """Granian closes the fd it serves when it stops. Given our socket's own fd, that fd was
    closed twice: the socket object's close later hit the file that had reused the number
    (CI: another test's listening socket and a temporary file, EBADF)."""
    mock = granian(started)
    assert mock.server is not None
    number = mock.server._sock.fileno()  # type: ignore[union-attr]
    mock.stop()
    with contextlib.ExitStack() as files:
        later = None
        for _ in range(100):  # the kernel hands out the lowest free number
            opened = files.enter_context(tempfile.TemporaryFile())
            if opened.fileno() == number:
                later = opened
                break
        assert later is not None, f"fd {number} was not free after the server stopped"
        started.clear()
        del mock
        gc.collect()
        os.fstat(later.fileno())  # EBADF if the server's socket closed it


def test_an_unknown_server_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="uvicorn, granian"):
        EmbeddedMock(FAST, server="hypercorn")  # type: ignore[arg-type]


def test_granian_refuses_the_scaled_set_ups() -> None:
    from stagecheck.mock_server.cluster import ScaleOptions

    with pytest.raises(ValueError, match="server='uvicorn'"):
        EmbeddedMock(FAST, mode="process", scale=ScaleOptions(broker="redis://127.0.0.1:1/0"), server="granian")


def test_module_entry_refuses_an_unknown_server_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stagecheck.mock_server", "--port", "0", "--server", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2 and "server must be one of uvicorn, granian" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--server", "nope"], "'nope' is not one of 'uvicorn', 'granian'"),
        (["--server", "granian", "--workers", "2", "--broker", "redis://127.0.0.1:1/0"], "need --server uvicorn"),
    ],
)
def test_command_refuses_bad_server_choices(options: list[str], message: str) -> None:
    done = subprocess.run(
        [*STAGECHECK, "mock", "--port", "0", *options], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_command_serves_under_granian_and_stops_cleanly_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [*STAGECHECK, "mock", "--server", "granian", "--port", "0", "--tokens", "3", "--token-delay-ms", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+).*granian", banner)
        assert match, banner
        body = {"stage_name": "rewrite", "input_data": {"original_text": "hi"}, "use_streaming": True}
        url = f"http://127.0.0.1:{match[1]}/api/v1/projects/projects/1/execute-stage/"
        response = httpx.post(url, json=body, timeout=10)
        assert response.status_code == 200 and response.text.count("event: token") == 3
        assert "event: done" in response.text
    finally:
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=15)
    assert process.returncode == 0, rest
    assert "POST /api/v1/projects/projects/1/execute-stage/ 200" in rest, rest  # the mock's own access log
    assert "Traceback" not in rest


def test_granian_admits_thousands_of_concurrent_streams() -> None:
    """Granian's default backpressure (its backlog, 2,048) queued every stream beyond it:
    a benchmark at 5,000 streams ran them in batches. The mock lifts the cap."""
    from stagecheck.mock_server.app import create_app
    from stagecheck.mock_server.granian_server import GranianMock
    from stagecheck.mock_server.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        server = GranianMock(create_app(FAST), sock).server
        assert server.backpressure >= 100_000 and server.backlog >= 4096
    finally:
        sock.close()
