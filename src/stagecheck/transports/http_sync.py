"""Plain JSON calls with an `httpx.Client` (the 202 answer, task status); twin of http_async."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx

from .failures import break_text, is_connect_failure, read_timeout_text, unreachable
from .http_exchange import HttpExchange, lowered, parse_json


def request_json(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    json: object | None = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> HttpExchange:
    """Send one request and read the whole answer.

    Raises TargetUnreachable when the connection cannot be made. A target that accepted the
    connection and then timed out or broke gives an HttpExchange with status 0 and `error`.
    `timeout` (seconds) bounds this request instead of the client's own timeouts.
    """
    bound = httpx.Timeout(timeout) if timeout is not None else client.timeout
    request = client.build_request(method, url, json=json, content=content, headers=headers, timeout=bound)
    sent_at = clock()
    try:
        response = client.send(request)
    except httpx.TransportError as exc:
        if is_connect_failure(exc):
            raise unreachable(str(request.url), exc, timeout=bound.connect) from exc
        if isinstance(exc, httpx.TimeoutException):
            error = read_timeout_text(bound.read or 0.0, answered=False)
        else:
            error = break_text(exc)
        return HttpExchange(0, (), b"", None, sent_at, clock() - sent_at, error)
    body = response.content
    return HttpExchange(
        response.status_code,
        lowered(response.headers.multi_items()),
        body,
        parse_json(response.headers.get("content-type"), body),
        sent_at,
        clock() - sent_at,
    )
