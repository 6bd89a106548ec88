"""Evidence for a finding: the wire timeline and a command that reproduces it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping

from stagecheck.contracts.events import (
    RequestSent,
    ResponseBody,
    ResponseHead,
    SseComment,
    SseEvent,
    StreamClosed,
    StreamEvent,
    WsMessage,
    WsOpened,
)
from stagecheck.results.contract_results import RequestRecord, TimelineEntry

MAX_TIMELINE = 200
MAX_TEXT = 400


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"... ({len(text)} characters)"


def describe(event: StreamEvent) -> tuple[str, str]:
    """(kind, text) of one wire event, as the report shows it."""
    if isinstance(event, RequestSent):
        return "request", "request sent"
    if isinstance(event, ResponseHead):
        shown = ", ".join(f"{k}: {v}" for k, v in event.headers if k != "set-cookie")
        return "head", f"{event.status} {shown}"
    if isinstance(event, ResponseBody):
        return "body", event.body.decode("utf-8", "replace")
    if isinstance(event, SseEvent):
        lines = [f"id: {event.id}"] if event.id is not None else []
        lines += [f"event: {event.event}"] if event.event is not None else []
        return "event", "\n".join([*lines, f"data: {event.data}"])
    if isinstance(event, SseComment):
        return "comment", f": {event.text}"
    if isinstance(event, WsOpened):
        return "open", "socket open"
    if isinstance(event, WsMessage):
        if event.text is not None:
            return "message", event.text
        return "message", f"(binary, {len(event.binary or b'')} bytes)"
    assert isinstance(event, StreamClosed)
    who = "client" if event.by_client else "server"
    parts = [f"closed by {who}"]
    if event.code is not None:
        parts.append(f"code {event.code} {event.reason!r}")
    if event.error:
        parts.append(event.error)
    return "close", ", ".join(parts)


def timeline(
    events: Iterable[StreamEvent], origin: float, notes: Iterable[tuple[float, str]] = ()
) -> tuple[TimelineEntry, ...]:
    entries = [TimelineEntry(round(e.at - origin, 6), *map(_clip, describe(e))) for e in events]
    entries += [TimelineEntry(round(at - origin, 6), "note", _clip(text)) for at, text in notes]
    entries.sort(key=lambda entry: entry.at)
    if len(entries) > MAX_TIMELINE:
        half = MAX_TIMELINE // 2
        skipped = len(entries) - MAX_TIMELINE
        entries = [
            *entries[:half],
            TimelineEntry(entries[half].at, "note", f"... {skipped} entries left out ..."),
            *entries[-half:],
        ]
    return tuple(entries)


def request_record(method: str, url: str, headers: Mapping[str, str], body: object | None = None) -> RequestRecord:
    if body is None or isinstance(body, str):
        text = body
    elif isinstance(body, bytes):
        text = body.decode("utf-8", "replace")
    else:
        text = json.dumps(body, ensure_ascii=False)
    return RequestRecord(method, url, dict(headers), text)


def curl_line(request: RequestRecord, stream: bool = False) -> str:
    """A curl command reproducing an HTTP or SSE request (-N: print events as they come)."""
    parts = ["curl", "-sS", "-i"]
    if stream:
        parts.append("-N")
    if request.method != "GET":
        parts += ["-X", request.method]
    for name, value in request.headers.items():
        parts += ["-H", f"{name}: {value}"]
    if request.body is not None:
        parts += ["--data-binary", request.body]
    parts.append(request.url)
    return shlex.join(parts)


def ws_line(url: str, send: Iterable[str] = (), post: RequestRecord | None = None) -> str:
    """A shell line reproducing a WebSocket exchange with the `websockets` client (installed with stagecheck)."""
    script = [
        "import asyncio, websockets",
        "async def main():",
        f"    async with websockets.connect({json.dumps(url)}) as ws:",
    ]
    # json.dumps gives double-quoted Python literals, which read cleanly inside the shell's single quotes.
    script += [f"        await ws.send({json.dumps(frame)})" for frame in send]
    script += [
        "        try:",
        "            while True: print(await asyncio.wait_for(ws.recv(), 5))",
        '        except Exception as exc: print("closed:", getattr(exc, "rcvd", None) or exc)',
        "asyncio.run(main())",
    ]
    line = "python -c " + shlex.quote("\n".join(script))
    if post is not None:
        line = curl_line(post) + "  # then, at once:\n" + line
    return line
