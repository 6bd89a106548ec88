"""The sync and async transports have the same shape: same names, same parameters."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType

import pytest

from stagecheck.transports import http_async, http_sync, sse_async, sse_sync, ws_async, ws_sync


def parameters(function: Callable[..., object]) -> list[tuple[str, object, object]]:
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "client"]


@pytest.mark.parametrize(
    ("asynchronous", "synchronous", "name"),
    [
        (sse_async, sse_sync, "stream_sse"),
        (http_async, http_sync, "request_json"),
        (ws_async, ws_sync, "subscribe"),
    ],
)
def test_functions_take_the_same_parameters(asynchronous: ModuleType, synchronous: ModuleType, name: str) -> None:
    assert parameters(getattr(asynchronous, name)) == parameters(getattr(synchronous, name))


def test_subscriptions_have_the_same_methods() -> None:
    public = ["events", "send_json", "send_text", "send_bytes", "close"]
    for name in public:
        assert parameters(getattr(ws_async.WsSubscription, name)) == parameters(getattr(ws_sync.WsSubscription, name))
    assert inspect.isasyncgenfunction(ws_async.WsSubscription.events)
    assert inspect.isgeneratorfunction(ws_sync.WsSubscription.events)
