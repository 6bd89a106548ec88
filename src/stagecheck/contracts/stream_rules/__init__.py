"""The rules core: one validator per stream (SSE) or subscription (WebSocket).

Feed it timestamped events (`events.py`) one at a time; it returns the violations each
event caused and keeps them all in `violations`. `finish(at)` closes the books: a
stream without a terminal event, a stall, a socket still open. It reads no clock and
does no I/O, so the suites (asyncio), the Locust users (gevent) and the mock server's
tests all drive the same code.

A broken event is reported once, under the most specific rule, and the validator then
resynchronises (the next token is taken as the new baseline), so one fault does not
cascade into a list of consequences.

`StreamValidator(expect, ...)` returns the transport's subclass: `base.py` holds what
both share (task state, Q2-Q4 accumulation, M1 schemas, Q6 timing), `sse.py` and `ws.py`
each transport's own rules.
"""

from __future__ import annotations

from .base import TERMINAL_TYPES, Bounds, Expectation, StreamValidator, TaskState
from .sse import SseStreamValidator
from .ws import WsStreamValidator

__all__ = [
    "TERMINAL_TYPES",
    "Bounds",
    "Expectation",
    "SseStreamValidator",
    "StreamValidator",
    "TaskState",
    "WsStreamValidator",
]
