"""Sans-I/O checks of single HTTP exchanges and WebSocket close codes.

Each function takes what arrived (status, headers, body, close code) and returns the
`Violation`s it shows, naming the docs/protocol.md rule. No clock, no sockets: the suites,
the Schemathesis checks and the tests call the same functions.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from .violations import Severity, Violation

TASK_STATUSES = frozenset({"PENDING", "STARTED", "PROGRESS", "SUCCESS", "FAILURE", "REVOKED"})
STATUS_ORDER = {"PENDING": 0, "STARTED": 1, "PROGRESS": 2, "SUCCESS": 3, "FAILURE": 3, "REVOKED": 3}
_DEPRECATION = re.compile(r"^@-?[0-9]+$")
_SUCCESSOR = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?successor-version"?', re.IGNORECASE)

Headers = Mapping[str, str]


def _short(body: bytes | str, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _json(body: bytes | str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _v(rule: str, message: str, received: str, expected: str, severity: Severity = "error") -> Violation:
    return Violation(rule, message, received, expected, severity=severity)


def header(headers: Headers, name: str) -> str | None:
    """Case-insensitive header lookup."""
    name = name.lower()
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def media_type(headers: Headers) -> str:
    return (header(headers, "content-type") or "").split(";")[0].strip().lower()


def check_server_error(status: int, body: bytes | str = b"") -> list[Violation]:
    """E3: no 5xx answer, whatever the input."""
    if status >= 500:
        return [_v("E3", "the server answered with a 5xx status", f"{status} {_short(body, 120)}", "never 5xx")]
    return []


def check_error_body(status: int, headers: Headers, body: bytes | str) -> list[Violation]:
    """E1: a 4xx/5xx answer carries `{"error": str, "code": str, "detail"?}` as JSON."""
    if status < 400:
        return []
    if media_type(headers) != "application/json":
        return [
            _v(
                "E1",
                "error answer is not JSON",
                f"{status} Content-Type: {header(headers, 'content-type') or '(absent)'}",
                'application/json {"error": "...", "code": "..."}',
            )
        ]
    payload = _json(body)
    problem = None
    if not isinstance(payload, dict):
        problem = "body is not a JSON object"
    elif not isinstance(payload.get("error"), str) or not payload["error"]:
        problem = "no non-empty string field error"
    elif not isinstance(payload.get("code"), str) or not payload["code"]:
        problem = "no non-empty string field code"
    if problem:
        return [_v("E1", f"error body malformed: {problem}", f"{status} {_short(body)}", '{"error": str, "code": str}')]
    return []


def check_status(
    rule: str, case: str, status: int, expected: int | tuple[int, ...], body: bytes | str = b""
) -> list[Violation]:
    """`rule` (E4, T2, L3 ...): the answer to `case` has the status the contract names."""
    wanted = (expected,) if isinstance(expected, int) else expected
    if status in wanted:
        return []
    if status >= 500:
        return check_server_error(status, body)
    return [_v(rule, f"{case}: wrong status", f"{status} {_short(body, 160)}", " or ".join(str(s) for s in wanted))]


def check_error_answer(
    rule: str, case: str, status: int, headers: Headers, body: bytes | str, expected: int, code: str | None = None
) -> list[Violation]:
    """A request the contract rejects: the right status (rule), an E1 body, the right machine code."""
    found = check_status(rule, case, status, expected, body)
    if found:
        return found
    found = check_error_body(status, headers, body)
    if found or code is None:
        return found
    payload = _json(body)
    got = payload.get("code") if isinstance(payload, dict) else None
    if got != code:
        return [_v(rule, f"{case}: wrong error code", f"code {got!r}", f"code {code!r}")]
    return []


def check_task_accepted(status: int, headers: Headers, body: bytes | str, stage_name: str) -> list[Violation]:
    """E4: `use_streaming` false gives 202 `{task_id (uuid), channel, stage_name, status: PENDING}`."""
    found = check_status("E4", "execute-stage with use_streaming false", status, 202, body)
    if found:
        return found
    payload = _json(body)
    if not isinstance(payload, dict):
        return [_v("E4", "202 body is not a JSON object", _short(body), "{task_id, channel, stage_name, status}")]
    problems = []
    if not is_uuid(payload.get("task_id")):
        problems.append(f"task_id {payload.get('task_id')!r} is not a UUID")
    if not isinstance(payload.get("channel"), str) or not payload["channel"]:
        problems.append("channel is not a non-empty string")
    if payload.get("stage_name") != stage_name:
        problems.append(f"stage_name {payload.get('stage_name')!r} is not {stage_name!r}")
    if payload.get("status") != "PENDING":
        problems.append(f"status {payload.get('status')!r} is not 'PENDING'")
    if problems:
        return [
            _v(
                "E4",
                "202 body: " + "; ".join(problems),
                _short(body),
                "{task_id: uuid, channel, stage_name, status: PENDING}",
            )
        ]
    return []


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def check_task_status_body(status: int, body: bytes | str, task_id: str | None = None) -> list[Violation]:
    """T1: 200 `{task_id, stage_name, status, result?, error?}` with a known status value."""
    found = check_status("T1", "task-status of an issued task", status, 200, body)
    if found:
        return found
    payload = _json(body)
    if not isinstance(payload, dict):
        return [_v("T1", "task-status body is not a JSON object", _short(body), "{task_id, stage_name, status}")]
    problems = []
    if task_id is not None and payload.get("task_id") != task_id:
        problems.append(f"task_id {payload.get('task_id')!r} is not {task_id!r}")
    if not isinstance(payload.get("stage_name"), str):
        problems.append("stage_name missing")
    if payload.get("status") not in TASK_STATUSES:
        problems.append(f"status {payload.get('status')!r} is not one of {', '.join(sorted(TASK_STATUSES))}")
    if "result" in payload and payload["result"] is not None and not isinstance(payload["result"], dict):
        problems.append("result is not an object")
    if problems:
        return [_v("T1", "task-status body: " + "; ".join(problems), _short(body), "{task_id, stage_name, status}")]
    return []


def check_unknown_task(status: int, headers: Headers, body: bytes | str, case: str) -> list[Violation]:
    """T2: a UUID never issued (or issued for another project) is 404, never PENDING."""
    if status == 200:
        payload = _json(body)
        shown = payload.get("status") if isinstance(payload, dict) else None
        return [_v("T2", f"{case}: answered as if the task existed", f"200 status {shown!r}", "404 (not PENDING)")]
    return check_error_answer("T2", case, status, headers, body, 404)


def check_final_status(
    outcome: str, done_text: str | None, status: int, body: bytes | str, task_id: str
) -> list[Violation]:
    """T3: after `done` the task is SUCCESS with result.full_text == done.full_text; after error FAILURE."""
    found = check_task_status_body(status, body, task_id)
    if found:
        return found
    payload = _json(body)
    assert isinstance(payload, dict)
    got = payload.get("status")
    if outcome == "done":
        if got != "SUCCESS":
            return [_v("T3", "task-status after done is not SUCCESS", f"status {got!r}", "SUCCESS")]
        result = payload.get("result")
        text = result.get("full_text") if isinstance(result, dict) else None
        if text != done_text:
            return [
                _v(
                    "T3",
                    "task-status result differs from done.full_text",
                    f"result.full_text {text!r}",
                    repr(done_text),
                )
            ]
        return []
    if got != "FAILURE":
        return [_v("T3", "task-status after an error event is not FAILURE", f"status {got!r}", "FAILURE")]
    if not isinstance(payload.get("error"), str) or not payload["error"]:
        return [_v("T3", "FAILURE status without an error message", _short(body), "FAILURE with error")]
    return []


def check_status_progression(statuses: list[str]) -> list[Violation]:
    """T3: the statuses seen while polling one task only move forward."""
    for before, after in itertools.pairwise(statuses):
        if STATUS_ORDER.get(after, 0) < STATUS_ORDER.get(before, 0) or (
            STATUS_ORDER.get(before) == 3 and after != before
        ):
            return [
                _v("T3", "task status moved backwards", " -> ".join(statuses), "PENDING -> STARTED -> ... -> final")
            ]
    return []


def check_sse_head(status: int, headers: Headers, body: bytes | str = b"") -> list[Violation]:
    """E4/S6 on an SSE answer's head (the rules core does the same when it streams)."""
    found = check_status("E4", "execute-stage with use_streaming true", status, 200, body)
    if found:
        return found
    if media_type(headers) != "text/event-stream":
        return [
            _v("E4", "streaming answer is not an event stream", media_type(headers) or "(none)", "text/event-stream")
        ]
    found = []
    if "no-cache" not in (header(headers, "cache-control") or "").lower():
        found.append(_v("S6", "SSE answer may be cached", header(headers, "cache-control") or "(absent)", "no-cache"))
    if (header(headers, "x-accel-buffering") or "").lower() != "no":
        found.append(
            _v(
                "S6",
                "SSE answer may be buffered by a proxy",
                header(headers, "x-accel-buffering") or "(absent)",
                "no",
                "warning",
            )
        )
    return found


def check_deprecation_headers(headers: Headers) -> list[Violation]:
    """L1: compat phase: `Deprecation: @<unix-seconds>` and a successor-version Link to execute-stage."""
    found = []
    deprecation = header(headers, "deprecation")
    if deprecation is None or not _DEPRECATION.match(deprecation.strip()):
        found.append(
            _v(
                "L1",
                "legacy answer lacks an RFC 9745 Deprecation header",
                f"Deprecation: {deprecation or '(absent)'}",
                "Deprecation: @<unix-seconds>",
            )
        )
    link = header(headers, "link") or ""
    match = _SUCCESSOR.search(link)
    if match is None or "execute-stage" not in match.group(1):
        found.append(
            _v(
                "L1",
                "legacy answer lacks the successor-version Link",
                f"Link: {link or '(absent)'}",
                'Link: <.../execute-stage/>; rel="successor-version"',
            )
        )
    return found


def check_removed(status: int, headers: Headers, body: bytes | str) -> list[Violation]:
    """L3: removed phase: 410 with an error body naming execute-stage."""
    found = check_error_answer("L3", "legacy endpoint in the removed phase", status, headers, body, 410)
    if found:
        return found
    if "execute-stage" not in _short(body, 10_000):
        return [_v("L3", "410 body does not name execute-stage", _short(body), "an error naming execute-stage")]
    return []


def check_unauthorized(status: int, headers: Headers, body: bytes | str, case: str) -> list[Violation]:
    """E2: without credentials, 401 with an error body."""
    return check_error_answer("E2", case, status, headers, body, 401)


def check_close(
    rule: str, case: str, code: int | None, reason: str, expected: tuple[int, ...], detail: str = ""
) -> list[Violation]:
    """W1 (4404), W4 (1008/1003), E2 (4401): the server closes with the code the contract names and a reason.

    `detail` says what happened instead when no close frame came (a rejected handshake, a timeout).
    """
    if code not in expected:
        shown = (detail or "no close") if code is None else f"close {code} {reason!r}"
        return [
            _v(rule, f"{case}: wrong close", shown, "close " + " or ".join(str(c) for c in expected) + " with a reason")
        ]
    if not reason:
        return [_v(rule, f"{case}: close without a reason", f"close {code} ''", f"close {code} with a reason")]
    return []
