"""The SSE answer (use_streaming true, and the legacy endpoint): an ASGI response.

Each step is written as soon as it is due, one `http.response.body` message per event
(S5). A watcher on `receive` notices a client that leaves, so a stalled or slow stream
frees its resources at once; at server shutdown the stream ends with an `error` event.

Between events the stream sleeps with a plain `asyncio.sleep`; whoever stops it (the
watcher, the shutdown) resolves `stop` and cancels the sleeping task, which catches
that one cancellation. That is about half the cost per token of waiting on the stop
future with a timeout, and tokens are the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

import orjson
from starlette.types import Receive, Scope, Send

from .plan import ERROR_CODE, Plan
from .state import MockState

SSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
)
KEEP_ALIVE = b": keep-alive\n\n"


def sse_event(number: int, kind: str, payload: dict[str, object]) -> bytes:
    """One event: id, event type and one-line JSON data whose `type` is the event type (S1, S2)."""
    data = orjson.dumps({"type": kind, **payload})
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (number, kind.encode(), data)


def encode_plan(steps: Plan) -> tuple[bytes | None, ...]:
    """The SSE bytes of each step (None for stall and drop, which send nothing)."""
    chunks: list[bytes | None] = []
    full_text = ""
    number = 0
    for step in steps:
        if step.kind in ("stall", "drop"):
            chunks.append(None)
            continue
        number += 1
        if step.kind == "token":
            full_text += step.text
            chunks.append(sse_event(number, "token", {"content": step.text, "full_text": full_text}))
        elif step.kind == "done":
            chunks.append(sse_event(number, "done", {"full_text": full_text}))
        else:
            chunks.append(sse_event(number, "error", {"error": step.text, "code": ERROR_CODE}))
    return tuple(chunks)


# A plan is deterministic, and so are its SSE bytes: encode each (cached) plan once.
# Keyed by identity (hashing a long tuple costs as much as a lookup saves); the value
# holds the plan, so its id cannot be reused while the entry lives.
_ENCODED: OrderedDict[int, tuple[Plan, tuple[bytes | None, ...]]] = OrderedDict()
_ENCODED_ENTRIES = 128


def encoded_plan(steps: Plan) -> tuple[bytes | None, ...]:
    entry = _ENCODED.get(id(steps))
    if entry is not None and entry[0] is steps:
        _ENCODED.move_to_end(id(steps))
        return entry[1]
    chunks = encode_plan(steps)
    _ENCODED[id(steps)] = (steps, chunks)
    if len(_ENCODED) > _ENCODED_ENTRIES:
        _ENCODED.popitem(last=False)
    return chunks


class SseStream:
    """Streams a task's steps as SSE events."""

    def __init__(self, state: MockState, steps: Plan, headers: dict[str, str] | None = None) -> None:
        self.state = state
        self.steps = steps
        self.headers = list(SSE_HEADERS) + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.number = 0  # the id of the last event sent
        self.last_write = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        stop: asyncio.Future[str] = loop.create_future()
        streaming = True

        def interrupt(_: asyncio.Future[str]) -> None:
            if streaming:
                task.cancel(msg="sse stream stopped")

        stop.add_done_callback(interrupt)
        if self.state.shutting_down:
            stop.set_result("shutdown")
        self.state.sse_streams.add(stop)
        watcher = loop.create_task(_watch_disconnect(receive, stop))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            try:
                await self._stream(send, stop)
            except asyncio.CancelledError:
                if not stop.done():
                    raise  # not ours: uvicorn is cancelling the request
                task.uncancel()
            streaming = False
            if stop.done() and stop.result() == "shutdown":
                await self._end_for_shutdown(send)
        finally:
            streaming = False
            watcher.cancel()
            self.state.sse_streams.discard(stop)

    async def _stream(self, send: Send, stop: asyncio.Future[str]) -> None:
        loop = asyncio.get_running_loop()
        start = self.last_write = loop.time()
        for step, chunk in zip(self.steps, encoded_plan(self.steps), strict=True):
            if step.kind == "stall":
                await self._idle(send, None)
                return
            delay = start + step.due - loop.time()
            if delay > 0:
                await self._idle(send, delay)
            if step.kind == "drop":
                # The body ends without a terminal event: the "incomplete stream" case (S4).
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            self.number += 1
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self.last_write = loop.time()
            if step.kind != "token":
                if self.state.config.close_after_terminal_s > 0:
                    await asyncio.sleep(self.state.config.close_after_terminal_s)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _idle(self, send: Send, delay: float | None) -> None:
        """Wait `delay` seconds (None: until stopped), with keep-alive comments when configured."""
        heartbeat = self.state.config.heartbeat_s
        if heartbeat is None:
            if delay is None:
                await asyncio.get_running_loop().create_future()  # until cancelled
            else:
                await asyncio.sleep(delay)
            return
        loop = asyncio.get_running_loop()
        until = None if delay is None else loop.time() + delay
        while until is None or loop.time() < until:
            beat_at = self.last_write + heartbeat
            if loop.time() >= beat_at:
                await send({"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True})
                self.last_write = loop.time()
                continue
            await asyncio.sleep(beat_at - loop.time() if until is None else min(until, beat_at) - loop.time())

    async def _end_for_shutdown(self, send: Send) -> None:
        # Errors after the 200 are reported as an error event (section 2).
        error = sse_event(self.number + 1, "error", {"error": "the server is shutting down", "code": "server_shutdown"})
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": error, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _watch_disconnect(receive: Receive, stop: asyncio.Future[str]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not stop.done():
                stop.set_result("disconnect")
            return
