"""Backends that hang in the ways real ones do, built on the independent backend (not the mock).

`Hang(app, kind)` wraps an ASGI app and breaks one thing:

- `silent-sse`: a streaming execute-stage answers 200 `text/event-stream`, then sends nothing
  and keeps the connection open until the client leaves;
- `endless-sse`: a streaming answer sends a token every 10 ms and never ends;
- `silent-socket`: the WebSocket is accepted, then nothing is ever sent on it;
- `no-task-id`: every WebSocket message lacks `task_id` (Q5, M1), so a check waiting for
  "the terminal event of task X" never sees one.

The gate must end each of these within its budget, with a report, naming the rule it saw.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.backends.independent import BackendConfig, IndependentBackend, Receive, Scope, Send

KINDS = ("silent-sse", "endless-sse", "silent-socket", "no-task-id")


def _is_streaming_post(scope: Scope, body: bytes) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].endswith("/execute-stage/"):
        return False
    try:
        return bool(json.loads(body).get("use_streaming"))
    except (ValueError, AttributeError):
        return False


class Hang:
    def __init__(self, app: IndependentBackend, kind: str) -> None:
        assert kind in KINDS, kind
        self.app = app
        self.kind = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.kind in ("silent-sse", "endless-sse"):
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket" and self.kind == "silent-socket":
            await self._silent_socket(receive, send)
        elif scope["type"] == "websocket" and self.kind == "no-task-id":
            await self.app(scope, receive, _without_task_id(send))
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:  # the whole request body first, to see whether it asks for a stream
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if not _is_streaming_post(scope, body):
            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        gone = asyncio.ensure_future(receive())  # http.disconnect when the client leaves
        number = 0
        try:
            while not gone.done():
                if self.kind == "silent-sse":
                    await asyncio.wait({gone})
                    break
                number += 1
                data = json.dumps({"type": "token", "content": "x", "full_text": "x" * number})
                event = f"id: {number}\nevent: token\ndata: {data}\n\n"
                await send({"type": "http.response.body", "body": event.encode(), "more_body": True})
                await asyncio.sleep(0.01)
        finally:
            gone.cancel()

    @staticmethod
    async def _silent_socket(receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass  # never a word back


def _without_task_id(send: Send) -> Send:
    async def strip(message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send" and message.get("text"):
            payload = json.loads(message["text"])
            payload.pop("task_id", None)
            message = {**message, "text": json.dumps(payload)}
        await send(message)

    return strip


@contextmanager
def serve_hanging(kind: str, **config: Any) -> Iterator[str]:
    """Serve the independent backend broken by `kind` on a free 127.0.0.1 port; yields its base URL."""
    app = Hang(IndependentBackend(BackendConfig(**config)), kind)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_config=None, log_level="critical", access_log=False, ws="wsproto")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
