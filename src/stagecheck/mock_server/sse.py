"""The SSE answer (use_streaming true, and the legacy endpoint): an ASGI response.

Each step is written as soon as it is due, one `http.response.body` message per event
(S5), by a paced script on the loop's shared pacer (paced.py) rather than a task that
sleeps, which is what lets one process hold thousands of paced streams. A watcher on
`receive` notices a client that leaves, so a stalled or slow stream frees its resources
at once; at server shutdown the stream ends with an `error` event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict

import orjson
from starlette.types import Message, Receive, Scope, Send

from .paced import PacedScript, Script
from .plan import ERROR_CODE, Plan
from .state import SERVER_SEND, MockState

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


# A plan is deterministic, and so are its SSE bytes: encode each (cached) plan once, as
# the ASGI messages that carry them (the server only reads a message, and a fresh dict
# per event is measurable at thousands of streams). Keyed by identity (hashing a long
# tuple costs as much as a lookup saves); the value holds the plan, so its id cannot be
# reused while the entry lives.
_ENCODED: OrderedDict[int, tuple[Plan, tuple[Message | None, ...]]] = OrderedDict()
_ENCODED_ENTRIES = 128


def plan_messages(steps: Plan) -> tuple[Message | None, ...]:
    """The `http.response.body` message of each step's event (None for stall and drop)."""
    entry = _ENCODED.get(id(steps))
    if entry is not None and entry[0] is steps:
        _ENCODED.move_to_end(id(steps))
        return entry[1]
    messages = tuple(
        None if chunk is None else {"type": "http.response.body", "body": chunk, "more_body": True}
        for chunk in encode_plan(steps)
    )
    _ENCODED[id(steps)] = (steps, messages)
    if len(_ENCODED) > _ENCODED_ENTRIES:
        _ENCODED.popitem(last=False)
    return messages


END_OF_BODY = {"type": "http.response.body", "body": b"", "more_body": False}


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
        stop: asyncio.Future[str] = loop.create_future()
        if self.state.shutting_down:
            stop.set_result("shutdown")
        self.state.sse_streams.add(stop)
        watcher = loop.create_task(_watch_disconnect(receive, stop))
        script: PacedScript | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            if not stop.done():
                # The events are written from the loop's timers (paced.py), straight to the
                # server (app.MockApp); whoever stops the stream (the watcher, the shutdown)
                # stops the script.
                script = PacedScript(self._script(loop, scope.get(SERVER_SEND, send)))
                stop.add_done_callback(lambda _: script.cancel())
                await script.ended
            if stop.done() and stop.result() == "shutdown":
                await self._end_for_shutdown(send)
        finally:
            if script is not None:
                script.cancel()
            watcher.cancel()
            self.state.sse_streams.discard(stop)

    def _script(self, loop: asyncio.AbstractEventLoop, send: Send) -> Script:
        heartbeat = self.state.config.heartbeat_s
        start = self.last_write = loop.time()
        for step, message in zip(self.steps, plan_messages(self.steps), strict=True):
            if step.kind == "stall":
                yield from self._idle(loop, send, None)
                return
            if heartbeat is None:
                yield start + step.due
            else:
                yield from self._idle(loop, send, start + step.due)
            if step.kind == "drop":
                # The body ends without a terminal event: the "incomplete stream" case (S4).
                yield send(END_OF_BODY)
                return
            assert message is not None  # only stall and drop have none
            self.number += 1
            yield send(message)
            self.last_write = loop.time()
            if step.kind != "token":
                yield loop.time() + self.state.config.close_after_terminal_s
                yield send(END_OF_BODY)
                return
        yield send(END_OF_BODY)

    def _idle(self, loop: asyncio.AbstractEventLoop, send: Send, until: float | None) -> Script:
        """Wait until `until` (None: until stopped), with keep-alive comments when configured."""
        heartbeat = self.state.config.heartbeat_s
        if heartbeat is None:
            yield until
            return
        while until is None or loop.time() < until:
            beat_at = self.last_write + heartbeat
            if loop.time() >= beat_at:
                yield send({"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True})
                self.last_write = loop.time()
                continue
            yield beat_at if until is None else min(until, beat_at)

    async def _end_for_shutdown(self, send: Send) -> None:
        # Errors after the 200 are reported as an error event (section 2).
        error = sse_event(self.number + 1, "error", {"error": "the server is shutting down", "code": "server_shutdown"})
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": error, "more_body": True})
            await send(END_OF_BODY)


async def _watch_disconnect(receive: Receive, stop: asyncio.Future[str]) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if not stop.done():
                stop.set_result("disconnect")
            return
