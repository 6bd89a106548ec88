"""Single HTTP exchanges: execute-stage answers (E1-E4) and task-status (T1, T2)."""

from __future__ import annotations

import dataclasses
import uuid

import orjson

from stagecheck.contracts import http_rules as rules
from stagecheck.contracts.violations import Violation
from stagecheck.results.contract_results import CheckOutcome

from .context import Exchange, SuiteContext

# (case, body, expected status, expected machine code) of requests execute-stage rejects (E4).
BAD_BODIES: tuple[tuple[str, object, int, str | None], ...] = (
    ("missing stage_name", {"input_data": {"original_text": "x"}}, 400, "invalid_request"),
    ("missing input_data", {"stage_name": "rewrite"}, 400, "invalid_request"),
    ("null input_data", {"stage_name": "rewrite", "input_data": None}, 400, "invalid_request"),
    ("unknown stage", {"stage_name": "nonsense", "input_data": {"original_text": "x"}}, 400, "invalid_request"),
    ("blank original_text", {"stage_name": "rewrite", "input_data": {"original_text": "  \n"}}, 400, "invalid_request"),
    (
        "ill-typed use_streaming",
        {"stage_name": "rewrite", "input_data": {"original_text": "x"}, "use_streaming": "yes"},
        400,
        "invalid_request",
    ),
)


# Section 1: a body over 1 MiB gets 413 (with an E1 body, never a 5xx). This one is 1 MiB + 1 KiB of JSON.
BODY_LIMIT = 1 << 20
OVERSIZED_TEXT = "x" * (BODY_LIMIT + 1024)


def oversized_body(legacy: bool = False) -> bytes:
    """A valid request, but over 1 MiB: the text alone is 1 KiB over the limit."""
    input_data = {"original_text": OVERSIZED_TEXT}
    body = {"input_data": input_data} if legacy else {"stage_name": "rewrite", "input_data": input_data}
    return orjson.dumps(body)


async def check_body_limit(ctx: SuiteContext, outcome: CheckOutcome, url: str, case: str) -> bool:
    """413 with an error body (E1) to a body over 1 MiB, never 5xx (E3); a wrong status is E4.

    False when the target gave no answer at all (it may close the connection while a body it
    refuses is still being sent): that is not judged.
    """
    body = oversized_body(legacy="rewrite_stream" in url)
    exchange = await ctx.http("POST", url, content=body, headers={"Content-Type": "application/json"})
    if exchange.status == 0:
        return False
    # The report shows what was sent, not the megabyte itself.
    shown = body[:60].decode() + f'..."}}}} ({len(body)} bytes: original_text is {len(OVERSIZED_TEXT)} x "x")'
    exchange.request = dataclasses.replace(exchange.request, body=shown)
    _judge(
        ctx,
        outcome,
        exchange,
        rules.check_error_answer("E4", case, exchange.status, exchange.headers, exchange.body, 413),
    )
    return True


def _judge(ctx: SuiteContext, outcome: CheckOutcome, exchange: Exchange, found: list[Violation]) -> None:
    # E1 applies to every error answer, E3 to every answer, whatever the case expected.
    extra = rules.check_error_body(exchange.status, exchange.headers, exchange.body) if exchange.status >= 400 else []
    seen = {(v.rule, v.message) for v in found}
    found = found + [v for v in extra if (v.rule, v.message) not in seen]
    if exchange.status >= 500 and not any(v.rule == "E3" for v in found):
        found += rules.check_server_error(exchange.status, exchange.body)
    ctx.report_exchange(outcome, exchange, found)


async def check_execute_stage_answers(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """E4's table, case by case, with E1 bodies and no 5xx (E3)."""
    project = ctx.options.project_ids[0]
    url = ctx.options.execute_url(project)
    for case, body, status, code in BAD_BODIES:
        exchange = await ctx.http("POST", url, json=body)
        _judge(
            ctx,
            outcome,
            exchange,
            rules.check_error_answer("E4", case, exchange.status, exchange.headers, exchange.body, status, code),
        )
    exchange = await ctx.http(
        "POST", url, content=b'{"stage_name": "rewrite", "input_data": ', headers={"Content-Type": "application/json"}
    )
    _judge(
        ctx,
        outcome,
        exchange,
        rules.check_error_answer(
            "E4", "invalid JSON", exchange.status, exchange.headers, exchange.body, 400, "invalid_request"
        ),
    )
    await check_body_limit(ctx, outcome, url, "body over 1 MiB")
    exchange = await ctx.http("POST", url, content=b"stage_name=rewrite", headers={"Content-Type": "text/plain"})
    _judge(
        ctx,
        outcome,
        exchange,
        rules.check_error_answer("E4", "content type not JSON", exchange.status, exchange.headers, exchange.body, 415),
    )
    missing = ctx.options.execute_url(ctx.options.missing_project_id)
    exchange = await ctx.http("POST", missing, json={"stage_name": "rewrite", "input_data": {"original_text": "x"}})
    _judge(
        ctx,
        outcome,
        exchange,
        rules.check_error_answer(
            "E4", "unknown project", exchange.status, exchange.headers, exchange.body, 404, "not_found"
        ),
    )
    exchange = await ctx.http(
        "POST",
        url,
        json={"stage_name": "rewrite", "input_data": {"original_text": "accept me"}},
        headers=ctx.short_task(),
    )
    _judge(
        ctx, outcome, exchange, rules.check_task_accepted(exchange.status, exchange.headers, exchange.body, "rewrite")
    )
    outcome.exercise("http", "E1", "E3", "E4")


async def start_task(
    ctx: SuiteContext,
    project: int,
    stage: str = "rewrite",
    text: str = "status me",
    prefer: dict[str, str] | None = None,
) -> Exchange:
    body = {"stage_name": stage, "input_data": {"original_text": text} if stage == "rewrite" else {"prompt": text}}
    return await ctx.http(
        "POST", ctx.options.execute_url(project), json=body, headers=prefer if prefer is not None else ctx.short_task()
    )


async def check_task_status(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """T1 on an issued task; T2: missing id 400, not a UUID 400, never issued 404, other project 404."""
    first, second = ctx.options.project_ids
    accepted = await start_task(ctx, first)
    found = rules.check_task_accepted(accepted.status, accepted.headers, accepted.body, "rewrite")
    _judge(ctx, outcome, accepted, found)
    outcome.exercise("http", "E4")
    payload = accepted.json if not found else None
    status_url = ctx.options.status_url(first)
    if isinstance(payload, dict):
        task_id = str(payload["task_id"])
        exchange = await ctx.http("GET", status_url, params={"task_id": task_id})
        _judge(ctx, outcome, exchange, rules.check_task_status_body(exchange.status, exchange.body, task_id))
        outcome.exercise("http", "T1")
        other = await ctx.http("GET", ctx.options.status_url(second), params={"task_id": task_id})
        _judge(
            ctx,
            outcome,
            other,
            rules.check_unknown_task(other.status, other.headers, other.body, "task id issued for another project"),
        )
    else:
        outcome.skip("http", "no task was started (execute-stage did not answer 202)", "T1")
    exchange = await ctx.http("GET", status_url)
    _judge(
        ctx,
        outcome,
        exchange,
        rules.check_error_answer(
            "T2", "task-status without task_id", exchange.status, exchange.headers, exchange.body, 400
        ),
    )
    exchange = await ctx.http("GET", status_url, params={"task_id": "not-a-uuid"})
    _judge(
        ctx,
        outcome,
        exchange,
        rules.check_error_answer(
            "T2", "task_id that is not a UUID", exchange.status, exchange.headers, exchange.body, 400
        ),
    )
    exchange = await ctx.http("GET", status_url, params={"task_id": str(uuid.uuid4())})
    _judge(
        ctx,
        outcome,
        exchange,
        rules.check_unknown_task(exchange.status, exchange.headers, exchange.body, "UUID never issued"),
    )
    outcome.exercise("http", "T2", "E1", "E3")
