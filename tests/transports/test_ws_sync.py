"""subscribe/WsSubscription over sync websockets; the same tests as test_ws_async.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from stagecheck.contracts.events import StreamClosed, StreamEvent, WsMessage, WsOpened
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.errors import ConfigError, TargetUnreachable
from stagecheck.transports.ws_sync import subscribe


def is_type(name: str) -> Any:
    def check(event: StreamEvent) -> bool:
        return isinstance(event, WsMessage) and event.text is not None and json.loads(event.text)["type"] == name

    return check


def test_messages_and_binary_frame_arrive_in_order(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/feed") as sub:
        events = list(sub.events(idle_timeout_s=5, until=is_type("done")))
    assert isinstance(events[0], WsOpened)
    messages = [event for event in events if isinstance(event, WsMessage)]
    assert [json.loads(m.text)["type"] for m in messages if m.text] == ["connected", "token", "done"]
    assert [m.binary for m in messages if m.binary is not None] == [b"\x00\x01binary"]
    assert json.loads(messages[1].text or "")["content"] == "你好"
    stamps = [event.at for event in events]
    assert stamps == sorted(stamps)
    assert sub.handshake_status == 101


def test_socket_stays_open_after_until(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/feed") as sub:
        first = list(sub.events(idle_timeout_s=5, until=is_type("connected")))
        rest = list(sub.events(idle_timeout_s=5, until=is_type("done")))
    assert isinstance(first[0], WsOpened) and len(first) == 2
    assert not any(isinstance(event, WsOpened) for event in rest)
    assert is_type("done")(rest[-1])


def test_ping_gets_pong(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/echo") as sub:
        sub.send_json({"type": "ping"})
        events = list(sub.events(idle_timeout_s=5, until=is_type("pong")))
        sub.send_text("plain")
        sub.send_bytes(b"\xff")
        echoes = [
            event
            for event in sub.events(idle_timeout_s=5, until=lambda e: isinstance(e, WsMessage) and e.binary is not None)
        ]
    assert is_type("pong")(events[-1])
    assert [(e.text, e.binary) for e in echoes if isinstance(e, WsMessage)] == [("plain", None), (None, b"\xff")]


def test_server_close_code_and_reason_are_observed(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/gone") as sub:
        events = list(sub.events(idle_timeout_s=5))
    assert isinstance(events[0], WsOpened)
    closed = events[-1]
    assert closed == StreamClosed(closed.at, code=4404, reason="unknown project")
    assert sub.ended == closed


def test_rejected_handshake_is_observed(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/deny") as sub:
        events = list(sub.events(idle_timeout_s=5))
        sub.send_json({"type": "ping"})  # dropped: the socket never opened
    (closed,) = events
    assert isinstance(closed, StreamClosed)
    assert closed.error == "handshake rejected with HTTP 403 Forbidden"
    assert closed.reason == "not allowed"
    assert sub.handshake_status == 403


def test_dropped_connection_is_an_error(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/drop") as sub:
        events = list(sub.events(idle_timeout_s=5))
    closed = events[-1]
    assert isinstance(closed, StreamClosed)
    assert (closed.code, closed.error, closed.by_client) == (1006, "connection lost without a close frame", False)


def test_idle_timeout_closes_the_socket(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/silent") as sub:
        events = list(sub.events(idle_timeout_s=0.3))
        again = list(sub.events(idle_timeout_s=0.3))
    closed = events[-1]
    assert closed == StreamClosed(closed.at, error="no message for 0.3 s", by_client=True)
    assert 0.25 <= closed.at - events[0].at < 3.0
    assert again == []


def test_total_timeout_ends_the_reading(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/silent") as sub:
        events = list(sub.events(idle_timeout_s=5, total_timeout=0.3))
    closed = events[-1]
    assert closed == StreamClosed(closed.at, error="total timeout of 0.3 s reached", by_client=True)


def test_client_close_is_by_client(ws_server: str) -> None:
    with subscribe(f"{ws_server}/ws/echo") as sub:
        _ = list(sub.events(idle_timeout_s=5, until=lambda e: isinstance(e, WsOpened)))
        sub.close(1000)
        events = list(sub.events(idle_timeout_s=5))
    assert events == [StreamClosed(events[0].at, code=1000, by_client=True)]


def test_connection_refused_raises_target_unreachable(refused_port: int) -> None:
    url = f"ws://127.0.0.1:{refused_port}/ws/projects/1/stage/rewrite/"
    with pytest.raises(TargetUnreachable) as caught, subscribe(url):
        pass
    assert str(caught.value) == f"cannot connect to {url}: connection refused; is the backend running?"


def test_http_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError), subscribe("http://127.0.0.1:1/ws/"):
        pass


def test_feed_fits_the_rules_core(ws_server: str) -> None:
    validator = StreamValidator(
        Expectation("ws", task_ids=frozenset({"t1"}), project_id=1, stage_name="rewrite", allowed_types=frozenset()),
        Bounds(first_event_timeout_s=5, idle_timeout_s=5),
    )
    with subscribe(f"{ws_server}/ws/feed") as sub:
        for event in sub.events(idle_timeout_s=5, until=is_type("done")):
            if not (isinstance(event, WsMessage) and event.binary is not None):
                validator.feed(event)
    validator.finish(time.perf_counter())
    assert validator.violations == []
    assert validator.complete


GEVENT_CLIENT = """
from gevent import monkey

monkey.patch_all()

import json
import sys

from stagecheck.contracts.events import StreamClosed, WsMessage
from stagecheck.transports.ws_sync import subscribe

with subscribe(sys.argv[1]) as sub:
    sub.send_json({"type": "ping"})
    events = list(sub.events(idle_timeout_s=0.5))
texts = [e.text for e in events if isinstance(e, WsMessage)]
print(json.dumps({"texts": texts, "closed": isinstance(events[-1], StreamClosed) and events[-1].error}))
"""


def test_works_under_gevent(ws_server: str) -> None:
    # A fresh process: monkey-patching must come before anything imports socket or threading.
    done = subprocess.run(
        [sys.executable, "-c", GEVENT_CLIENT, f"{ws_server}/ws/echo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"texts": ['{"type": "pong"}'], "closed": "no message for 0.5 s"}
