"""The page's records turned into events, with no browser: literal records, as the page writes them."""

from __future__ import annotations

import base64

import pytest

from stagecheck.browser.judge import judge, summarise
from stagecheck.browser.records import RecordError, sse_events, ws_events
from stagecheck.contracts.events import RequestSent, ResponseHead, SseEvent, StreamClosed, WsMessage, WsOpened
from stagecheck.results.browser_results import BrowserModeResult, BrowserResult
from stagecheck.results.load_results import ResultsFormatError

HEAD = {"at": 1010.0, "status": 200, "headers": [["Content-Type", "text/event-stream"], ["Cache-Control", "no-cache"]]}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sse_record(*chunks: bytes) -> dict[str, object]:
    wire = [{"at": 1020.0 + 10 * i, "data": b64(chunk)} for i, chunk in enumerate(chunks)]
    return {"sent": 1000.0, "head": HEAD, "chunks": wire, "end": {"at": 1100.0, "kind": None, "error": None}}


def test_an_sse_event_split_inside_a_character_is_one_event_at_its_first_bytes_arrival() -> None:
    text = '{"type":"token","content":"好","full_text":"好"}'.encode()
    first = b"id: 1\nevent: token\ndata: " + text[:27]  # cut inside the 3-byte character
    rest = text[27:] + b'\n\nid: 2\nevent: done\ndata: {"type":"done","full_text":"\xe5\xa5\xbd"}\n\n'
    stream = sse_events(sse_record(first, rest), idle_s=10, total_s=20)
    kinds = [type(e) for e in stream.events]
    assert kinds == [RequestSent, ResponseHead, SseEvent, SseEvent, StreamClosed]
    token = stream.events[2]
    assert isinstance(token, SseEvent) and token.at == pytest.approx(1.02) and '"好"' in token.data
    verdict = judge("sse", stream, project_id=1, stage="rewrite", input_text="x", idle_s=10)
    assert verdict.held and verdict.tokens == 1 and verdict.ttft_ms == pytest.approx(20.0)


def test_an_sse_stream_cut_before_its_terminal_event_is_s4() -> None:
    stream = sse_events(
        sse_record(b'id: 1\nevent: token\ndata: {"type":"token","content":"a","full_text":"a"}\n\n'),
        idle_s=10,
        total_s=20,
    )
    verdict = judge("sse", stream, project_id=1, stage="rewrite", input_text="x", idle_s=10)
    assert verdict.violations == ("S4",) and not verdict.held


def test_a_fetch_the_browser_refused_is_a_failure_not_a_violation() -> None:
    record = {
        "sent": 1000.0,
        "head": None,
        "chunks": [],
        "end": {"at": 1001.0, "kind": "network", "error": "TypeError: Failed to fetch"},
    }
    stream = sse_events(record, idle_s=10, total_s=20)
    verdict = judge("sse", stream, project_id=1, stage="rewrite", input_text="x", idle_s=10)
    assert verdict.failure == "fetch failed (TypeError: Failed to fetch)" and verdict.violations == ()


def test_a_websocket_record_becomes_opened_messages_and_the_clients_close() -> None:
    task = "2b1e6f0a-1111-4222-8333-444455556666"
    record = {
        "sent": 1000.0,
        "answer": {"at": 1005.0, "status": 202, "headers": [], "body": f'{{"task_id":"{task}","status":"PENDING"}}'},
        "opened": 1010.0,
        "messages": [
            {"at": 1011.0, "text": '{"type":"connected","project_id":1,"stage_name":"rewrite"}'},
            {"at": 1030.0, "text": f'{{"type":"token","content":"a","full_text":"a","task_id":"{task}"}}'},
            {"at": 1040.0, "text": f'{{"type":"done","full_text":"a","task_id":"{task}"}}'},
        ],
        "closed": {"at": 1041.0, "code": 1000, "reason": "", "byClient": True, "kind": None},
    }
    stream = ws_events(record, idle_s=10, total_s=20)
    assert [type(e) for e in stream.events] == [WsOpened, WsMessage, WsMessage, WsMessage, StreamClosed]
    assert stream.task_id == task
    closed = stream.events[-1]
    assert isinstance(closed, StreamClosed) and closed.by_client and closed.error is None
    verdict = judge("ws", stream, project_id=1, stage="rewrite", input_text="x", idle_s=10)
    assert verdict.held and verdict.ttft_ms == pytest.approx(30.0)  # from the POST, as the guide's client lives it
    mode = summarise("ws", [verdict], asked=1)
    assert mode.held and mode.events == 3 and mode.tokens == 1


def test_a_websocket_handshake_the_browser_could_not_complete_is_said_so() -> None:
    record = {
        "sent": 1000.0,
        "answer": {"at": 1005.0, "status": 202, "headers": [], "body": '{"task_id":"t"}'},
        "opened": None,
        "messages": [],
        "closed": {"at": 1006.0, "code": 1006, "reason": "", "byClient": False, "kind": "handshake"},
    }
    (closed,) = ws_events(record, idle_s=10, total_s=20).events
    assert isinstance(closed, StreamClosed) and closed.error == "handshake failed (the browser's close code 1006)"


def test_a_bad_chunk_is_a_record_error() -> None:
    with pytest.raises(RecordError):
        sse_events(
            {"sent": 1000.0, "head": HEAD, "chunks": [{"at": 1.0, "data": "**"}], "end": {}}, idle_s=1, total_s=1
        )


def test_results_round_trip_and_reject_unknown_fields() -> None:
    mode = BrowserModeResult(
        mode="sse", streams_asked=2, streams_run=2, streams_held=1, violations={"S1": 1}, ttft_ms=(1.5,)
    )
    result = BrowserResult(version="156.0", executable="/usr/bin/chromium", modes=(mode,))
    data = result.to_json()
    assert data["held"] is False and data["modes"][0]["client"] == "fetch stream reader"
    assert BrowserResult.from_json(data) == result
    with pytest.raises(ResultsFormatError, match="unknown fields"):
        BrowserResult.from_json({**data, "colour": "red"})
    with pytest.raises(ResultsFormatError, match="mode"):
        BrowserModeResult.from_json({**mode.to_json(), "mode": "grpc"})
