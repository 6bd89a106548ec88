"""Plain HTTP answers, in process (httpx ASGITransport): E1, E2, E4, T1-T3, L1, L3."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.config import MockConfig as _MockConfig
from stagecheck.mock_server.validation import request_validator

pytestmark = pytest.mark.anyio
EXECUTE = "/api/v1/projects/projects/{}/execute-stage/"
STATUS = "/api/v1/projects/projects/{}/task-status/"
LEGACY = "/api/v1/projects/projects/{}/rewrite_stream/"
MakeClient = Callable[..., httpx.AsyncClient]
FAST = _MockConfig(tokens=6, token_delay_ms=10)


def rewrite_body(text: str = "Hello 世界 😀 stagecheck", streaming: bool = True) -> dict[str, Any]:
    return {"stage_name": "rewrite", "input_data": {"original_text": text}, "use_streaming": streaming}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert request_validator("ErrorBody").is_valid(body), body  # E1
    if code is not None:
        assert body["code"] == code
    return body


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{", "invalid JSON"),
        (b'{"stage_name": "rewrite", "input_data": {"original_text": "x"}} trailing', "trailing garbage"),
        (b'{"stage_name": "rewrite", "input_data": {"original_text": NaN}}', "NaN is not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (json.dumps({"input_data": {}}).encode(), "missing stage_name"),
        (json.dumps({"stage_name": "storyboard"}).encode(), "missing input_data"),
        (json.dumps({"stage_name": None, "input_data": {}}).encode(), "null stage"),
        (json.dumps({"stage_name": "storyboard", "input_data": None}).encode(), "null input_data"),
        (json.dumps({"stage_name": "storyboard", "input_data": []}).encode(), "ill-typed input_data"),
        (json.dumps({"stage_name": "storyboard", "input_data": {}, "use_streaming": None}).encode(), "null flag"),
        (json.dumps({"stage_name": "storyboard", "input_data": {}, "use_streaming": "yes"}).encode(), "string flag"),
        (json.dumps({"stage_name": "painting", "input_data": {}}).encode(), "unknown stage"),
        (json.dumps({"stage_name": "rewrite", "input_data": {}}).encode(), "rewrite without original_text"),
        (json.dumps(rewrite_body(" \t\n ")).encode(), "blank original_text"),
        (json.dumps(rewrite_body("x") | {"input_data": {"original_text": 5}}).encode(), "ill-typed original_text"),
        (b"[]", "not an object"),
    ],
)
async def test_invalid_requests_are_400(asgi_client: MakeClient, content: bytes, why: str) -> None:
    client = asgi_client()
    response = await client.post(EXECUTE.format(1), content=content, headers={"content-type": "application/json"})
    assert_error(response, 400, "invalid_request")


async def test_unknown_top_level_fields_are_ignored(asgi_client: MakeClient) -> None:
    client = asgi_client()
    response = await client.post(EXECUTE.format(1), json={"stage_name": "storyboard", "input_data": {}, "extra": [1]})
    assert response.status_code == 202


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_non_json_content_type_is_415(asgi_client: MakeClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await asgi_client().post(EXECUTE.format(1), content=json.dumps(rewrite_body()), headers=headers)
    assert_error(response, 415)


async def test_json_content_type_with_parameters_is_accepted(asgi_client: MakeClient) -> None:
    response = await asgi_client().post(
        EXECUTE.format(1),
        content=json.dumps(rewrite_body(streaming=False)),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202


@pytest.mark.parametrize("project", ["0", "1001", "999999999", "abc", "-1", "99999999999999999999999"])
async def test_unknown_project_is_404(asgi_client: MakeClient, project: str) -> None:
    client = asgi_client()
    assert_error(await client.post(EXECUTE.format(project), json=rewrite_body()), 404, "not_found")
    assert_error(await client.post(LEGACY.format(project), json={"input_data": {"original_text": "x"}}), 404)
    uuid = "8d0a5e0c-3c1c-4c4e-9a51-2f0f0e6f2b61"
    assert_error(await client.get(STATUS.format(project), params={"task_id": uuid}), 404, "not_found")


async def test_body_over_one_mib_is_413_by_content_length(asgi_client: MakeClient) -> None:
    body = json.dumps(rewrite_body("x" * (1 << 20))).encode()
    response = await asgi_client().post(EXECUTE.format(1), content=body, headers={"content-type": "application/json"})
    assert_error(response, 413)


async def test_body_over_one_mib_is_413_when_streamed_without_length(asgi_client: MakeClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"stage_name": "rewrite", "input_data": {"original_text": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    response = await asgi_client().post(
        EXECUTE.format(1), content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413)


async def test_small_limit_applies(asgi_client: MakeClient) -> None:
    client = asgi_client(MockConfig(max_body_bytes=64))
    assert_error(await client.post(EXECUTE.format(1), json=rewrite_body("x" * 100)), 413)
    assert (
        await client.post(EXECUTE.format(1), json={"stage_name": "storyboard", "input_data": {}})
    ).status_code == 202


async def test_auth_is_required_when_configured(asgi_client: MakeClient) -> None:
    client = asgi_client(MockConfig(auth_token="s3cret", tokens=2, token_delay_ms=0))
    body = rewrite_body(streaming=False)
    assert_error(await client.post(EXECUTE.format(1), json=body), 401, "unauthorized")
    assert_error(await client.post(EXECUTE.format(1), json=body, headers={"Authorization": "Bearer nope"}), 401)
    assert_error(await client.post(EXECUTE.format(1), json=body, headers={"Authorization": "Basic s3cret"}), 401)
    uuid = "8d0a5e0c-3c1c-4c4e-9a51-2f0f0e6f2b61"
    assert_error(await client.get(STATUS.format(1), params={"task_id": uuid}), 401)
    good = {"Authorization": "Bearer s3cret"}
    accepted = await client.post(EXECUTE.format(1), json=body, headers=good)
    assert accepted.status_code == 202
    status = await client.get(STATUS.format(1), params={"task_id": accepted.json()["task_id"]}, headers=good)
    assert status.status_code == 200


async def test_async_mode_answers_202_with_a_task(asgi_client: MakeClient) -> None:
    response = await asgi_client().post(EXECUTE.format(7), json={"stage_name": "camera_movement", "input_data": {}})
    assert response.status_code == 202
    body = response.json()
    assert request_validator("TaskAccepted").is_valid(body), body
    assert body["status"] == "PENDING" and body["stage_name"] == "camera_movement"
    assert body["channel"] == "/ws/projects/7/stage/camera_movement/"


async def _poll(client: httpx.AsyncClient, project: int, task_id: str, until: set[str]) -> list[str]:
    seen: list[str] = []
    for _ in range(300):  # bounded: 300 x 10 ms
        response = await client.get(STATUS.format(project), params={"task_id": task_id})
        assert response.status_code == 200, response.text
        body = response.json()
        assert request_validator("TaskStatus").is_valid(body), body  # T1
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in until:
            return seen
        await asyncio.sleep(0.01)
    raise AssertionError(f"task never reached {until}: {seen}")


async def test_task_status_moves_forward_to_success_with_the_text(asgi_client: MakeClient) -> None:
    client = asgi_client(MockConfig(tokens=5, token_delay_ms=20))
    task_id = (await client.post(EXECUTE.format(3), json=rewrite_body(streaming=False))).json()["task_id"]
    seen = await _poll(client, 3, task_id, {"SUCCESS"})
    order = ["PENDING", "STARTED", "PROGRESS", "SUCCESS"]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)  # T3: only forward
    final = (await client.get(STATUS.format(3), params={"task_id": task_id})).json()
    assert final["result"]["full_text"]
    # The same text the SSE mode produces for the same stage and input (D1).
    sse = await client.post(EXECUTE.format(3), json=rewrite_body(streaming=True))
    done = [line for line in sse.text.splitlines() if line.startswith("data:")][-1]
    assert json.loads(done[5:])["full_text"] == final["result"]["full_text"]


async def test_task_status_reports_failure(asgi_client: MakeClient) -> None:
    client = asgi_client()
    accepted = await client.post(
        EXECUTE.format(3), json=rewrite_body(streaming=False), headers={"Prefer": "scenario=fail-midway"}
    )
    assert accepted.headers["preference-applied"] == "scenario=fail-midway"
    await _poll(client, 3, accepted.json()["task_id"], {"FAILURE"})
    final = (await client.get(STATUS.format(3), params={"task_id": accepted.json()["task_id"]})).json()
    assert final["status"] == "FAILURE" and final["error"]


@pytest.mark.parametrize("query", [{}, {"task_id": ""}, {"task_id": "not-a-uuid"}, {"task_id": "1234"}])
async def test_task_status_rejects_missing_or_malformed_ids(asgi_client: MakeClient, query: dict[str, str]) -> None:
    assert_error(await asgi_client().get(STATUS.format(1), params=query), 400, "invalid_request")


async def test_task_status_is_404_for_unknown_ids_and_other_projects(asgi_client: MakeClient) -> None:
    client = asgi_client()
    never = "8d0a5e0c-3c1c-4c4e-9a51-2f0f0e6f2b61"
    assert_error(await client.get(STATUS.format(1), params={"task_id": never}), 404, "not_found")
    task_id = (await client.post(EXECUTE.format(1), json=rewrite_body(streaming=False))).json()["task_id"]
    assert (await client.get(STATUS.format(1), params={"task_id": task_id})).status_code == 200
    assert_error(await client.get(STATUS.format(2), params={"task_id": task_id}), 404, "not_found")


async def test_ended_tasks_are_evicted_after_retention(asgi_client: MakeClient) -> None:
    client = asgi_client(MockConfig(tokens=1, token_delay_ms=0, terminal_retention_s=0.2))
    task_id = (await client.post(EXECUTE.format(1), json=rewrite_body(streaming=False))).json()["task_id"]
    await _poll(client, 1, task_id, {"SUCCESS"})
    await asyncio.sleep(0.3)
    assert_error(await client.get(STATUS.format(1), params={"task_id": task_id}), 404)
    stats = client.app.state.mock.broker.stats()  # type: ignore[attr-defined]
    assert (stats.running_tasks, stats.retained_tasks) == (0, 0)


async def test_legacy_compat_answers_like_execute_stage_with_deprecation_headers(asgi_client: MakeClient) -> None:
    client = asgi_client()
    legacy = await client.post(LEGACY.format(4), json={"input_data": {"original_text": "旧接口 ✨ text"}})
    assert legacy.status_code == 200
    assert legacy.headers["content-type"].startswith("text/event-stream")
    assert legacy.headers["deprecation"].startswith("@") and legacy.headers["deprecation"][1:].isdigit()  # L1
    assert legacy.headers["link"] == '</api/v1/projects/projects/4/execute-stage/>; rel="successor-version"'
    unified = await client.post(EXECUTE.format(4), json=rewrite_body("旧接口 ✨ text"))
    assert legacy.text == unified.text  # L2: the same events, byte for byte
    assert_error(await client.post(LEGACY.format(4), json={"input_data": {}}), 400, "invalid_request")
    assert_error(await client.post(LEGACY.format(4), content=b"x", headers={"content-type": "text/plain"}), 415)


async def test_legacy_removed_is_410_naming_execute_stage(asgi_client: MakeClient) -> None:
    client = asgi_client(MockConfig(legacy_phase="removed"))
    body = assert_error(await client.post(LEGACY.format(4), json={"input_data": {"original_text": "x"}}), 410)
    assert "execute-stage" in body["error"]  # L3
    assert (await client.post(EXECUTE.format(4), json=rewrite_body(streaming=False))).status_code == 202  # L4


async def test_unknown_paths_and_methods_answer_with_error_bodies(asgi_client: MakeClient) -> None:
    client = asgi_client()
    assert_error(await client.get("/nowhere"), 404, "not_found")
    response = await client.get(EXECUTE.format(1))
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_cors_lets_a_browser_frontend_in(asgi_client: MakeClient) -> None:
    client = asgi_client(MockConfig(cors_origins=("http://localhost:5173",)))
    preflight = await client.options(
        EXECUTE.format(1),
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, prefer, authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
    response = await client.post(EXECUTE.format(1), json=rewrite_body(), headers={"Origin": "http://localhost:5173"})
    assert response.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_default_config_is_fast_enough_for_these_tests() -> None:
    assert FAST.tokens * FAST.token_delay_ms <= 100


async def test_an_unexpected_error_still_answers_with_an_error_body(monkeypatch: pytest.MonkeyPatch) -> None:
    from stagecheck.mock_server import routes
    from stagecheck.mock_server.app import create_app

    def broken(schema_name: str, payload: Any) -> None:
        raise RuntimeError("internal detail 42")

    monkeypatch.setattr(routes, "check_request", broken)
    transport = httpx.ASGITransport(app=create_app(FAST), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        response = await client.post(EXECUTE.format(1), json=rewrite_body())
    body = assert_error(response, 500, "internal_error")  # E1 even then (E3 would report the 500)
    assert "internal detail 42" not in body["error"]


async def test_a_client_that_leaves_mid_body_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback and no 500 when the body never arrives whole (the client went away)."""
    import logging

    from stagecheck.mock_server.app import create_app

    app = create_app(FAST)
    body = json.dumps(rewrite_body()).encode()
    arrivals = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return arrivals.pop(0) if arrivals else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": EXECUTE.format(1),
        "raw_path": EXECUTE.format(1).encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    logger = logging.getLogger("stagecheck.mock")
    logger.addHandler(caplog.handler)
    try:
        await app(scope, receive, send)
    finally:
        logger.removeHandler(caplog.handler)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
