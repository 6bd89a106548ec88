"""Read one SSE answer with an `httpx.AsyncClient`, as timestamped events.

Bytes are read as they arrive (`aiter_raw`) and every chunk is stamped on receipt, so an
event's time is the arrival of its first byte. Parsing is `SseParser`'s job; judging is the
rules core's. Close the generator when you stop early (`contextlib.aclosing`), so the
connection goes back to the pool at once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

import anyio
import httpx

from stagecheck.contracts.events import RequestSent, StreamClosed, StreamEvent

from .failures import break_text, is_connect_failure, read_timeout_text, total_timeout_text, unreachable
from .http_options import bounded_timeout, is_identity, request_headers
from .sse_reading import SseReading


class _TotalTimeout(Exception):
    """The caller's total_timeout ran out while waiting for the target."""


T = TypeVar("T")


async def _before(deadline: float | None, clock: Callable[[], float], step: Awaitable[T]) -> T:
    """The result of `step`, or _TotalTimeout when the deadline passes first."""
    if deadline is None:
        return await step
    # The cancel scope wraps one await only, never a yield of this generator.
    with anyio.move_on_after(max(0.0, deadline - clock())):
        return await step
    raise _TotalTimeout


async def stream_sse(
    client: httpx.AsyncClient,
    url: str,
    *,
    json: object | None = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    idle_timeout_s: float = 10.0,
    total_timeout: float | None = None,
    max_events: int | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> AsyncIterator[StreamEvent]:
    """RequestSent, ResponseHead, then SseEvent/SseComment (or one ResponseBody), then StreamClosed.

    Raises TargetUnreachable when the connection cannot be made; every later failure (stall,
    reset, timeouts, max_events) ends the stream with a StreamClosed whose `error` says why.
    """
    reading = SseReading(max_events)
    request = client.build_request(
        method,
        url,
        json=json,
        content=content,
        headers=request_headers(headers),
        timeout=bounded_timeout(client.timeout, idle_timeout_s, None),
    )
    started = clock()
    deadline = None if total_timeout is None else started + total_timeout
    yield RequestSent(started)
    try:
        response = await _before(deadline, clock, client.send(request, stream=True))
    except _TotalTimeout:
        yield StreamClosed(clock(), error=total_timeout_text(total_timeout), by_client=True)
        return
    except httpx.TransportError as exc:
        if is_connect_failure(exc):
            raise unreachable(str(request.url), exc, timeout=client.timeout.connect) from exc
        if isinstance(exc, httpx.TimeoutException):
            yield StreamClosed(clock(), error=read_timeout_text(idle_timeout_s, answered=False), by_client=True)
        else:
            yield StreamClosed(clock(), error=break_text(exc))
        return
    try:
        yield reading.head(clock(), response.status_code, response.headers.multi_items())
        chunks = response.aiter_raw() if is_identity(response.headers) else response.aiter_bytes()
        while True:
            try:
                data = await _before(deadline, clock, anext(chunks))
            except StopAsyncIteration:
                ending = reading.end(clock())
            except _TotalTimeout:
                ending = reading.end(clock(), error=total_timeout_text(total_timeout), by_client=True)
            except httpx.TimeoutException:
                ending = reading.end(clock(), error=read_timeout_text(idle_timeout_s), by_client=True)
            except httpx.TransportError as exc:
                ending = reading.end(clock(), error=break_text(exc))
            else:
                at = clock()
                for event in reading.chunk(data, at):
                    yield event
                if not reading.limit_reached:
                    continue
                ending = reading.stop_at_limit(clock())
            for event in ending:
                yield event
            return
    finally:
        await response.aclose()
