"""The HTTP side: execute-stage (both modes), task-status and the legacy rewrite_stream.

Plain async Django views under ASGI. SSE mode is a StreamingHttpResponse over an *async*
iterator (Django sends each chunk as it is yielded; a sync iterator would be consumed whole
first, see breaks.py `sync-iterator`). Async mode issues a Celery task and answers 202.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from celery.result import AsyncResult
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from . import state
from .model import FIRST_TOKEN_S, TOKEN_GAP_S, parse_prefer, plan

STAGES = ("rewrite", "storyboard", "image_generation", "camera_movement", "video_generation")
PROJECTS = range(1, 1001)  # projects 1..1000 exist
MAX_BODY = 1024 * 1024
UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DEPRECATED_SINCE = 1_735_689_600  # 2025-01-01: the legacy endpoint's RFC 9745 Deprecation date
KNOWN_STATES = ("PENDING", "STARTED", "PROGRESS", "SUCCESS", "FAILURE", "REVOKED")


class Refused(Exception):
    """An error answer: status, machine code, human message (E1: every error body is {error, code})."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def answer(self) -> JsonResponse:
        response = JsonResponse({"error": self.message, "code": self.code}, status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def dumps(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def project_of(raw: str) -> int:
    if raw.isascii() and raw.isdigit() and int(raw) in PROJECTS:
        return int(raw)
    raise Refused(404, "not_found", f"unknown project {raw[:40]}")


def allow(request: HttpRequest, method: str) -> None:
    if request.method != method:
        raise Refused(405, "method_not_allowed", f"{request.method} is not allowed here", {"Allow": method})


def json_body(request: HttpRequest) -> Any:
    try:
        body = request.body  # Django refuses a Content-Length over DATA_UPLOAD_MAX_MEMORY_SIZE
    except RequestDataTooBig as exc:
        raise Refused(413, "payload_too_large", "the body is over 1 MiB") from exc
    if len(body) > MAX_BODY:  # a chunked body has no Content-Length to refuse early
        raise Refused(413, "payload_too_large", "the body is over 1 MiB")
    media = (request.content_type or "").lower()
    if media != "application/json" and not media.endswith("+json"):
        raise Refused(415, "unsupported_media_type", f"send application/json, not {media or 'no content type'}")
    try:
        payload = json.loads(body.decode("utf-8"))
        dumps(payload).encode("utf-8")  # lone surrogates could not be sent back
    except (ValueError, UnicodeError) as exc:
        raise Refused(400, "invalid_request", f"the body is not valid JSON: {exc}") from exc
    return payload


def check_input(input_data: object, stage: str) -> dict[str, Any]:
    if not isinstance(input_data, dict):
        raise Refused(400, "invalid_request", "input_data must be an object")
    text = input_data.get("original_text")
    if "original_text" in input_data and (not isinstance(text, str) or not re.search(r"\S", text)):
        raise Refused(400, "invalid_request", "input_data.original_text must be a non-blank string")
    if stage == "rewrite" and "original_text" not in input_data:
        raise Refused(400, "invalid_request", "rewrite needs input_data.original_text")
    return input_data


def validate_execute(payload: Any) -> tuple[str, dict[str, Any], bool]:
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
    return str(stage), check_input(payload["input_data"], str(stage)), streaming


def scenario_of(request: HttpRequest) -> str | None:
    return parse_prefer(request.headers.get("Prefer", ""))


# -- SSE mode --------------------------------------------------------------------------------------


def sse_block(number: int, message: dict[str, Any]) -> bytes:
    return f"id: {number}\nevent: {message['type']}\ndata: {dumps(message)}\n\n".encode()


def terminal_of(full_text: str, failure: str | None, scenario: str | None) -> dict[str, Any]:
    if failure is None:
        return {"type": "done", "full_text": full_text}
    return {"type": "error", "error": failure, "code": scenario or "failed"}


async def sse_events(stage: str, input_data: dict[str, Any], scenario: str | None) -> AsyncIterator[bytes]:
    """The task, run in the web process: each event yielded (so sent) as it is produced."""
    pieces, failure = plan(stage, input_data, scenario)
    yield b": stream open\n\n"
    await asyncio.sleep(FIRST_TOKEN_S)
    full_text = ""
    for number, piece in enumerate(pieces, start=1):
        if number > 1:
            await asyncio.sleep(TOKEN_GAP_S)
        full_text += piece
        yield sse_block(number, {"type": "token", "content": piece, "full_text": full_text})
    yield sse_block(len(pieces) + 1, terminal_of(full_text, failure, scenario))


def sse_events_sync(stage: str, input_data: dict[str, Any], scenario: str | None) -> Iterator[bytes]:
    """breaks.py `sync-iterator`: the WSGI-era generator. Under ASGI Django buffers it whole."""
    pieces, failure = plan(stage, input_data, scenario)
    yield b": stream open\n\n"
    time.sleep(FIRST_TOKEN_S)
    full_text = ""
    for number, piece in enumerate(pieces, start=1):
        if number > 1:
            time.sleep(TOKEN_GAP_S)
        full_text += piece
        yield sse_block(number, {"type": "token", "content": piece, "full_text": full_text})
    yield sse_block(len(pieces) + 1, terminal_of(full_text, failure, scenario))


def sse_answer(stage: str, input_data: dict[str, Any], scenario: str | None) -> StreamingHttpResponse:
    if "sync-iterator" in settings.BREAKS:
        events: Any = sse_events_sync(stage, input_data, scenario)
    else:
        events = sse_events(stage, input_data, scenario)
    response = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    if "no-cache-header" not in settings.BREAKS:
        response["Cache-Control"] = "no-cache"  # S6 (MUST)
    response["X-Accel-Buffering"] = "no"  # S6 (SHOULD): nginx must not buffer the stream
    if scenario is not None:
        response["Preference-Applied"] = f"scenario={scenario}"
    return response


# -- the views -------------------------------------------------------------------------------------


def refusing(view: Any) -> Any:
    async def wrapped(request: HttpRequest, project_id: str) -> HttpResponse:
        try:
            return await view(request, project_id)
        except Refused as refused:
            return refused.answer()

    wrapped.__name__ = view.__name__
    return wrapped


@refusing
async def execute_stage(request: HttpRequest, project_id: str) -> HttpResponse:
    allow(request, "POST")
    project = project_of(project_id)
    stage, input_data, streaming = validate_execute(json_body(request))
    scenario = scenario_of(request)
    if streaming:
        return sse_answer(stage, input_data, scenario)
    from .tasks import run_stage

    task_id = str(uuid.uuid4())
    await state.issue(task_id, project, stage)  # before the task exists: task-status knows it at once
    await sync_to_async(run_stage.apply_async, thread_sensitive=False)(
        args=(project, stage, input_data, scenario), task_id=task_id
    )
    body = {
        "task_id": task_id,
        "channel": f"/ws/projects/{project}/stage/{stage}/",
        "stage_name": stage,
        "status": "PENDING",
    }
    response = JsonResponse(body, status=202)
    if scenario is not None:
        response["Preference-Applied"] = f"scenario={scenario}"
    return response


def read_result(task_id: str) -> tuple[str, Any]:
    result = AsyncResult(task_id)
    return result.state, result.info


@refusing
async def task_status(request: HttpRequest, project_id: str) -> HttpResponse:
    allow(request, "GET")
    project = project_of(project_id)
    task_id = request.GET.get("task_id", "")
    if not task_id:
        raise Refused(400, "invalid_request", "task_id is required")
    if not UUID_TEXT.match(task_id):
        raise Refused(400, "invalid_request", "task_id must be a UUID")
    task_id = task_id.lower()
    record = await state.issued(task_id)
    if "pending-unknown" in settings.BREAKS:
        record = record or {"project_id": project, "stage_name": "rewrite"}  # trusts AsyncResult alone
    if record is None or record["project_id"] != project:
        raise Refused(404, "not_found", f"no task {task_id} in project {project}")
    status, info = await sync_to_async(read_result, thread_sensitive=False)(task_id)
    body: dict[str, Any] = {"task_id": task_id, "stage_name": record["stage_name"], "status": status}
    if status not in KNOWN_STATES:  # RETRY and custom states: the task is running
        body["status"] = "STARTED"
    if status == "SUCCESS" and isinstance(info, dict):
        body["result"] = {"full_text": str(info.get("full_text", ""))}
    elif status == "FAILURE":
        body["error"] = str(info) or "the task failed"
    return JsonResponse(body)


@refusing
async def rewrite_stream(request: HttpRequest, project_id: str) -> HttpResponse:
    allow(request, "POST")
    project_of(project_id)
    if settings.LEGACY_PHASE == "removed":
        raise Refused(
            410,
            "gone",
            "rewrite_stream was removed: POST execute-stage/ with stage_name rewrite and use_streaming true",
        )
    payload = json_body(request)
    if not isinstance(payload, dict) or "input_data" not in payload:
        raise Refused(400, "invalid_request", "input_data is required")
    input_data = check_input(payload["input_data"], "rewrite")
    response = sse_answer("rewrite", input_data, scenario_of(request))
    response["Deprecation"] = f"@{DEPRECATED_SINCE}"  # RFC 9745
    response["Link"] = f'<{request.path.replace("rewrite_stream", "execute-stage")}>; rel="successor-version"'
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return Refused(404, "not_found", "no such endpoint").answer()


def server_error(request: HttpRequest) -> HttpResponse:
    return Refused(500, "internal_error", "the server failed").answer()
