"""An independent implementation of the stage execution protocol, for testing the gate.

Written from docs/protocol.md and the schemas in openapi.yaml / asyncapi.yaml, without
anything of stagecheck (no mock code, no rules core): a raw ASGI callable, no framework
routing, served by uvicorn on a free 127.0.0.1 port. Its pacing is its own (tokens
`token_gap_s` apart, 10 ms by default) and it honours only what the contract defines of
`Prefer`: `scenario=fail-start` and `scenario=fail-midway` (section 9). Every other
preference (the mock's `tokens=`, `delay-ms=` ...) is ignored, as RFC 7240 allows.

Broken variants, one switch of `BackendConfig` each, every other behaviour correct:

- `buffer_sse`: every SSE event held back and sent all at once at the end (S5);
- `leak_projects`: every message goes to the subscribers of that stage in every project (W6);
- `ignore_stage`: channel groups named by project only, so every stage's subscribers hear
  the project's tasks (W6);
- `body_limit_status=500`: a body over 1 MiB gets a 500 (E3); `body_limit_text`: it gets
  413 with a plain-text body (E1);
- `no_snapshot`: a late subscriber gets live tokens only; `wrong_snapshot`: its snapshot is
  the last token alone (W5);
- `legacy_no_cache_control`: rewrite_stream answers lack `Cache-Control` (S6);
- `close_before_connected`: every socket is closed right after the handshake (W2);
- `ignore_resume`: a socket that reopens with a `?task_id=` already followed once gets no
  answer to its handshake (a reconnect that hangs);
- `bad_heartbeat`: heartbeats carry `ts` as a string (M1); `pong_delay_s`: each pong is sent
  that late (W3 past 1 s); `no_pong`: pings are never answered (W3).

Options that are not faults: `heartbeat_s=None` (no WebSocket heartbeats at all), and
`sse_keepalive_s` (a `: keep-alive` comment after that long without a write on an SSE answer).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

STAGES = ("rewrite", "storyboard", "image_generation", "camera_movement", "video_generation")
MAX_BODY = 1024 * 1024  # section 1: a body over 1 MiB gets 413
API = re.compile(r"^/api/v1/projects/projects/([^/]+)/(execute-stage|task-status|rewrite_stream)/$")
CHANNEL = re.compile(r"^/ws/projects/([^/]+)/stage/([^/]+)/$")
UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ENDED = ("SUCCESS", "FAILURE", "REVOKED")
SCENARIOS = ("fail-start", "fail-midway")


@dataclass
class BackendConfig:
    token_gap_s: float = 0.010  # between two tokens
    first_token_s: float = 0.010  # from the start of the task to its first token
    max_tokens: int = 12  # the output text is cut into at most this many tokens
    projects: frozenset[int] = frozenset({1, 2})
    legacy_phase: str = "compat"  # or "removed"
    retention_s: float = 60.0  # ended tasks are kept (task-status, W5 replay)
    heartbeat_s: float | None = 5.0  # an idle socket gets a heartbeat this often; None: never
    sse_keepalive_s: float | None = None  # an SSE answer idle this long gets a ": keep-alive" comment
    bad_heartbeat: bool = False  # broken: heartbeats carry ts as a string (M1)
    pong_delay_s: float = 0.0  # broken when over 1 s: each pong is sent this late (W3)
    no_pong: bool = False  # broken: pings are never answered (W3)
    buffer_sse: bool = False  # broken variant: SSE events held back until the end (S5)
    leak_projects: bool = False  # broken: messages reach that stage's subscribers of every project (W6)
    ignore_stage: bool = False  # broken: messages reach every stage's subscribers of the project (W6)
    body_limit_status: int = 413  # broken with 500: the answer to a body over 1 MiB (E3)
    body_limit_text: bool = False  # broken: that answer's body is plain text, not an error object (E1)
    no_snapshot: bool = False  # broken: a late subscriber gets no snapshot, live tokens only (W5)
    wrong_snapshot: bool = False  # broken: a late subscriber's snapshot is the last token alone (W5)
    legacy_no_cache_control: bool = False  # broken: rewrite_stream answers lack Cache-Control (S6)
    close_before_connected: bool = False  # broken: sockets are closed before connected (W2)
    ignore_resume: bool = False  # broken: a second socket for the same ?task_id= is never answered
    deprecated_since: int = 1_735_689_600  # 2025-01-01, the legacy endpoint's Deprecation date


@dataclass
class Task:
    task_id: str
    project_id: int
    stage_name: str
    status: str = "PENDING"
    full_text: str = ""
    error: str | None = None
    terminal: dict[str, Any] | None = None
    ended_at: float | None = None
    published: bool = True  # async tasks go to the channel; SSE tasks only to their answer


@dataclass(eq=False)  # kept in a set: hashed by identity
class Subscriber:
    project_id: int
    stage_name: str
    task_filter: str | None
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    def wants(self, task: Task) -> bool:
        return (task.project_id, task.stage_name) == (self.project_id, self.stage_name) and (
            self.task_filter is None or self.task_filter == task.task_id
        )


class Refused(Exception):
    """An HTTP error answer: status, machine code, human message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, *, text: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.text = text  # broken variant: a plain-text body instead of the error object


def output_text(stage: str, input_data: dict[str, Any]) -> str:
    """The deterministic result of a stage: the same stage and input give the same text everywhere (D1)."""
    if stage == "rewrite":
        return f"Rewritten: {input_data['original_text']}"
    prompt = input_data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        prompt = json.dumps(input_data, sort_keys=True, ensure_ascii=False)
    return f"{stage.replace('_', ' ')} for: {prompt}"


def tokens_of(text: str, most: int) -> list[str]:
    """`text` in at most `most` non-empty pieces, cut between code points (never inside one)."""
    count = max(1, min(most, len(text)))
    size, extra = divmod(len(text), count)
    pieces, at = [], 0
    for number in range(count):
        step = size + (1 if number < extra else 0)
        pieces.append(text[at : at + step])
        at += step
    return [p for p in pieces if p]


def parse_prefer(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The section 9 scenario a request asks for, if any; every other preference is ignored."""
    for name, value in headers:
        if name.lower() != b"prefer":
            continue
        for part in value.decode("latin-1").split(","):
            key, _, raw = part.split(";", 1)[0].strip().partition("=")
            if key.strip().lower() == "scenario" and raw.strip().strip('"').lower() in SCENARIOS:
                return raw.strip().strip('"').lower()
    return None


def query_of(scope: Scope) -> dict[str, str]:
    """The query string's parameters, decoded; the first of a name wins."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
        found.setdefault(name, value)
    return found


def _dumps(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class IndependentBackend:
    """The ASGI application."""

    def __init__(self, config: BackendConfig | None = None) -> None:
        self.config = config or BackendConfig()
        self.tasks: dict[str, Task] = {}
        self.subscribers: set[Subscriber] = set()
        self.running: set[asyncio.Task[None]] = set()
        self.followed: set[str] = set()  # ?task_id= values a socket has asked for (ignore_resume)

    # -- ASGI entry ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for job in list(self.running):
                        job.cancel()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        elif scope["type"] == "websocket":
            await self.channel(scope, receive, send)
        elif scope["type"] == "http":
            try:
                await self.http(scope, receive, send)
            except Refused as refused:
                if refused.text:
                    data = f"{refused.status} {refused.message}".encode()
                    head = [(b"content-type", b"text/plain"), (b"content-length", str(len(data)).encode())]
                    await send({"type": "http.response.start", "status": refused.status, "headers": head})
                    await send({"type": "http.response.body", "body": data})
                    return
                body = {"error": refused.message, "code": refused.code}
                await self.json_answer(send, refused.status, body, refused.headers)

    # -- HTTP -----------------------------------------------------------------------------

    async def json_answer(self, send: Send, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = _dumps(body).encode()
        head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": data})

    def project(self, raw: str) -> int:
        if raw.isascii() and raw.isdigit() and int(raw) in self.config.projects:
            return int(raw)
        raise Refused(404, "not_found", f"unknown project {raw[:40]}")

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.evict()
        match = API.match(scope["path"])
        if match is None:
            raise Refused(404, "not_found", "no such endpoint")
        raw_project, endpoint = match.groups()
        method = scope["method"]
        wanted = "GET" if endpoint == "task-status" else "POST"
        if method != wanted:
            raise Refused(405, "method_not_allowed", f"{method} is not allowed here", {"Allow": wanted})
        project_id = self.project(raw_project)
        if endpoint == "task-status":
            await self.task_status(project_id, scope, send)
            return
        if endpoint == "rewrite_stream" and self.config.legacy_phase == "removed":
            raise Refused(
                410,
                "gone",
                "rewrite_stream was removed: POST execute-stage/ with stage_name rewrite and use_streaming true",
            )
        payload = await self.json_body(scope, receive)
        scenario = parse_prefer(scope["headers"])
        if endpoint == "rewrite_stream":
            input_data = self.validate_legacy(payload)
            headers = {
                "Deprecation": f"@{self.config.deprecated_since}",
                "Link": f'<{scope["path"].replace("rewrite_stream", "execute-stage")}>; rel="successor-version"',
            }
            await self.stream(send, project_id, "rewrite", input_data, scenario, headers)
            return
        stage, input_data, streaming = self.validate_execute(payload)
        if streaming:
            await self.stream(send, project_id, stage, input_data, scenario, {})
            return
        task = self.new_task(project_id, stage, published=True)
        job = asyncio.get_running_loop().create_task(self.produce(task, input_data, scenario, None))
        self.running.add(job)
        job.add_done_callback(self.running.discard)
        body = {
            "task_id": task.task_id,
            "channel": f"/ws/projects/{project_id}/stage/{stage}/",
            "stage_name": stage,
            "status": "PENDING",
        }
        await self.json_answer(send, 202, body, self.applied(scenario))

    @staticmethod
    def applied(scenario: str | None) -> dict[str, str]:
        return {"Preference-Applied": f"scenario={scenario}"} if scenario else {}

    async def json_body(self, scope: Scope, receive: Receive) -> Any:
        headers = {k.lower(): v for k, v in scope["headers"]}
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > MAX_BODY:
            raise self.too_large()
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY:
                raise self.too_large()
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        media = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise Refused(415, "unsupported_media_type", f"send application/json, not {media or 'no content type'}")
        try:
            payload = json.loads(b"".join(chunks).decode("utf-8"))
            _dumps(payload).encode("utf-8")  # lone surrogates cannot be sent back
        except (ValueError, UnicodeError) as exc:
            raise Refused(400, "invalid_request", f"the body is not valid JSON: {exc}") from exc
        return payload

    def too_large(self) -> Refused:
        status = self.config.body_limit_status
        return Refused(status, "payload_too_large", "the body is over 1 MiB", text=self.config.body_limit_text)

    @staticmethod
    def check_input(input_data: object, stage: str) -> dict[str, Any]:
        if not isinstance(input_data, dict):
            raise Refused(400, "invalid_request", "input_data must be an object")
        text = input_data.get("original_text")
        if "original_text" in input_data and (not isinstance(text, str) or not re.search(r"\S", text)):
            raise Refused(400, "invalid_request", "input_data.original_text must be a non-blank string")
        if stage == "rewrite" and "original_text" not in input_data:
            raise Refused(400, "invalid_request", "rewrite needs input_data.original_text")
        return input_data

    def validate_execute(self, payload: Any) -> tuple[str, dict[str, Any], bool]:
        if not isinstance(payload, dict):
            raise Refused(400, "invalid_request", "the body must be a JSON object")
        stage = payload.get("stage_name")
        if stage not in STAGES:
            raise Refused(400, "invalid_request", f"stage_name must be one of {', '.join(STAGES)}")
        if "input_data" not in payload:
            raise Refused(400, "invalid_request", "input_data is required")
        streaming = payload.get("use_streaming", False)
        if type(streaming) is not bool:
            raise Refused(400, "invalid_request", "use_streaming must be a boolean")
        return str(stage), self.check_input(payload["input_data"], str(stage)), streaming

    def validate_legacy(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict) or "input_data" not in payload:
            raise Refused(400, "invalid_request", "input_data is required")
        return self.check_input(payload["input_data"], "rewrite")

    async def task_status(self, project_id: int, scope: Scope, send: Send) -> None:
        task_id = query_of(scope).get("task_id")
        if not task_id:
            raise Refused(400, "invalid_request", "task_id is required")
        if not UUID_TEXT.match(task_id):
            raise Refused(400, "invalid_request", "task_id must be a UUID")
        task = self.tasks.get(task_id.lower())
        if task is None or task.project_id != project_id:
            raise Refused(404, "not_found", f"no task {task_id} in project {project_id}")
        body: dict[str, Any] = {"task_id": task.task_id, "stage_name": task.stage_name, "status": task.status}
        if task.status == "SUCCESS":
            body["result"] = {"full_text": task.full_text}
        if task.error is not None:
            body["error"] = task.error
        await self.json_answer(send, 200, body)

    # -- tasks ------------------------------------------------------------------------------

    def new_task(self, project_id: int, stage: str, *, published: bool) -> Task:
        task = Task(str(uuid.uuid4()), project_id, stage, published=published)
        self.tasks[task.task_id] = task
        return task

    def evict(self) -> None:
        horizon = time.monotonic() - self.config.retention_s
        for task_id in [t.task_id for t in self.tasks.values() if t.ended_at is not None and t.ended_at < horizon]:
            del self.tasks[task_id]

    def reaches(self, subscriber: Subscriber, task: Task) -> bool:
        """Whether a task's live messages go to this subscriber (the broken variants widen the group)."""
        project = self.config.leak_projects or subscriber.project_id == task.project_id
        stage = self.config.ignore_stage or subscriber.stage_name == task.stage_name
        return project and stage and (subscriber.task_filter is None or subscriber.task_filter == task.task_id)

    def publish(self, task: Task, message: dict[str, Any]) -> None:
        if task.published:
            for subscriber in list(self.subscribers):
                if self.reaches(subscriber, task):
                    subscriber.queue.put_nowait(message)

    async def produce(
        self,
        task: Task,
        input_data: dict[str, Any],
        scenario: str | None,
        emit: Callable[[dict[str, Any]], Awaitable[None]] | None,
    ) -> None:
        """Run one task: tokens paced by this backend, then done or error, to the channel and/or `emit`."""

        async def out(message: dict[str, Any]) -> None:
            self.publish(task, message)
            if emit is not None:
                await emit(message)

        pieces = tokens_of(output_text(task.stage_name, input_data), self.config.max_tokens)
        if scenario == "fail-start":
            pieces = []
        elif scenario == "fail-midway":
            pieces = pieces[: max(1, len(pieces) // 2)]
        await asyncio.sleep(0)
        task.status = "STARTED"
        await asyncio.sleep(self.config.first_token_s)
        for number, piece in enumerate(pieces):
            if number:
                await asyncio.sleep(self.config.token_gap_s)
            task.full_text += piece
            task.status = "PROGRESS"
            await out({"type": "token", "content": piece, "full_text": task.full_text, "task_id": task.task_id})
        if scenario is None:
            terminal: dict[str, Any] = {"type": "done", "full_text": task.full_text, "task_id": task.task_id}
            task.status = "SUCCESS"
        else:
            task.error = f"failed on request ({scenario})"
            terminal = {"type": "error", "error": task.error, "code": scenario, "task_id": task.task_id}
            task.status = "FAILURE"
        task.terminal = terminal
        task.ended_at = time.monotonic()
        await out(terminal)

    async def stream(
        self,
        send: Send,
        project_id: int,
        stage: str,
        input_data: dict[str, Any],
        scenario: str | None,
        headers: dict[str, str],
    ) -> None:
        """SSE mode: the task's events in the answer, each flushed as produced (unless buffer_sse)."""
        head = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"x-accel-buffering", b"no")]
        if not (self.config.legacy_no_cache_control and "Deprecation" in headers):
            head.append((b"cache-control", b"no-cache"))
        head += [(k.lower().encode(), v.encode()) for k, v in {**headers, **self.applied(scenario)}.items()]
        await send({"type": "http.response.start", "status": 200, "headers": head})
        task = self.new_task(project_id, stage, published=False)
        held: list[bytes] = []
        count = 0

        lock = asyncio.Lock()  # a keep-alive comment never lands inside an event
        written = [time.monotonic()]  # when the answer last got a write (sse_keepalive_s)

        async def emit(message: dict[str, Any]) -> None:
            nonlocal count
            count += 1
            block = f"id: {count}\nevent: {message['type']}\ndata: {_dumps(message)}\n\n".encode()
            if self.config.buffer_sse:
                held.append(block)
            else:
                async with lock:
                    await send({"type": "http.response.body", "body": block, "more_body": True})
                    written[0] = time.monotonic()

        if not self.config.buffer_sse:
            await send({"type": "http.response.body", "body": b": stream open\n\n", "more_body": True})
        keepalive = None
        if self.config.sse_keepalive_s is not None and not self.config.buffer_sse:
            keepalive = asyncio.get_running_loop().create_task(self.keep_alive(send, lock, written))
        try:
            await self.produce(task, input_data, scenario, emit)
        finally:
            if keepalive is not None:
                async with lock:
                    keepalive.cancel()
        await send({"type": "http.response.body", "body": b"".join(held), "more_body": False})

    async def keep_alive(self, send: Send, lock: asyncio.Lock, written: list[float]) -> None:
        """A comment line whenever the answer has been idle for `sse_keepalive_s` (S3)."""
        every = self.config.sse_keepalive_s
        assert every is not None
        while True:
            await asyncio.sleep(max(0.0, written[0] + every - time.monotonic()))
            async with lock:
                if time.monotonic() - written[0] >= every:
                    await send({"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True})
                    written[0] = time.monotonic()

    # -- WebSocket ------------------------------------------------------------------------

    async def channel(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        match = CHANNEL.match(scope["path"])
        query = query_of(scope)
        wanted_task = query.get("task_id")
        resumed = wanted_task is not None and wanted_task in self.followed
        if wanted_task is not None:
            self.followed.add(wanted_task)
        if self.config.ignore_resume and resumed:
            while (await receive())["type"] != "websocket.disconnect":
                pass  # the handshake stays unanswered until the client gives up
            return
        await send({"type": "websocket.accept"})
        if match is None:
            await send({"type": "websocket.close", "code": 4404, "reason": "no such channel"})
            return
        raw_project, stage = match.groups()
        if self.config.close_before_connected:
            await send({"type": "websocket.close", "code": 1000, "reason": "bye"})
            return
        try:
            project_id = self.project(raw_project)
        except Refused:
            await send({"type": "websocket.close", "code": 4404, "reason": f"unknown project {raw_project[:40]}"})
            return
        if stage not in STAGES:
            await send({"type": "websocket.close", "code": 4404, "reason": f"unknown stage {stage[:40]}"})
            return
        self.evict()
        subscriber = Subscriber(project_id, stage, query.get("task_id") or None)
        # W5: what a late subscriber is owed, queued before live messages (no await in between).
        for task in list(self.tasks.values()):
            if not subscriber.wants(task) or not task.published:
                continue
            if task.terminal is not None:
                subscriber.queue.put_nowait(task.terminal)
            elif task.full_text and not self.config.no_snapshot:
                text = task.full_text
                if self.config.wrong_snapshot:
                    text = tokens_of(text, self.config.max_tokens)[-1]  # a tail, not all the text so far
                snapshot = {"type": "token", "content": text, "full_text": text}
                subscriber.queue.put_nowait({**snapshot, "task_id": task.task_id})
        self.subscribers.add(subscriber)
        lock = asyncio.Lock()

        async def say(message: dict[str, Any]) -> None:
            async with lock:
                await send({"type": "websocket.send", "text": _dumps(message)})

        async def writer() -> None:
            while True:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel (a deadlock here).
                try:
                    async with asyncio.timeout(self.config.heartbeat_s):
                        message = await subscriber.queue.get()
                except TimeoutError:
                    beat = time.time()
                    message = {"type": "heartbeat", "ts": str(beat) if self.config.bad_heartbeat else beat}
                await say(message)

        try:
            await say({"type": "connected", "project_id": project_id, "stage_name": stage})
            pump = asyncio.get_running_loop().create_task(writer())
            try:
                close = await self.read_frames(receive, self.pong_sender(say))
                # Stop the writer between two sends (never inside one), then close.
                async with lock:
                    pump.cancel()
                    with suppress(asyncio.CancelledError):
                        await pump
                    if close is not None:
                        await send({"type": "websocket.close", "code": close[0], "reason": close[1]})
            finally:
                pump.cancel()
        except OSError:
            pass  # the client went away
        finally:
            self.subscribers.discard(subscriber)

    def pong_sender(
        self, say: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """`say`, with the pong faults: none sent (no_pong), or each sent pong_delay_s late."""
        if not self.config.no_pong and not self.config.pong_delay_s:
            return say
        later: set[asyncio.Task[None]] = set()

        async def delayed(message: dict[str, Any]) -> None:
            await asyncio.sleep(self.config.pong_delay_s)
            with suppress(OSError, RuntimeError):  # the socket may have closed meanwhile
                await say(message)

        async def answer(message: dict[str, Any]) -> None:
            if self.config.no_pong:
                return
            job = asyncio.get_running_loop().create_task(delayed(message))
            later.add(job)
            job.add_done_callback(later.discard)

        return answer

    @staticmethod
    async def read_frames(receive: Receive, say: Callable[[dict[str, Any]], Awaitable[None]]) -> tuple[int, str] | None:
        """Client frames: ping gets pong; anything else closes this socket (W4). None: the client left."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return None
            text = message.get("text")
            if text is None:
                return 1003, "binary frames are not accepted"
            try:
                payload = json.loads(text)
            except ValueError:
                return 1008, "the frame is not JSON"
            if not isinstance(payload, dict) or payload.get("type") != "ping":
                return 1008, "only ping messages are accepted"
            await say({"type": "pong"})


@contextmanager
def serve_backend(config: BackendConfig | None = None) -> Iterator[str]:
    """Serve an IndependentBackend on a free 127.0.0.1 port in a thread; yields its base URL."""
    app = IndependentBackend(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_config=None, log_level="critical", access_log=False, ws="wsproto")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        raise RuntimeError("the independent backend did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


if __name__ == "__main__":  # python -m tests.backends.independent [compat|removed] [--buffer-sse]
    import sys

    phase = "removed" if "removed" in sys.argv else "compat"
    with serve_backend(BackendConfig(legacy_phase=phase, buffer_sse="--buffer-sse" in sys.argv)) as url:
        print(url, flush=True)
        with suppress(KeyboardInterrupt):
            threading.Event().wait()
