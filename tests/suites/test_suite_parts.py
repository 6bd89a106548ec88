"""Suite building blocks without a server: options, redaction, inputs, evidence, Schemathesis report parsing."""

from __future__ import annotations

import shlex

import pytest

from stagecheck.contracts.events import ResponseHead, SseEvent, StreamClosed, WsMessage
from stagecheck.errors import ConfigError
from stagecheck.results.contract_results import Finding, RequestRecord, TimelineEntry
from stagecheck.suites.evidence import curl_line, timeline, ws_line
from stagecheck.suites.inputs import CORPUS, generated_texts, texts_for_profile
from stagecheck.suites.options import build_options, parse_header, parse_ids, parse_rules, ws_url_for
from stagecheck.suites.redact import Redactor
from stagecheck.suites.schemathesis_suite import parse_junit, rules_tested, skipped_operations

RAW = {
    "base_url": "http://127.0.0.1:8000/",
    "ws_url": None,
    "project_ids": "1,2",
    "missing_project_id": 999,
    "header": ("Authorization: Bearer tok-123", "X-Team: a"),
    "auth_required": True,
    "scenarios": False,
    "legacy_phase": None,
    "deterministic": False,
    "profile": "quick",
    "rules": "s2,Q1",
    "request_timeout": 5.0,
    "first_event_timeout": 5.0,
    "idle_timeout": 5.0,
    "seed": 3,
}


def test_build_options_from_raw_values() -> None:
    options = build_options(RAW)
    assert options.base_url == "http://127.0.0.1:8000" and options.ws_url == "ws://127.0.0.1:8000"
    assert options.rules == frozenset({"S2", "Q1"})
    assert options.bearer_token == "tok-123" and "tok-123" in options.secrets
    assert (
        options.socket_url(1, "rewrite", task_id="t")
        == "ws://127.0.0.1:8000/ws/projects/1/stage/rewrite/?task_id=t&token=tok-123"
    )
    assert options.describe()["headers"] == [["Authorization", "***"], ["X-Team", "a"]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"project_ids": "1"}, "--project-ids"),
        ({"project_ids": "a,b"}, "--project-ids"),
        ({"rules": "S2,XX"}, "unknown rule id XX"),
        ({"base_url": "localhost:8000"}, "--base-url"),
        ({"ws_url": "http://x"}, "--ws-url"),
        ({"idle_timeout": 0.0}, "--idle-timeout"),
        ({"header": ("no colon",)}, "--header"),
        ({"missing_project_id": 0}, "--missing-project-id"),
    ],
)
def test_bad_options_raise_config_error_naming_the_option(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_options({**RAW, **change})


def test_small_parsers() -> None:
    assert parse_header("Prefer:  a=b ") == ("Prefer", "a=b")
    assert parse_ids("3, 4") == (3, 4)
    assert parse_rules(None) is None
    assert ws_url_for("https://api.example.com/base", None) == "wss://api.example.com/base"


def test_redactor_masks_secrets_and_token_queries_everywhere() -> None:
    redactor = Redactor(["tok-123"])
    finding = Finding(
        rule="E2",
        transport="ws",
        check="auth",
        message="saw tok-123",
        request=RequestRecord("POST", "http://h/x?token=abc&x=1", {"Authorization": "Bearer tok-123", "X": "tok-123"}),
        timeline=(TimelineEntry(0.0, "note", "ws://h/ws/?token=tok-123"),),
        reproduce="curl -H 'Authorization: Bearer tok-123' http://h/x",
    )
    clean = redactor.finding(finding)
    text = repr(clean)
    assert "tok-123" not in text and "abc" not in text
    assert clean.request is not None and clean.request.headers["Authorization"] == "***"
    assert "?token=***&x=1" in clean.request.url


def test_generated_texts_are_reproducible_and_safe() -> None:
    first = generated_texts(5, seed=7)
    assert first == generated_texts(5, seed=7) and len(first) == 5
    assert all(text.strip() and "\ufffd" not in text for text in first)
    texts = texts_for_profile(2, seed=1)
    assert texts[: len(CORPUS)] == list(CORPUS)
    assert any(ord(ch) > 0xFFFF for ch in "".join(CORPUS))  # emoji outside the BMP
    assert any("\u4e00" <= ch <= "\u9fff" for ch in "".join(CORPUS))  # CJK


def test_timeline_is_relative_and_curl_line_reproduces_the_request() -> None:
    events = [
        ResponseHead(10.0, 200, (("content-type", "text/event-stream"),)),
        SseEvent(10.5, '{"type":"done","full_text":""}', "done", "1"),
        WsMessage(10.7, text='{"type":"pong"}'),
        StreamClosed(11.0, code=1000, reason="bye"),
    ]
    entries = timeline(events, origin=10.0)
    assert [(e.at, e.kind) for e in entries] == [(0.0, "head"), (0.5, "event"), (0.7, "message"), (1.0, "close")]
    assert "id: 1\nevent: done" in entries[1].text and "code 1000 'bye'" in entries[3].text
    request = RequestRecord("POST", "http://h/x/", {"Content-Type": "application/json"}, '{"a": "é"}')
    line = curl_line(request, stream=True)
    assert shlex.split(line) == [
        "curl",
        "-sS",
        "-i",
        "-N",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        '{"a": "é"}',
        "http://h/x/",
    ]
    words = shlex.split(ws_line("ws://h/ws/", ['{"type":"ping"}']))
    assert words[:2] == ["python", "-c"] and 'websockets.connect("ws://h/ws/")' in words[2]
    assert 'await ws.send("{\\"type\\":\\"ping\\"}")' in words[2]
    compile(words[2], "reproduce", "exec")


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="schemathesis">
<testcase name="GET /api/v1/projects/projects/{project_id}/task-status/">
<failure type="failure" message="ST101, ST901">1. Test Case ID: abc

- ST101 Server error

- ST901 Custom check failed: `stagecheck_e3_no_server_error`

    E3: the server answered with a 5xx status
    Received: 500 boom
    Contract: never 5xx

- ST103 Undocumented status code

    Received: 500
    Documented: 200, 400

[500] Internal Server Error:

Reproduce with:

    curl -X GET http://h/api/v1/projects/projects/1/task-status/</failure></testcase>
<testcase name="POST /api/v1/projects/projects/{project_id}/execute-stage/">
<failure message="ST104">1. Test Case ID: def

- SSE event violates schema

    bad

Reproduce with:

    curl -X POST http://h/api/v1/projects/projects/1/execute-stage/</failure></testcase>
<testcase name="POST /api/v1/projects/projects/{project_id}/rewrite_stream/">
<skipped type="skipped">Time limit reached</skipped></testcase>
</testsuite></testsuites>
"""


def test_schemathesis_report_maps_back_to_rule_ids() -> None:
    findings = parse_junit(JUNIT, "http.schemathesis")
    assert [(f.rule, f.transport) for f in findings] == [("E3", "http"), ("S1", "sse")]
    e3 = findings[0]
    assert e3.received == "500 boom" and e3.expected == "never 5xx"
    assert e3.reproduce == "curl -X GET http://h/api/v1/projects/projects/1/task-status/"
    assert ("L1", "http") not in rules_tested(JUNIT) and ("T2", "http") in rules_tested(JUNIT)
    assert list(skipped_operations(JUNIT).values()) == ["Time limit reached"]
