"""What the page handed back, turned into the rules core's timestamped events. No I/O.

The page stamps in milliseconds since the Unix epoch on its own monotonic clock
(`performance.timeOrigin + performance.now()`); events carry seconds on that clock, so the
rules core and the TTFT figures see the page's times. SSE chunks go through the transports'
own sans-I/O reader (`SseReading`): no second SSE parser exists in the page.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from stagecheck.contracts.events import RequestSent, ResponseHead, StreamClosed, StreamEvent, WsMessage, WsOpened
from stagecheck.transports.failures import read_timeout_text, total_timeout_text
from stagecheck.transports.sse_reading import SseReading

# The code a browser reports for a socket that ended without a close frame.
ABNORMAL_CLOSURE = 1006


class RecordError(ValueError):
    """The page handed back something that is not a record of this page's clients."""


def seconds(ms: Any) -> float:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise RecordError(f"a page time is a number of milliseconds, not {ms!r}")
    return float(ms) / 1000.0


def _bytes(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RecordError(f"a chunk is base64 text: {exc}") from exc


def _headers(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(name).lower(), str(value)) for name, value in raw or ())


def ending_text(kind: str | None, error: str | None, idle_s: float, total_s: float, *, answered: bool) -> str | None:
    """The `StreamClosed.error` of a page ending: the transports' own wording for timeouts."""
    if kind == "idle":
        return read_timeout_text(idle_s, answered=answered)
    if kind == "total":
        return total_timeout_text(total_s)
    if kind == "network":
        return f"the browser could not read the answer ({error})" if answered else f"fetch failed ({error})"
    return error


@dataclass(frozen=True, slots=True)
class PageStream:
    """One stream as the page lived it: its events, and the head the page could read."""

    events: tuple[StreamEvent, ...]
    sent_at: float
    head: ResponseHead | None = None
    failure: str | None = None  # the stream could not be read at all (no answer, refused by the browser)
    task_id: str | None = None  # WebSocket: the POST's task_id


def sse_events(record: dict[str, Any], *, idle_s: float, total_s: float) -> PageStream:
    """RequestSent, ResponseHead, the SSE events of the chunks, one StreamClosed."""
    sent = seconds(record["sent"])
    end = record.get("end") or {}
    head_raw = record.get("head")
    events: list[StreamEvent] = [RequestSent(sent)]
    if head_raw is None:
        error = ending_text(end.get("kind"), end.get("error"), idle_s, total_s, answered=False)
        at = seconds(end.get("at", record["sent"]))
        events.append(StreamClosed(at, error=error, by_client=end.get("kind") in ("idle", "total")))
        return PageStream(tuple(events), sent, failure=error)
    reading = SseReading()
    head = reading.head(seconds(head_raw["at"]), int(head_raw["status"]), _headers(head_raw.get("headers")))
    events.append(head)
    for chunk in record.get("chunks") or ():
        events.extend(reading.chunk(_bytes(chunk["data"]), seconds(chunk["at"])))
    error = ending_text(end.get("kind"), end.get("error"), idle_s, total_s, answered=True)
    at = seconds(end["at"]) if "at" in end else events[-1].at
    events.extend(reading.end(at, error=error, by_client=end.get("kind") in ("idle", "total")))
    return PageStream(tuple(events), sent, head=head)


def ws_events(record: dict[str, Any], *, idle_s: float, total_s: float) -> PageStream:
    """The POST's answer (as the head), then WsOpened, the messages and one StreamClosed."""
    sent = seconds(record["sent"])
    answer = record.get("answer") or {}
    if answer.get("status") is None:
        end = answer.get("error") or {}
        error = ending_text(end.get("kind"), end.get("error"), idle_s, total_s, answered=False)
        return PageStream((), sent, failure=error or "the POST got no answer")
    head = ResponseHead(seconds(answer["at"]), int(answer["status"]), _headers(answer.get("headers")))
    task_id = _task_id(answer.get("body"))
    closed = record.get("closed")
    if closed is None:  # the page did not open a socket: no 202 with a task_id
        return PageStream((), sent, head=head, task_id=task_id)
    events: list[StreamEvent] = []
    opened = record.get("opened")
    if opened is not None:
        events.append(WsOpened(seconds(opened)))
    for message in record.get("messages") or ():
        at = seconds(message["at"])
        if "text" in message:
            events.append(WsMessage(at, text=str(message["text"])))
        else:
            events.append(WsMessage(at, binary=_bytes(message.get("binary", ""))))
    events.append(_ws_closed(closed, idle_s, total_s, opened=opened is not None))
    return PageStream(tuple(events), sent, head=head, task_id=task_id)


def _ws_closed(closed: dict[str, Any], idle_s: float, total_s: float, *, opened: bool) -> StreamClosed:
    at = seconds(closed["at"])
    kind = closed.get("kind")
    if kind == "idle":
        return StreamClosed(at, error=f"no message for {idle_s} s", by_client=True)
    if kind == "total":
        return StreamClosed(at, error=total_timeout_text(total_s), by_client=True)
    code = closed.get("code")
    if not opened:
        detail = closed.get("error") or f"the browser's close code {code}"
        return StreamClosed(at, code=code, error=f"handshake failed ({detail})")
    if code == ABNORMAL_CLOSURE:
        return StreamClosed(at, code=code, error="connection lost without a close frame")
    return StreamClosed(at, code=code, reason=str(closed.get("reason") or ""), by_client=bool(closed.get("byClient")))


def _task_id(body: Any) -> str | None:
    try:
        payload = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return None
    task_id = payload.get("task_id") if isinstance(payload, dict) else None
    return task_id if isinstance(task_id, str) else None
