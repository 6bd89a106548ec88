"""Deliberately broken servers for the contract gate, and a helper to run it through the CLI.

A broken server is the mock app wrapped in ASGI middleware that rewrites exactly one
thing on the way out (an SSE id, a header, a WebSocket close code ...), so each test can
ask: does `stagecheck contract` blame that rule, and only that rule?
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from stagecheck.cli import cli
from stagecheck.mock_server.app import create_app
from stagecheck.mock_server.broker import InMemoryBroker, TaskRecord, encode
from stagecheck.mock_server.config import MockConfig

Message = dict[str, Any]
Scope = dict[str, Any]
# (scope, message, per-connection state) -> the messages to send instead
Hook = Callable[[Scope, Message, dict[str, Any]], Awaitable[list[Message]]]


class Broken:
    """ASGI wrapper: every message the app sends passes through `hook`; `on_scope` may edit the request."""

    def __init__(self, app: Any, hook: Hook | None = None, on_scope: Callable[[Scope], Scope] | None = None) -> None:
        self.app = app
        self.hook = hook
        self.on_scope = on_scope

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if self.on_scope is not None:
            scope = self.on_scope(dict(scope))
        state: dict[str, Any] = {}

        async def wrapped(message: Message) -> None:
            out = [message] if self.hook is None else await self.hook(scope, message, state)
            for item in out:
                if "sleep" in item:  # a pause between two messages
                    await asyncio.sleep(item["sleep"])
                    continue
                await send(item)

        await self.app(scope, receive, wrapped)


def sse_hook(edit: Callable[[Scope, dict[str, str], dict[str, Any]], list[dict[str, str]] | None]) -> Hook:
    """A hook that edits SSE events one by one: `edit(scope, fields, state)` -> replacement events (None: keep)."""

    async def hook(scope: Scope, message: Message, state: dict[str, Any]) -> list[Message]:
        if message["type"] == "http.response.start":
            headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            state["sse"] = headers.get("content-type", "").startswith("text/event-stream")
            return [message]
        if message["type"] != "http.response.body" or not state.get("sse") or not message.get("body"):
            return [message]
        out = []
        for block in message["body"].decode().split("\n\n"):
            if not block.strip():
                continue
            fields: dict[str, str] = {}
            for line in block.split("\n"):
                if line.startswith(":"):
                    fields.setdefault("comment", line)
                    continue
                name, _, value = line.partition(": ")
                fields[name] = value
            replaced = edit(scope, fields, state)
            for event in [fields] if replaced is None else replaced:
                out.append(
                    "\n".join(
                        event["comment"] if k == "comment" else f"{k}: {v}" if v != "" else f"{k}:"
                        for k, v in event.items()
                    )
                    + "\n\n"
                )
        return [{**message, "body": "".join(out).encode()}]

    return hook


def ws_hook(edit: Callable[[Scope, dict[str, Any], dict[str, Any]], list[Message] | None]) -> Hook:
    """A hook that edits outgoing WebSocket JSON messages: `edit(scope, payload, state)` -> messages (None: keep)."""

    async def hook(scope: Scope, message: Message, state: dict[str, Any]) -> list[Message]:
        if message["type"] != "websocket.send" or message.get("text") is None:
            return [message]
        replaced = edit(scope, json.loads(message["text"]), state)
        return [message] if replaced is None else replaced

    return hook


def ws_text(payload: dict[str, Any]) -> Message:
    return {"type": "websocket.send", "text": json.dumps(payload, ensure_ascii=False)}


def json_body_hook(path_part: str, edit: Callable[[int, Any], tuple[int, Any]]) -> Hook:
    """A hook that rewrites whole JSON answers of paths containing `path_part`: edit(status, body) -> (status, body)."""

    async def hook(scope: Scope, message: Message, state: dict[str, Any]) -> list[Message]:
        if scope["type"] != "http" or path_part not in scope["path"]:
            return [message]
        if message["type"] == "http.response.start":
            headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            if not headers.get("content-type", "").startswith("application/json"):
                return [message]
            state["start"] = message
            return []
        if message["type"] == "http.response.body" and "start" in state:
            state.setdefault("body", b"")
            state["body"] += message.get("body", b"")
            if message.get("more_body"):
                return []
            status, body = edit(state["start"]["status"], json.loads(state["body"] or b"null"))
            data = json.dumps(body).encode()
            headers = [(k, v) for k, v in state["start"]["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(data)).encode()))
            return [
                {**state["start"], "status": status, "headers": headers},
                {"type": "http.response.body", "body": data},
            ]
        return [message]

    return hook


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 on a free port in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, log_level="critical", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "test server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def mock_app(**config: Any) -> Any:
    return create_app(MockConfig(**config))


class Run:
    def __init__(self, exit_code: int, output: str, report_dir: Path) -> None:
        self.exit_code = exit_code
        self.output = output
        self.report_dir = report_dir
        results = report_dir / "results.json"
        self.results: dict[str, Any] = json.loads(results.read_text()) if results.exists() else {}
        junit = report_dir / "junit.xml"
        self.junit = junit.read_text() if junit.exists() else ""

    @property
    def failed(self) -> set[tuple[str, str]]:
        return {(c["rule"], c["transport"]) for c in self.results.get("rules", []) if c["status"] == "failed"}

    @property
    def failed_rules(self) -> set[str]:
        return {rule for rule, _ in self.failed}

    def cell(self, rule: str, transport: str) -> dict[str, Any]:
        return next(c for c in self.results["rules"] if (c["rule"], c["transport"]) == (rule, transport))


@pytest.fixture
def contract(tmp_path: Path) -> Callable[..., Run]:
    counter = iter(range(1000))

    def run(*args: str) -> Run:
        report_dir = tmp_path / f"report-{next(counter)}"
        result = CliRunner().invoke(cli, ["contract", "--report-dir", str(report_dir), *args])
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.output, report_dir)

    return run


# Options a scenario-capable, deterministic, compat-phase target (the mock) is run with.
MOCK_FLAGS = ("--scenarios", "--deterministic", "--legacy-phase", "compat", "--profile", "quick", "--no-schemathesis")


# -- one break per rule -------------------------------------------------------------------------


def _token_number(fields: dict[str, str]) -> int:
    return int(fields.get("id", "0") or 0)


def skip_id(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    if fields.get("id") == "2":
        fields["id"] = "5"


def legacy_fails(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    # The legacy endpoint ends every task with an error where execute-stage succeeds (L4).
    if "rewrite_stream" in scope["path"] and fields.get("event") == "done":
        fields["event"] = "error"
        fields["data"] = json.dumps({"type": "error", "error": "legacy broke", "code": "internal"})


def wrong_event_name(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    if fields.get("id") == "2":
        fields["event"] = "tokn"


def error_becomes_done(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    # A failing task reported as a success: a well-formed done carrying the text so far.
    if fields.get("event") == "token":
        state["text"] = json.loads(fields["data"])["full_text"]
    elif fields.get("event") == "error":
        fields["event"] = "done"
        fields["data"] = json.dumps({"type": "done", "full_text": state.get("text", "")}, ensure_ascii=False)


def mismatch_type(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    if fields.get("id") == "1" and fields.get("event") == "token":
        payload = json.loads(fields["data"])
        fields["data"] = json.dumps({**payload, "type": "done"}, ensure_ascii=False)


def keepalive_as_event(
    scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]
) -> list[dict[str, str]] | None:
    if fields.get("id") == "1":
        return [{"event": "keepalive", "data": ""}, fields]
    return None


def token_after_done(
    scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]
) -> list[dict[str, str]] | None:
    if fields.get("event") == "done":
        late = {"type": "token", "content": "late", "full_text": json.loads(fields["data"])["full_text"] + "late"}
        return [fields, {"event": "token", "data": json.dumps(late, ensure_ascii=False)}]
    return None


def corrupt_accumulation(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    if fields.get("event") == "token" and fields.get("id") == "3":
        payload = json.loads(fields["data"])
        payload["full_text"] = payload["full_text"][: -len(payload["content"])] + "X" + payload["content"]
        fields["data"] = json.dumps(payload, ensure_ascii=False)
        state["corrupt"] = "X"


def done_differs(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    if fields.get("event") == "done":
        payload = json.loads(fields["data"])
        fields["data"] = json.dumps({**payload, "full_text": payload["full_text"] + " (edited)"}, ensure_ascii=False)


def bad_schema(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    if fields.get("event") == "token" and fields.get("id") == "2":
        payload = json.loads(fields["data"])
        fields["data"] = json.dumps({**payload, "full_text": 42})


def replacement_chars(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    # Every token's first character becomes U+FFFD, consistently, so only Q4 (and agreement) can see it.
    if fields.get("event") not in ("token", "done"):
        return
    payload = json.loads(fields["data"])
    if fields["event"] == "token":
        content = "\ufffd" + payload["content"][1:]
        state["text"] = state.get("text", "") + content
        payload.update(content=content, full_text=state["text"])
    else:
        payload["full_text"] = state.get("text", payload["full_text"])
    fields["data"] = json.dumps(payload, ensure_ascii=False)


async def drop_cache_control(
    scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]]:
    if message["type"] == "http.response.start":
        message = {**message, "headers": [(k, v) for k, v in message["headers"] if k.lower() != b"cache-control"]}
    return [message]


def close_late_once() -> Hook:
    """The first SSE answer stays open 3 s after its done event (S4); the others are left alone."""
    done = False

    async def hook(scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]]:
        nonlocal done
        if message["type"] != "http.response.body":
            return [message]
        if b"event: done" in message.get("body", b"") and not done:
            done = state["hold"] = True
            return [{**message, "more_body": True}, {"sleep": 3.0}, {"type": "http.response.body", "body": b""}]
        if state.get("hold") and not message.get("more_body") and not message.get("body"):
            return []  # the end was already sent after the pause
        return [message]

    return hook


async def buffer_everything(
    scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]]:
    if message["type"] == "http.response.start":
        state["sse"] = any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in message["headers"])
        return [message]
    if message["type"] == "http.response.body" and state.get("sse"):
        state.setdefault("held", []).append(message.get("body", b""))
        if message.get("more_body"):
            return []
        return [{"type": "http.response.body", "body": b"".join(state["held"]), "more_body": False}]
    return [message]


def late_first_event_once() -> Hook:
    """The first SSE answer's first event comes 1 s late (Q6 with a 0.5 s bound)."""
    done = False

    async def hook(scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]]:
        nonlocal done
        if message["type"] == "http.response.body" and b"event:" in message.get("body", b"") and not done:
            done = True
            await asyncio.sleep(1.0)
        return [message]

    return hook


async def drop_deprecation(
    scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]]:
    if message["type"] == "http.response.start":
        message = {**message, "headers": [(k, v) for k, v in message["headers"] if k.lower() != b"deprecation"]}
    return [message]


def status_pending_for_unknown(status: int, body: Any) -> tuple[int, Any]:
    if status == 404:
        return 200, {"task_id": "00000000-0000-4000-8000-000000000000", "stage_name": "rewrite", "status": "PENDING"}
    return status, body


def status_running(status: int, body: Any) -> tuple[int, Any]:
    if status == 200 and isinstance(body, dict) and "status" in body:
        return 200, {**body, "status": "RUNNING"}
    return status, body


def status_result_differs(status: int, body: Any) -> tuple[int, Any]:
    if status == 200 and isinstance(body, dict) and body.get("status") == "SUCCESS":
        return 200, {**body, "result": {"full_text": "something else"}}
    return status, body


def server_error_on_bad_id(status: int, body: Any) -> tuple[int, Any]:
    if status == 400:
        return 500, {"error": "boom", "code": "internal"}
    return status, body


def accepted_not_pending(status: int, body: Any) -> tuple[int, Any]:
    if status == 202:
        return 202, {**body, "status": "STARTED"}
    return status, body


def error_body_without_code(status: int, body: Any) -> tuple[int, Any]:
    if status >= 400 and isinstance(body, dict):
        return status, {"error": body.get("error", "x")}
    return status, body


def strip_ws_task_id(
    scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]] | None:
    if payload.get("type") == "token":
        payload.pop("task_id", None)
        return [ws_text(payload)]
    return None


def foreign_task_id(
    scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]] | None:
    if "task_id" in payload:
        return [ws_text({**payload, "task_id": "11111111-1111-4111-8111-111111111111"})]
    return None


def close_after_done(
    scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]] | None:
    if payload.get("type") == "done":
        return [ws_text(payload), {"type": "websocket.close", "code": 1000, "reason": "bye"}]
    return None


def pong_before_connected(
    scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]] | None:
    if payload.get("type") == "connected":
        return [ws_text({"type": "heartbeat", "ts": 1.0}), ws_text(payload)]
    return None


def no_replay_after_end(
    scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]] | None:
    # A terminal event of a task this socket saw no token of is a late subscriber's replay: drop it.
    seen = state.setdefault("seen", set())
    if payload.get("type") == "token":
        seen.add(payload.get("task_id"))
    if payload.get("type") in ("done", "error") and payload.get("task_id") not in seen:
        return []
    return None


def no_pong(scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]] | None:
    return [] if payload.get("type") == "pong" else None


def upper_ws_text(scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]] | None:
    if payload.get("type") in ("token", "done"):
        changed = {k: v.upper() if k in ("content", "full_text") else v for k, v in payload.items()}
        return [ws_text(changed)]
    return None


def upper_legacy(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
    if "rewrite_stream" in scope["path"] and fields.get("event") in ("token", "done"):
        payload = json.loads(fields["data"])
        fields["data"] = json.dumps(
            {k: v.upper() if k in ("content", "full_text") else v for k, v in payload.items()}, ensure_ascii=False
        )


async def close_code(
    scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any], old: int, new: int
) -> list[dict[str, Any]]:
    if message["type"] == "websocket.close" and message.get("code") == old:
        return [{**message, "code": new}]
    return [message]


async def w1_close_normal(
    scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]]:
    return await close_code(scope, message, state, 4404, 1000)


async def w4_binary_policy(
    scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]]:
    return await close_code(scope, message, state, 1003, 1000)


def ignore_task_filter(scope: dict[str, Any]) -> dict[str, Any]:
    if scope["type"] == "websocket":
        scope["query_string"] = b""
    return scope


class WideBroker(InMemoryBroker):
    """A broker whose channel groups are too wide: one per stage (`ignore="project"`) or per project."""

    def __init__(self, ignore: str) -> None:
        super().__init__()
        self.ignore = ignore

    def _publish(self, record: TaskRecord, delivery: Any) -> None:
        for (project, stage), subscribers in list(self._subscribers.items()):
            if (self.ignore == "project" or project == record.project_id) and (
                self.ignore == "stage" or stage == record.stage_name
            ):
                for subscriber in list(subscribers):
                    if subscriber.task_filter is None or subscriber.task_filter == record.task_id:
                        subscriber.put(delivery)

    async def token(self, task_id: str, content: str) -> None:
        record = self._tasks[task_id]
        record.status = "PROGRESS"
        record.full_text += content
        message = {"type": "token", "content": content, "full_text": record.full_text, "task_id": task_id}
        self._publish(record, encode(message))


class SnapshotBroker(InMemoryBroker):
    """A broker that gets late joins wrong: no snapshot (`how="none"`), or only its tail (`how="tail"`)."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    async def subscribe(self, project_id: int, stage_name: str, task_filter: str | None = None) -> Any:
        subscription = await super().subscribe(project_id, stage_name, task_filter)
        kept = []
        for item in subscription.items:  # type: ignore[attr-defined]
            payload = json.loads(item) if isinstance(item, str) else {}
            if payload.get("type") != "token":
                kept.append(item)
            elif self.how == "tail" and len(payload["full_text"]) > 1:
                tail = payload["full_text"][len(payload["full_text"]) // 2 :]
                kept.append(encode({**payload, "content": tail, "full_text": tail}))
        subscription.items.clear()  # type: ignore[attr-defined]
        subscription.items.extend(kept)  # type: ignore[attr-defined]
        return subscription


def with_broker(broker: InMemoryBroker) -> Callable[[Any], Any]:
    """A BREAKS wrapper: the mock app itself, built on a broken broker."""
    return lambda app: create_app(MockConfig(), broker=broker)


async def body_limit_as_text(
    scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]]:
    # A proxy's 413 page: the right status, but not the error object of E1.
    if message["type"] == "http.response.start" and message.get("status") == 413:
        state["page"] = b"<html><body><h1>413 Request Entity Too Large</h1></body></html>"
        length = str(len(state["page"])).encode()
        return [{**message, "headers": [(b"content-type", b"text/html"), (b"content-length", length)]}]
    if message["type"] == "http.response.body" and "page" in state:
        return [] if message.get("more_body") else [{"type": "http.response.body", "body": state["page"]}]
    return [message]


def body_limit_500(status: int, body: Any) -> tuple[int, Any]:
    return (500, body) if status == 413 else (status, body)


async def legacy_drop_cache_control(
    scope: dict[str, Any], message: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]]:
    if message["type"] == "http.response.start" and "rewrite_stream" in scope["path"]:
        message = {**message, "headers": [(k, v) for k, v in message["headers"] if k.lower() != b"cache-control"]}
    return [message]


def close_instead_of_connected(
    scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]
) -> list[dict[str, Any]] | None:
    if payload.get("type") == "connected":
        state["closed"] = True
        return [{"type": "websocket.close", "code": 1000, "reason": "bye"}]
    return [] if state.get("closed") else None


def say_nothing(scope: dict[str, Any], payload: dict[str, Any], state: dict[str, Any]) -> list[dict[str, Any]] | None:
    return []


# (test id, app wrapper, extra CLI args, rule, transport, other rules the break also (rightly) breaks)
BREAKS: list[tuple[str, Callable[[Any], Any], tuple[str, ...], str, str, set[str]]] = [
    ("sse-skips-an-id", lambda app: Broken(app, sse_hook(skip_id)), ("--rules", "S2"), "S2", "sse", set()),
    ("sse-data-type-mismatch", lambda app: Broken(app, sse_hook(mismatch_type)), ("--rules", "S1"), "S1", "sse", set()),
    (
        "sse-keepalive-as-event",
        lambda app: Broken(app, sse_hook(keepalive_as_event)),
        ("--rules", "S3"),
        "S3",
        "sse",
        set(),
    ),
    ("sse-slow-close-after-done", lambda app: Broken(app, close_late_once()), ("--rules", "S4"), "S4", "sse", set()),
    ("sse-buffered", lambda app: Broken(app, buffer_everything), ("--rules", "S5"), "S5", "sse", set()),
    ("sse-no-cache-control", lambda app: Broken(app, drop_cache_control), ("--rules", "S6"), "S6", "sse", set()),
    ("sse-schema", lambda app: Broken(app, sse_hook(bad_schema)), ("--rules", "M1"), "M1", "sse", set()),
    (
        "sse-token-after-done",
        lambda app: Broken(app, sse_hook(token_after_done)),
        ("--rules", "Q1"),
        "Q1",
        "sse",
        set(),
    ),
    (
        "sse-corrupt-accumulation",
        lambda app: Broken(app, sse_hook(corrupt_accumulation)),
        ("--rules", "Q2"),
        "Q2",
        "sse",
        set(),
    ),
    ("sse-done-differs", lambda app: Broken(app, sse_hook(done_differs)), ("--rules", "Q3"), "Q3", "sse", {"D1", "L2"}),
    (
        "sse-replacement-char",
        lambda app: Broken(app, sse_hook(replacement_chars)),
        ("--rules", "Q4"),
        "Q4",
        "sse",
        {"D1", "L2"},
    ),
    (
        "sse-late-first-event",
        lambda app: Broken(app, late_first_event_once()),
        ("--rules", "Q6", "--first-event-timeout", "0.5"),
        "Q6",
        "sse",
        set(),
    ),
    (
        "ws-strips-task-id",
        lambda app: Broken(app, ws_hook(strip_ws_task_id)),
        ("--rules", "Q5"),
        "Q5",
        "ws",
        {"M1", "Q1", "W5"},
    ),
    (
        "ws-foreign-task-id",
        lambda app: Broken(app, ws_hook(foreign_task_id)),
        ("--rules", "Q5", "--idle-timeout", "1"),
        "Q5",
        "ws",
        {"W6", "W5", "W4", "Q1", "Q6"},
    ),
    ("ws-closes-after-done", lambda app: Broken(app, ws_hook(close_after_done)), ("--rules", "W7"), "W7", "ws", set()),
    (
        "ws-heartbeat-before-connected",
        lambda app: Broken(app, ws_hook(pong_before_connected)),
        ("--rules", "W2"),
        "W2",
        "ws",
        {"Q1"},
    ),
    ("ws-no-pong", lambda app: Broken(app, ws_hook(no_pong)), ("--rules", "W3"), "W3", "ws", set()),
    ("legacy-ends-otherwise", lambda app: Broken(app, sse_hook(legacy_fails)), ("--rules", "L4"), "L4", "http", set()),
    (
        "sse-wrong-event-name",
        lambda app: Broken(app, sse_hook(wrong_event_name)),
        ("--rules", "S1"),
        "S1",
        "sse",
        set(),
    ),
    (
        "sse-error-path-ends-with-done",
        lambda app: Broken(app, sse_hook(error_becomes_done)),
        ("--rules", "Q1"),
        "Q1",
        "sse",
        set(),
    ),
    (
        "ws-no-replay-after-end",
        lambda app: Broken(app, ws_hook(no_replay_after_end)),
        ("--rules", "W5", "--idle-timeout", "1"),
        "W5",
        "ws",
        {"Q1", "Q6"},
    ),
    (
        "ws-ignores-task-filter",
        lambda app: Broken(app, on_scope=ignore_task_filter),
        ("--rules", "W6"),
        "W6",
        "ws",
        set(),
    ),
    (
        "ws-unknown-stage-closed-normally",
        lambda app: Broken(app, w1_close_normal),
        ("--rules", "W1"),
        "W1",
        "ws",
        set(),
    ),
    ("ws-binary-closed-normally", lambda app: Broken(app, w4_binary_policy), ("--rules", "W4"), "W4", "ws", set()),
    ("ws-text-differs", lambda app: Broken(app, ws_hook(upper_ws_text)), ("--rules", "D1"), "D1", "ws", {"T3"}),
    ("legacy-text-differs", lambda app: Broken(app, sse_hook(upper_legacy)), ("--rules", "L2"), "L2", "sse", {"D1"}),
    ("legacy-no-deprecation", lambda app: Broken(app, drop_deprecation), ("--rules", "L1"), "L1", "http", set()),
    (
        "status-pending-for-unknown",
        lambda app: Broken(app, json_body_hook("task-status", status_pending_for_unknown)),
        ("--rules", "T2"),
        "T2",
        "http",
        set(),
    ),
    (
        "status-unknown-value",
        lambda app: Broken(app, json_body_hook("task-status", status_running)),
        ("--rules", "T1"),
        "T1",
        "http",
        {"T3", "W5"},
    ),
    (
        "status-result-differs",
        lambda app: Broken(app, json_body_hook("task-status", status_result_differs)),
        ("--rules", "T3"),
        "T3",
        "http",
        set(),
    ),
    (
        "status-500-on-bad-id",
        lambda app: Broken(app, json_body_hook("task-status", server_error_on_bad_id)),
        ("--rules", "E3"),
        "E3",
        "http",
        set(),
    ),
    (
        "accepted-not-pending",
        lambda app: Broken(app, json_body_hook("execute-stage", accepted_not_pending)),
        ("--rules", "E4"),
        "E4",
        "http",
        set(),
    ),
    ("ws-leaks-across-projects", with_broker(WideBroker("project")), ("--rules", "W6"), "W6", "ws", set()),
    ("ws-group-ignores-the-stage", with_broker(WideBroker("stage")), ("--rules", "W6"), "W6", "ws", set()),
    (
        "ws-late-join-without-snapshot",
        with_broker(SnapshotBroker("none")),
        ("--rules", "W5"),
        "W5",
        "ws",
        set(),
    ),
    (
        "ws-late-join-snapshot-is-a-tail",
        with_broker(SnapshotBroker("tail")),
        ("--rules", "W5"),
        "W5",
        "ws",
        set(),
    ),
    (
        "body-over-1mib-gets-500",
        lambda app: Broken(app, json_body_hook("/projects/", body_limit_500)),
        ("--rules", "E3"),
        "E3",
        "http",
        set(),
    ),
    (
        "body-over-1mib-gets-an-html-413",
        lambda app: Broken(app, body_limit_as_text),
        ("--rules", "E1"),
        "E1",
        "http",
        set(),
    ),
    (
        "legacy-no-cache-control",
        lambda app: Broken(app, legacy_drop_cache_control),
        ("--rules", "S6"),
        "S6",
        "sse",
        set(),
    ),
    (
        "ws-closed-before-connected",
        lambda app: Broken(app, ws_hook(close_instead_of_connected)),
        ("--rules", "W2", "--idle-timeout", "1"),
        "W2",
        "ws",
        {"Q1", "Q6", "W5", "T3"},
    ),
    (
        "ws-silent-before-connected",
        lambda app: Broken(app, ws_hook(say_nothing)),
        ("--rules", "W2", "--idle-timeout", "1"),
        "Q6",
        "ws",
        {"W2", "Q1", "W5", "T3"},
    ),
    (
        "error-body-without-code",
        lambda app: Broken(app, json_body_hook("execute-stage", error_body_without_code)),
        ("--rules", "E1"),
        "E1",
        "http",
        set(),
    ),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "broken_case" in metafunc.fixturenames:
        metafunc.parametrize("broken_case", [b[1:] for b in BREAKS], ids=[b[0] for b in BREAKS])


@pytest.fixture
def kit() -> SimpleNamespace:
    """The broken-server helpers, for tests that build their own."""
    return SimpleNamespace(
        Broken=Broken,
        serve=serve,
        mock_app=mock_app,
        json_body_hook=json_body_hook,
        sse_hook=sse_hook,
        MOCK_FLAGS=MOCK_FLAGS,
    )
