"""Read one SSE answer with an `httpx.Client`, as timestamped events (the twin of sse_async).

Works under gevent monkey-patching (Locust): bytes are read with `iter_raw`, which returns
each chunk as soon as the socket has it, and every chunk is stamped on receipt. Close the
generator when you stop early (`contextlib.closing`), so the connection goes back to the pool.

One difference from the async twin: a blocking read cannot be cut short, so `total_timeout`
is checked as each chunk arrives and caps the read timeout; a stream that keeps trickling
may overrun it by at most one read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

import httpx

from stagecheck.contracts.events import RequestSent, StreamClosed, StreamEvent

from .failures import break_text, is_connect_failure, read_timeout_text, total_timeout_text, unreachable
from .http_options import bounded_timeout, is_identity, request_headers
from .sse_reading import SseReading


def stream_sse(
    client: httpx.Client,
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
) -> Iterator[StreamEvent]:
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
        timeout=bounded_timeout(client.timeout, idle_timeout_s, total_timeout),
    )
    started = clock()
    deadline = None if total_timeout is None else started + total_timeout

    def timed_out(at: float, *, answered: bool = True) -> str:
        if deadline is not None and at >= deadline:
            return total_timeout_text(total_timeout)
        return read_timeout_text(idle_timeout_s, answered=answered)

    yield RequestSent(started)
    try:
        response = client.send(request, stream=True)
    except httpx.TransportError as exc:
        if is_connect_failure(exc):
            raise unreachable(str(request.url), exc, timeout=client.timeout.connect) from exc
        at = clock()
        if isinstance(exc, httpx.TimeoutException):
            yield StreamClosed(at, error=timed_out(at, answered=False), by_client=True)
        else:
            yield StreamClosed(at, error=break_text(exc))
        return
    try:
        yield reading.head(clock(), response.status_code, response.headers.multi_items())
        chunks = response.iter_raw() if is_identity(response.headers) else response.iter_bytes()
        while True:
            if deadline is not None and clock() >= deadline:
                ending = reading.end(clock(), error=total_timeout_text(total_timeout), by_client=True)
            else:
                try:
                    data = next(chunks)
                except StopIteration:
                    ending = reading.end(clock())
                except httpx.TimeoutException:
                    at = clock()
                    ending = reading.end(at, error=timed_out(at), by_client=True)
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
        response.close()
