"""The HTTP routes: execute-stage (both modes), task-status, the legacy rewrite_stream."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .plan import plan_steps
from .responses import Refused, check_auth, error_response, json_body, project_or_404
from .scenarios import scenario_for
from .sse import SseStream
from .state import MockState
from .validation import check_request

EXECUTE_STAGE_PATH = "/api/v1/projects/projects/{project_id}/execute-stage/"
TASK_STATUS_PATH = "/api/v1/projects/projects/{project_id}/task-status/"
LEGACY_PATH = "/api/v1/projects/projects/{project_id}/rewrite_stream/"
SOCKET_PATH = "/ws/projects/{project_id}/stage/{stage_name}/"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def _state(request: Request) -> MockState:
    state: MockState = request.app.state.mock
    return state


async def _validated(request: Request, state: MockState, schema_name: str) -> tuple[int, dict[str, Any]]:
    check_auth(request, state.config)
    project_id = project_or_404(request, state.config)
    payload = await json_body(request, state.config)
    problem = check_request(schema_name, payload)
    if problem is not None:
        raise Refused(
            error_response(400, "invalid_request", f"{problem.message} (at {problem.path})", {"path": problem.path})
        )
    return project_id, payload


async def _start(
    request: Request,
    state: MockState,
    project_id: int,
    stage_name: str,
    input_data: Any,
    streaming: bool,
    headers: dict[str, str],
) -> Response:
    scenario = scenario_for(request.headers.getlist("prefer"), state.config)
    if scenario.preference_applied:
        headers["Preference-Applied"] = scenario.preference_applied
    steps = plan_steps(stage_name, input_data, scenario)
    if streaming:
        return SseStream(state, steps, headers)  # type: ignore[return-value]  # an ASGI app, as Response is
    record = await state.broker.create_task(project_id, stage_name)
    # The plan's inputs too: the Celery executor plans the same steps in its worker (D1).
    state.worker.submit(record.task_id, steps, stage_name=stage_name, input_data=input_data, scenario=scenario)
    body = {
        "task_id": record.task_id,
        "channel": SOCKET_PATH.format(project_id=project_id, stage_name=stage_name),
        "stage_name": stage_name,
        "status": "PENDING",
    }
    return JSONResponse(body, status_code=202, headers=headers)


async def execute_stage(request: Request) -> Response:
    state = _state(request)
    try:
        project_id, payload = await _validated(request, state, "ExecuteStageRequest")
    except Refused as refused:
        return refused.response
    streaming = payload.get("use_streaming", False)
    return await _start(request, state, project_id, payload["stage_name"], payload["input_data"], streaming, {})


async def rewrite_stream(request: Request) -> Response:
    state = _state(request)
    raw_project = request.path_params["project_id"]
    # Only digits go into headers and bodies: a path segment may hold anything.
    successor = EXECUTE_STAGE_PATH.format(project_id=raw_project if raw_project.isdigit() else "{project_id}")
    if state.config.legacy_phase == "removed":
        # L3: the endpoint is gone whoever asks; the body names its successor.
        return error_response(
            410, "gone", f"rewrite_stream was removed: use POST {successor}", {"successor": successor}
        )
    try:
        project_id, payload = await _validated(request, state, "LegacyRewriteRequest")
    except Refused as refused:
        return refused.response
    headers = {
        "Deprecation": f"@{state.config.deprecated_since}",
        "Link": f'<{successor}>; rel="successor-version"',
    }
    return await _start(request, state, project_id, "rewrite", payload["input_data"], True, headers)


async def task_status(request: Request) -> Response:
    state = _state(request)
    try:
        check_auth(request, state.config)
        project_id = project_or_404(request, state.config)
    except Refused as refused:
        return refused.response
    task_id = request.query_params.get("task_id")
    if not task_id:
        return error_response(400, "invalid_request", "the task_id query parameter is required")
    if not _UUID.match(task_id):
        return error_response(400, "invalid_request", f"task_id {task_id[:80]!r} is not a UUID")
    record = await state.broker.task(task_id.lower())
    # T2: an id never issued, or issued for another project, is 404 (never PENDING).
    if record is None or record.project_id != project_id:
        return error_response(404, "not_found", f"no task {task_id} in project {project_id}")
    return JSONResponse(record.status_body())
