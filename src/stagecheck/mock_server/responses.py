"""Error bodies (E1) and the checks every HTTP route shares: auth, project, body."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .config import MockConfig
from .validation import InvalidJson, parse_json


def error_response(status: int, code: str, message: str, detail: Any = None) -> JSONResponse:
    """`{"error", "code", "detail"?}` (E1)."""
    body: dict[str, Any] = {"error": message, "code": code}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


class Refused(Exception):
    """A request the route answers with an error body; raised by the shared checks."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def token_ok(config: MockConfig, presented: str | None) -> bool:
    if config.auth_token is None:
        return True
    return presented is not None and hmac.compare_digest(presented.encode(), config.auth_token.encode())


def check_auth(request: Request, config: MockConfig) -> None:
    """E2: `Authorization: Bearer <token>` when the server has one."""
    if config.auth_token is None:
        return
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_ok(config, credentials.strip()):
        raise Refused(error_response(401, "unauthorized", "missing or invalid bearer token"))


def parse_project(raw: str, config: MockConfig) -> int | None:
    """The project id when it names a project this server has, else None."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        return None
    project_id = int(raw)
    return project_id if project_id in config.projects else None


def project_or_404(request: Request, config: MockConfig) -> int:
    raw = request.path_params["project_id"]
    project_id = parse_project(raw, config)
    if project_id is None:
        raise Refused(error_response(404, "not_found", f"project {raw!r} does not exist"))
    return project_id


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def json_body(request: Request, config: MockConfig) -> Any:
    """The parsed JSON body: 415 when not JSON, 413 when too large, 400 when unreadable."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        raise Refused(
            error_response(
                415,
                "unsupported_media_type",
                f"the body must be application/json, got {content_type or 'no content type'}",
            )
        )
    limit = config.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(_too_large(limit))
    chunks: list[bytes] = []
    size = 0
    # Count what actually arrives too: a chunked body has no Content-Length.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(_too_large(limit))
        chunks.append(chunk)
    try:
        return parse_json(b"".join(chunks))
    except InvalidJson as exc:
        raise Refused(error_response(400, "invalid_request", str(exc))) from exc


def _too_large(limit: int) -> JSONResponse:
    return error_response(413, "payload_too_large", f"the body is larger than {limit} bytes")
