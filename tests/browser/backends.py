"""Broken variants of the independent backend, for the browser check to flag, and a server for any ASGI app.

Each wrapper changes one thing on the wire and leaves the rest of
`tests/backends/independent.py` as it is:

- `RenamedSseEvents`: every SSE `event: token` line becomes `event: tokn` (S1: the event
  name must be one of token, done, error and match the data's type);
- `CorruptWsText`: every WebSocket token's `full_text` gains a stray `~` (Q2: accumulation).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.backends.independent import BackendConfig, IndependentBackend, Receive, Scope, Send


class RenamedSseEvents:
    def __init__(self, config: BackendConfig | None = None) -> None:
        self.app = IndependentBackend(config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def renaming(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": message["body"].replace(b"event: token\n", b"event: tokn\n")}
            await send(message)

        await self.app(scope, receive, renaming if scope["type"] == "http" else send)


class CorruptWsText:
    def __init__(self, config: BackendConfig | None = None) -> None:
        self.app = IndependentBackend(config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def corrupting(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send" and message.get("text"):
                payload = json.loads(message["text"])
                if payload.get("type") == "token":
                    payload["full_text"] += "~"
                    message = {**message, "text": json.dumps(payload, ensure_ascii=False)}
            await send(message)

        await self.app(scope, receive, corrupting if scope["type"] == "websocket" else send)


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free 127.0.0.1 port in a thread (as `serve_backend` does); yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_config=None, log_level="critical", access_log=False, ws="wsproto")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the backend did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def silent_listener() -> Iterator[str]:
    """A port that accepts TCP connections and never answers a byte: a hanging target."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
