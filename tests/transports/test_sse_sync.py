"""stream_sse over httpx.Client; the same tests as test_sse_async.py, plus timing under gevent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from stagecheck.contracts.events import (
    RequestSent,
    ResponseBody,
    ResponseHead,
    SseComment,
    SseEvent,
    StreamClosed,
    StreamEvent,
)
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.errors import TargetUnreachable
from stagecheck.transports.sse_sync import stream_sse


def collect(url: str, **options: Any) -> list[StreamEvent]:
    with httpx.Client() as client:
        return list(stream_sse(client, url, json={"stage_name": "rewrite"}, **options))


def of_type(events: list[StreamEvent], kind: type) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


def test_conforming_stream_has_no_violations(app_server: str) -> None:
    events = collect(f"{app_server}/sse/conforming")
    validator = StreamValidator(Expectation("sse"), Bounds(first_event_timeout_s=5, idle_timeout_s=5))
    for event in events:
        validator.feed(event)
    validator.finish(time.perf_counter())
    assert validator.violations == []
    assert validator.complete
    assert of_type(events, SseEvent)[-1].event == "done"
    assert len(of_type(events, SseComment)) == 1


def test_events_in_order_with_lowercased_headers(raw_http: Any) -> None:
    url = raw_http.serve(raw_http.Script([("send", chunk) for chunk in raw_http.tokens(["a", "b"])]))
    events = collect(url)
    assert [type(event) for event in events] == [RequestSent, ResponseHead, SseEvent, SseEvent, SseEvent, StreamClosed]
    head = events[1]
    assert isinstance(head, ResponseHead)
    assert head.status == 200
    assert ("content-type", "text/event-stream; charset=utf-8") in head.headers
    assert all(name == name.lower() for name, _ in head.headers)
    assert [e.id for e in of_type(events, SseEvent)] == ["1", "2", "3"]
    assert events[-1] == StreamClosed(events[-1].at)
    stamps = [event.at for event in events]
    assert stamps == sorted(stamps)


def test_chunks_split_mid_line_and_mid_character(raw_http: Any) -> None:
    text = "你好🌍 ok"
    wire = raw_http.event("token", {"content": text, "full_text": text}, 1)
    middle_of_hao = wire.index("好".encode()) + 1
    middle_of_emoji = wire.index("🌍".encode()) + 2
    cuts = [5, middle_of_hao, middle_of_emoji, len(wire) - 1]
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True)]
    steps: list[tuple[str, Any]] = []
    for piece in pieces:
        steps += [("send", piece), ("sleep", 0.02)]
    events = collect(raw_http.serve(raw_http.Script(steps)))
    (event,) = of_type(events, SseEvent)
    assert f'"content": "{text}"' in event.data
    assert "\ufffd" not in event.data
    first_piece_at = of_type(events, ResponseHead)[0].at
    assert event.at < events[-1].at
    assert event.at >= first_piece_at


def test_crlf_line_endings(raw_http: Any) -> None:
    first = raw_http.event("token", {"content": "x", "full_text": "x"}, 1, crlf=True)
    second = raw_http.event("done", {"full_text": "x"}, 2, crlf=True)
    split_inside_crlf = first.index(b"\r") + 1
    steps = [("send", first[:split_inside_crlf]), ("sleep", 0.02), ("send", first[split_inside_crlf:] + second)]
    events = collect(raw_http.serve(raw_http.Script(steps)))
    assert [(e.event, e.id) for e in of_type(events, SseEvent)] == [("token", "1"), ("done", "2")]
    assert of_type(events, StreamClosed)[0].error is None


def test_keep_alive_comments_are_not_events(raw_http: Any) -> None:
    steps = [("send", b": keep-alive\n\n"), ("send", raw_http.tokens(["a"])[0]), ("send", b":ping\r\n\r\n")]
    events = collect(raw_http.serve(raw_http.Script(steps)))
    assert [c.text for c in of_type(events, SseComment)] == ["keep-alive", "ping"]
    assert len(of_type(events, SseEvent)) == 1


def test_non_sse_answer_is_one_body(app_server: str) -> None:
    events = collect(f"{app_server}/missing")
    assert [type(event) for event in events] == [RequestSent, ResponseHead, ResponseBody, StreamClosed]
    head, body = events[1], events[2]
    assert isinstance(head, ResponseHead) and isinstance(body, ResponseBody)
    assert head.status == 404
    assert b'"code":"not_found"' in body.body
    assert of_type(events, StreamClosed)[0].error is None


def test_stall_ends_with_read_timeout(raw_http: Any) -> None:
    url = raw_http.serve(raw_http.Script([("send", raw_http.tokens(["a"])[0]), ("stall", None)]))
    events = collect(url, idle_timeout_s=0.3)
    closed = events[-1]
    assert isinstance(closed, StreamClosed)
    assert closed.error == "no data for 0.3 s"
    assert closed.by_client
    assert 0.25 <= closed.at - of_type(events, SseEvent)[0].at < 3.0


def test_stall_before_the_head_ends_with_read_timeout(raw_http: Any) -> None:
    url = raw_http.serve(raw_http.Script([("stall", None)], head=b""))
    events = collect(url, idle_timeout_s=0.3)
    assert [type(event) for event in events] == [RequestSent, StreamClosed]
    assert events[-1] == StreamClosed(events[-1].at, error="no answer for 0.3 s", by_client=True)


def test_reset_connection_is_an_error(raw_http: Any) -> None:
    url = raw_http.serve(raw_http.Script([("send", raw_http.tokens(["a"])[0]), ("sleep", 0.05), ("reset", None)]))
    events = collect(url)
    assert len(of_type(events, SseEvent)) == 1
    closed = events[-1]
    assert isinstance(closed, StreamClosed)
    assert closed.error == "connection reset by the server"
    assert not closed.by_client


def test_body_cut_short_is_an_error(raw_http: Any) -> None:
    url = raw_http.serve(raw_http.Script([("send", raw_http.tokens(["a"])[0]), ("cut", None)]))
    events = collect(url)
    assert events[-1] == StreamClosed(events[-1].at, error="connection closed before the end of the body")


def test_connection_refused_raises_target_unreachable(refused_port: int) -> None:
    url = f"http://127.0.0.1:{refused_port}/api/v1/projects/projects/1/execute-stage/"
    with pytest.raises(TargetUnreachable) as caught:
        collect(url)
    assert str(caught.value) == f"cannot connect to {url}: connection refused; is the backend running?"


def test_max_events_stops_the_stream(raw_http: Any) -> None:
    url = raw_http.serve(raw_http.Script([("send", b"".join(raw_http.tokens(["a", "b", "c", "d"])))]))
    events = collect(url, max_events=2)
    assert [e.id for e in of_type(events, SseEvent)] == ["1", "2"]
    assert events[-1] == StreamClosed(events[-1].at, error="max_events (2) reached", by_client=True)


def test_total_timeout_stops_a_slow_stream(raw_http: Any) -> None:
    steps: list[tuple[str, Any]] = []
    for chunk in raw_http.tokens(list("abcdefghij")):
        steps += [("send", chunk), ("sleep", 0.2)]
    events = collect(raw_http.serve(raw_http.Script(steps)), total_timeout=0.5, idle_timeout_s=5.0)
    closed = events[-1]
    assert closed == StreamClosed(closed.at, error="total timeout of 0.5 s reached", by_client=True)
    assert 0.45 <= closed.at - events[0].at < 3.0
    assert 1 <= len(of_type(events, SseEvent)) <= 4


def test_first_event_arrives_before_the_last_is_produced(raw_http: Any) -> None:
    steps: list[tuple[str, Any]] = []
    for chunk in raw_http.tokens(["one", "two", "three"]):
        steps += [("send", chunk), ("sleep", 0.2)]
    url = raw_http.serve(raw_http.Script(steps))
    events = collect(url, clock=time.monotonic)  # the server stamps with time.monotonic too
    produced = raw_http.script_of(url).produced
    arrivals = [event.at for event in of_type(events, SseEvent)]
    assert len(arrivals) == len(produced) == 4
    assert arrivals[0] < produced[-1] - 0.3
    assert arrivals[-1] - arrivals[0] > 0.4


GEVENT_CLIENT = """
from gevent import monkey

monkey.patch_all()

import json
import sys
import time

import httpx

from stagecheck.contracts.events import SseEvent
from stagecheck.transports.sse_sync import stream_sse

with httpx.Client() as client:
    events = stream_sse(client, sys.argv[1], json={}, clock=time.monotonic)
    print(json.dumps([event.at for event in events if isinstance(event, SseEvent)]))
"""


def test_first_event_arrives_before_the_last_is_produced_under_gevent(raw_http: Any) -> None:
    steps: list[tuple[str, Any]] = []
    for chunk in raw_http.tokens(["one", "two", "three"]):
        steps += [("send", chunk), ("sleep", 0.2)]
    url = raw_http.serve(raw_http.Script(steps))
    # A fresh process: monkey-patching must come before anything imports socket or ssl.
    done = subprocess.run(
        [sys.executable, "-c", GEVENT_CLIENT, url], capture_output=True, text=True, timeout=60, check=True
    )
    arrivals = json.loads(done.stdout.strip().splitlines()[-1])
    produced = raw_http.script_of(url).produced
    assert len(arrivals) == len(produced) == 4
    assert arrivals[0] < produced[-1] - 0.3  # CLOCK_MONOTONIC is shared by all processes on Linux
    assert arrivals[-1] - arrivals[0] > 0.4
