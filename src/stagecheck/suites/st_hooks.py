"""stagecheck's rule checks registered with Schemathesis (loaded through SCHEMATHESIS_HOOKS).

Each check raises AssertionError whose message starts with the docs/protocol.md rule id, so
that the Schemathesis report maps back to the rule matrix. The checks are the same pure
functions (`contracts.http_rules`) the suites use.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from stagecheck.contracts import http_rules as rules
from stagecheck.contracts.violations import Violation

# Task ids this Schemathesis process saw a 202 issue (T2: any other UUID must be 404).
ISSUED: set[str] = set()


def _headers(response: Any) -> dict[str, str]:
    return {name: ", ".join(values) for name, values in response.headers.items()}


def _fail(found: list[Violation]) -> None:
    if found:
        first = found[0]
        raise AssertionError(f"{first.rule}: {first.message}\nReceived: {first.received}\nContract: {first.expected}")


def _operation(case: Any) -> str:
    path = str(case.path)
    if path.endswith("/execute-stage/"):
        return "executeStage"
    if path.endswith("/task-status/"):
        return "getTaskStatus"
    if path.endswith("/rewrite_stream/"):
        return "rewriteStream"
    return path


@schemathesis.check
def stagecheck_e3_no_server_error(ctx: Any, response: Any, case: Any) -> None:
    """E3: no 5xx answer, whatever the input."""
    _fail(rules.check_server_error(response.status_code, response.content))


@schemathesis.check
def stagecheck_e1_error_body(ctx: Any, response: Any, case: Any) -> None:
    """E1: every 4xx/5xx answer is a JSON {error, code} body."""
    _fail(rules.check_error_body(response.status_code, _headers(response), response.content))


@schemathesis.check
def stagecheck_e4_execute_stage(ctx: Any, response: Any, case: Any) -> None:
    """E4: execute-stage answers 202 {task_id, ...} or 200 text/event-stream as the body asks."""
    if _operation(case) != "executeStage" or not isinstance(case.body, dict):
        return
    status = response.status_code
    if status == 202:
        stage = case.body.get("stage_name")
        found = rules.check_task_accepted(status, _headers(response), response.content, str(stage))
        if not found:
            ISSUED.add(str(response.json()["task_id"]))
        _fail(found)
        if case.body.get("use_streaming") is True:
            _fail([Violation("E4", "use_streaming true answered 202", "202", "200 text/event-stream")])
    elif status == 200:
        _fail(rules.check_sse_head(status, _headers(response), response.content)[:1])
        if case.body.get("use_streaming") is not True:
            _fail([Violation("E4", "use_streaming false answered with a stream", "200", "202 {task_id, ...}")])


@schemathesis.check
def stagecheck_t1_t2_task_status(ctx: Any, response: Any, case: Any) -> None:
    """T1: a 200 body is {task_id, stage_name, status}; T2: a bad id is 400, an id never issued 404."""
    if _operation(case) != "getTaskStatus":
        return
    task_id = (case.query or {}).get("task_id")
    status = response.status_code
    if isinstance(task_id, str) and not rules.is_uuid(task_id) and status != 400 and status < 500:
        _fail([Violation("T2", "a task_id that is not a UUID was not rejected", str(status), "400")])
    if status == 200:
        _fail(rules.check_task_status_body(status, response.content))
        if isinstance(task_id, str) and task_id not in ISSUED:
            _fail(rules.check_unknown_task(status, _headers(response), response.content, "UUID never issued"))
