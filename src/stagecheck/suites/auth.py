"""Auth (E2): without credentials, 401 with an error body, and WebSocket close 4401."""

from __future__ import annotations

from stagecheck.contracts import http_rules as rules
from stagecheck.contracts.events import StreamClosed
from stagecheck.results.contract_results import CheckOutcome

from .context import SuiteContext, close_detail


async def check_auth(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    project = ctx.options.project_ids[0]
    body = {"stage_name": "rewrite", "input_data": {"original_text": "who am I"}}
    for case, url, method, payload in (
        ("execute-stage without credentials", ctx.options.execute_url(project), "POST", body),
        (
            "streaming execute-stage without credentials",
            ctx.options.execute_url(project),
            "POST",
            {**body, "use_streaming": True},
        ),
        (
            "task-status without credentials",
            ctx.options.status_url(project) + "?task_id=00000000-0000-4000-8000-000000000000",
            "GET",
            None,
        ),
    ):
        exchange = await ctx.http(method, url, json=payload, with_auth=False)
        ctx.report_exchange(
            outcome, exchange, rules.check_unauthorized(exchange.status, exchange.headers, exchange.body, case)
        )
    wrong = await ctx.http(
        "POST",
        ctx.options.execute_url(project),
        json=body,
        with_auth=False,
        headers={"Authorization": "Bearer wrong-token-by-stagecheck"},
    )
    ctx.report_exchange(
        outcome,
        wrong,
        rules.check_unauthorized(wrong.status, wrong.headers, wrong.body, "execute-stage with a wrong token"),
    )
    url = ctx.options.socket_url(project, "rewrite", with_token=False)
    async with ctx.subscribe(url) as sub:
        run = ctx.socket_run(url, ctx.ws_expectation(project, "rewrite"))
        await ctx.read(sub, run, until=lambda e: isinstance(e, StreamClosed), idle_timeout_s=5, total_s=10)
    closed = run.closed
    code = None if closed is None or closed.by_client else closed.code
    ctx.report_socket(
        outcome,
        run,
        rules.check_close(
            "E2", "socket without ?token=", code, closed.reason if closed else "", (4401,), close_detail(closed)
        ),
    )
    outcome.exercise("http", "E2", "E1")
    outcome.exercise("ws", "E2")
