"""Conforming sample streams as literal event lists, for tests and examples.

`sse_stream()` and `ws_stream()` build streams that pass every rule; tests mutate them
to break exactly one. `run()` drives a validator over a list and returns its findings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from stagecheck.contracts.events import (
    RequestSent,
    ResponseHead,
    SseEvent,
    StreamClosed,
    StreamEvent,
    WsMessage,
    WsOpened,
)
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.contracts.violations import Violation

TASK = "6f1c2b9e-1111-4222-8333-944455556666"
OTHER_TASK = "0a0b0c0d-1111-4222-8333-944455556666"
SSE_HEADERS = (
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
    ("x-accel-buffering", "no"),
)


def payloads(pieces: Sequence[str], *, task_id: str | None = None, terminal: str = "done") -> list[dict[str, Any]]:
    """token payloads for `pieces`, then a terminal payload."""
    out: list[dict[str, Any]] = []
    text = ""
    for piece in pieces:
        text += piece
        out.append({"type": "token", "content": piece, "full_text": text})
    if terminal == "done":
        out.append({"type": "done", "full_text": text})
    elif terminal == "error":
        out.append({"type": "error", "error": "stage failed", "code": "stage_failed"})
    if task_id is not None:
        for payload in out:
            payload["task_id"] = task_id
    return out


def sse_events(items: Iterable[dict[str, Any]], *, start: float = 0.1, step: float = 0.01) -> list[SseEvent]:
    return [
        SseEvent(start + n * step, json.dumps(p, ensure_ascii=False), p["type"], str(n + 1))
        for n, p in enumerate(items)
    ]


def sse_stream(
    pieces: Sequence[str] = ("Hel", "lo ", "世界", " 👋"), *, terminal: str = "done", step: float = 0.01
) -> list[StreamEvent]:
    events: list[StreamEvent] = [RequestSent(0.0), ResponseHead(0.05, 200, SSE_HEADERS)]
    body = sse_events(payloads(pieces, terminal=terminal), step=step)
    events += body
    events.append(StreamClosed(body[-1].at + 0.01))
    return events


def ws_messages(items: Iterable[dict[str, Any]], *, start: float = 0.2, step: float = 0.01) -> list[WsMessage]:
    return [WsMessage(start + n * step, json.dumps(p, ensure_ascii=False)) for n, p in enumerate(items)]


def connected(project_id: int = 1, stage: str = "rewrite") -> dict[str, Any]:
    return {"type": "connected", "project_id": project_id, "stage_name": stage}


def ws_stream(
    pieces: Sequence[str] = ("Hel", "lo ", "世界", " 👋"), *, terminal: str = "done", task_id: str = TASK
) -> list[StreamEvent]:
    events: list[StreamEvent] = [RequestSent(0.0), WsOpened(0.1)]
    events += ws_messages([connected(), *payloads(pieces, task_id=task_id, terminal=terminal)])
    return events


def run(
    events: Iterable[StreamEvent],
    expect: Expectation,
    *,
    finish_at: float | None = None,
    bounds: Bounds | None = None,
) -> list[Violation]:
    validator = StreamValidator(expect, bounds or Bounds())
    last = 0.0
    for event in events:
        validator.feed(event)
        last = event.at
    validator.finish(finish_at if finish_at is not None else last + 0.01)
    return validator.violations


def rules(violations: Iterable[Violation]) -> list[str]:
    return sorted({v.rule for v in violations if v.severity == "error"})


SSE = Expectation("sse")
WS = Expectation("ws", task_ids=frozenset({TASK}), project_id=1, stage_name="rewrite")
