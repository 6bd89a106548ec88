"""Servers for the transport tests, all on 127.0.0.1 port 0, in one background event loop.

- `raw_http`: a hand-written HTTP/1.1 server that plays a script of byte chunks, pauses,
  resets and stalls, so tests control exactly how the bytes are cut.
- `ws_server`: a `websockets` server with one behaviour per path (feed, echo, close 4404,
  reject the handshake, drop the connection, stay silent).
- `app_server`: a Starlette app under uvicorn that streams a conforming SSE answer, as a
  real backend would.

The loop runs in a thread, so sync tests (client in the main thread) and anyio tests (client
in the test's own loop) use the same servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import count
from typing import Any, TypeVar

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

T = TypeVar("T")

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Accel-Buffering: no\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sse_event(type_: str, payload: dict[str, Any], event_id: int | None = None, *, crlf: bool = False) -> bytes:
    """One event as docs/protocol.md section 2 writes it."""
    data = json.dumps({"type": type_, **payload}, ensure_ascii=False)
    lines = ([f"id: {event_id}"] if event_id is not None else []) + [f"event: {type_}", f"data: {data}", "", ""]
    return ("\r\n" if crlf else "\n").join(lines).encode()


def token_stream(words: list[str], *, task_id: str | None = None) -> list[bytes]:
    """A conforming stream: one token event per word, then done (ids from 1)."""
    extra = {"task_id": task_id} if task_id else {}
    events, text = [], ""
    for number, word in enumerate(words, start=1):
        text += word
        events.append(sse_event("token", {"content": word, "full_text": text, **extra}, number))
    events.append(sse_event("done", {"full_text": text, **extra}, len(words) + 1))
    return events


# -- the background loop ------------------------------------------------------------------


class BackgroundLoop:
    """An asyncio loop in a daemon thread; `run` executes a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-servers", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(cancel_all(), timeout=5.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        if not self.thread.is_alive():
            self.loop.close()


@pytest.fixture(scope="session")
def server_loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    yield background
    background.stop()


# -- raw HTTP -----------------------------------------------------------------------------


@dataclass
class Script:
    """What the raw server does for one path: a head, then steps.

    Steps: ("send", bytes) writes a chunk (chunked framing when `chunked`), ("sleep", s)
    pauses, ("reset", None) aborts with a TCP RST, ("cut", None) closes without the last
    chunk, ("stall", None) goes silent until the client hangs up. After the last step the
    body ends cleanly.
    """

    steps: list[tuple[str, Any]]
    head: bytes = SSE_HEAD
    chunked: bool = True
    produced: list[float] = field(default_factory=list)
    """time.monotonic() when each "send" step was written (for the timing tests)."""


def json_answer(status: int, payload: dict[str, Any]) -> Script:
    body = json.dumps(payload).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return Script([("send", body)], head=head, chunked=False)


class RawHttpServer:
    """Plays `Script`s; the builders (`Script`, `event`, `tokens`, `json_answer`) ride along for tests."""

    def __init__(self, background: BackgroundLoop) -> None:
        self.scripts: dict[str, Script] = {}
        self._paths = count(1)
        self.listener = background.run(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port: int = self.listener.sockets[0].getsockname()[1]

    Script = Script
    event = staticmethod(sse_event)
    tokens = staticmethod(token_stream)
    json_answer = staticmethod(json_answer)

    def serve(self, script: Script) -> str:
        """Register a script under a fresh path; returns its URL."""
        path = f"/raw/{next(self._paths)}"
        self.scripts[path] = script
        return f"http://127.0.0.1:{self.port}{path}"

    def script_of(self, url: str) -> Script:
        return self.scripts[url.split(str(self.port), 1)[1]]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = next((int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length:")), 0)
            await reader.readexactly(length)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await self._play(self.scripts[path], reader, writer, sock)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _play(
        self, script: Script, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sock: Any
    ) -> None:
        writer.write(script.head)
        for kind, value in script.steps:
            if kind == "send":
                script.produced.append(time.monotonic())
                writer.write(b"%x\r\n%s\r\n" % (len(value), value) if script.chunked else value)
                await writer.drain()
            elif kind == "sleep":
                await asyncio.sleep(value)
            elif kind == "reset":
                await writer.drain()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            elif kind == "cut":
                await writer.drain()
                return
            elif kind == "stall":
                await writer.drain()
                # Silent until the client hangs up (bounded, should the client never do so).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(), 60)
                return
        if script.chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()


@pytest.fixture(scope="session")
def raw_http(server_loop: BackgroundLoop) -> Iterator[RawHttpServer]:
    server = RawHttpServer(server_loop)
    yield server
    server_loop.run(_close_server(server.listener))


async def _close_server(server: Any) -> None:
    server.close()
    await server.wait_closed()


# -- WebSocket ----------------------------------------------------------------------------


async def _ws_handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    path = ws.request.path.split("?")[0]
    if path == "/ws/feed":
        await ws.send(json.dumps({"type": "connected", "project_id": 1, "stage_name": "rewrite"}))
        await ws.send(json.dumps({"type": "token", "content": "你好", "full_text": "你好", "task_id": "t1"}))
        await ws.send(b"\x00\x01binary")
        await ws.send(json.dumps({"type": "done", "full_text": "你好", "task_id": "t1"}))
        await _answer_pings(ws)
    elif path == "/ws/echo":
        await _answer_pings(ws)
    elif path == "/ws/gone":
        await ws.close(4404, "unknown project")
    elif path == "/ws/drop":
        await ws.send(json.dumps({"type": "connected", "project_id": 1, "stage_name": "rewrite"}))
        await asyncio.sleep(0.05)
        ws.transport.abort()
    elif path == "/ws/silent":
        await ws.wait_closed()


async def _answer_pings(ws: ServerConnection) -> None:
    async for message in ws:
        if isinstance(message, str) and message.startswith("{") and json.loads(message).get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        else:
            await ws.send(message)


def _reject(connection: ServerConnection, request: WsRequest) -> WsResponse | None:
    if request.path.startswith("/ws/deny"):
        return connection.respond(HTTPStatus.FORBIDDEN, "not allowed\n")
    return None


@pytest.fixture(scope="session")
def ws_server(server_loop: BackgroundLoop) -> Iterator[str]:
    server = server_loop.run(_start_ws())
    port = next(iter(server.sockets)).getsockname()[1]
    yield f"ws://127.0.0.1:{port}"
    server_loop.run(_close_server(server))


async def _start_ws() -> Any:
    return await serve(_ws_handler, "127.0.0.1", 0, process_request=_reject)


# -- a real app under uvicorn -------------------------------------------------------------

CONFORMING_WORDS = ["Hello", ", ", "世界", " 🌍", "!"]


async def _conforming(request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for number, chunk in enumerate(token_stream(CONFORMING_WORDS)):
            if number == 2:
                yield b": keep-alive\n\n"
            yield chunk
            await asyncio.sleep(0.01)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


async def _not_found(request: Request) -> JSONResponse:
    return JSONResponse({"error": "project 999 not found", "code": "not_found"}, status_code=404)


async def _accepted(request: Request) -> JSONResponse:
    payload = await request.json()
    return JSONResponse({"task_id": "7f0c", "echo": payload, "status": "PENDING"}, status_code=202)


def _app() -> Starlette:
    return Starlette(
        routes=[
            Route("/sse/conforming", _conforming, methods=["POST"]),
            Route("/missing", _not_found, methods=["GET", "POST"]),
            Route("/accept", _accepted, methods=["POST"]),
        ]
    )


@pytest.fixture(scope="session")
def app_server(server_loop: BackgroundLoop) -> Iterator[str]:
    config = uvicorn.Config(_app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.run_coroutine_threadsafe(server.serve(), server_loop.loop)
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    with contextlib.suppress(Exception):
        task.result(5.0)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port where nothing listens (bound but not listening, so no one else takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]
