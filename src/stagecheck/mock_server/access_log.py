"""One log line per request: method, path, status, duration. Never the query string
(a WebSocket's `?token=` lives there) nor any header."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("stagecheck.mock")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outcome = "-"

        async def recording_send(message: Message) -> None:
            nonlocal outcome
            kind = message["type"]
            if kind == "http.response.start":
                outcome = str(message["status"])
            elif kind == "websocket.accept" and outcome == "-":
                outcome = "101"
            elif kind == "websocket.close":
                outcome = f"{outcome} close {message.get('code', 1000)}"
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.info("%s %s %s %.1fms", method, scope["path"], outcome, elapsed_ms)
