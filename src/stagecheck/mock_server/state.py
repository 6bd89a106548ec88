"""Everything one running mock app holds, and its orderly shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from .broker import Broker, Subscription
from .config import MockConfig
from .worker import Worker

SERVER_SEND = "stagecheck.server_send"
"""Scope key of the server's own `send`, under every middleware (app.MockApp)."""
SHUTDOWN_CODE = 1001
SHUTDOWN_REASON = "server shutting down"


@dataclass(eq=False)
class MockState:
    config: MockConfig
    broker: Broker
    worker: Worker
    # Open SSE answers, each with the future that stops it ("disconnect" or "shutdown").
    sse_streams: set[asyncio.Future[str]] = field(default_factory=set)
    # Open WebSocket subscriptions; cut with 1001 at shutdown.
    sockets: set[Subscription] = field(default_factory=set)
    shutting_down: bool = False

    def begin_shutdown(self) -> None:
        """End open SSE streams (with an error event) and close sockets with 1001."""
        self.shutting_down = True
        for stop in self.sse_streams:
            if not stop.done():
                stop.set_result("shutdown")
        for subscription in self.sockets:
            subscription.cut(SHUTDOWN_CODE, SHUTDOWN_REASON)

    async def drain(self, timeout_s: float) -> None:
        """Wait (bounded) for the streams to end, then stop the worker's tasks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (self.sse_streams or self.sockets) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        await self.worker.shutdown()
