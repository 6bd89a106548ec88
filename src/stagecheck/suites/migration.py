"""Migration from rewrite_stream to execute-stage (L1-L4), in the phase the user names."""

from __future__ import annotations

from stagecheck.contracts import http_rules as rules
from stagecheck.contracts.violations import Violation
from stagecheck.results.contract_results import CheckOutcome

from .context import SuiteContext
from .http_checks import check_body_limit
from .inputs import texts_for_profile
from .sse_checks import SSE_STREAM_RULES, expectation, sse_body

# Requests both endpoints must reject alike in compat ("same validation").
LEGACY_BAD: tuple[tuple[str, dict[str, object], dict[str, object]], ...] = (
    (
        "blank original_text",
        {"input_data": {"original_text": "   "}},
        {"stage_name": "rewrite", "input_data": {"original_text": "   "}, "use_streaming": True},
    ),
    ("missing input_data", {}, {"stage_name": "rewrite", "use_streaming": True}),
)


async def check_compat(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """compat: legacy answers like execute-stage (events judged alike), with L1 headers; L4 on the unified endpoint."""
    project = ctx.options.project_ids[0]
    texts = texts_for_profile(ctx.options.profile.migration_inputs, ctx.options.seed, corpus=2)
    prefer = ctx.short_task()
    for text in texts:
        legacy = await ctx.sse(
            ctx.options.legacy_url(project),
            {"input_data": {"original_text": text}},
            expectation(ctx, text),
            headers=prefer,
        )
        ctx.report_stream(outcome, legacy)
        head = legacy.head
        if head is not None and head.status == 200:
            ctx.report(
                outcome,
                rules.check_deprecation_headers(dict(head.headers)),
                "http",
                request=legacy.request,
                events=legacy.events,
                origin=legacy.origin,
                stream=True,
            )
        unified = await ctx.sse(
            ctx.options.execute_url(project),
            sse_body("rewrite", {"original_text": text}),
            expectation(ctx, text),
            headers=prefer,
        )
        ctx.report_stream(outcome, unified)
        # Equivalence: same terminal type (texts are compared by L2 only for deterministic targets).
        a, b = legacy.terminal, unified.terminal
        if a is not None and b is not None and a.get("type") != b.get("type"):
            ctx.report(
                outcome,
                [
                    Violation(
                        "L4",
                        "the legacy endpoint ended otherwise than execute-stage for the same input",
                        f"legacy {a.get('type')}",
                        f"execute-stage {b.get('type')}",
                    )
                ],
                "http",
                request=legacy.request,
                events=legacy.events,
                origin=legacy.origin,
                stream=True,
            )
    for case, legacy_body, unified_body in LEGACY_BAD:
        legacy_x = await ctx.http("POST", ctx.options.legacy_url(project), json=legacy_body)
        unified_x = await ctx.http("POST", ctx.options.execute_url(project), json=unified_body)
        found = rules.check_error_answer(
            "E4", f"legacy endpoint, {case}", legacy_x.status, legacy_x.headers, legacy_x.body, 400, "invalid_request"
        )
        if not found and legacy_x.status != unified_x.status:
            found = [
                Violation(
                    "L4",
                    f"{case}: legacy and execute-stage validate differently",
                    f"legacy {legacy_x.status}",
                    f"execute-stage {unified_x.status}",
                )
            ]
        ctx.report_exchange(outcome, legacy_x, found)
    # Section 1's body limit holds on the legacy endpoint too: 413 with an error body, never 5xx.
    if await check_body_limit(ctx, outcome, ctx.options.legacy_url(project), "legacy endpoint, body over 1 MiB"):
        outcome.exercise("http", "E1", "E3")
    outcome.exercise("http", "L1", "L4", "E4")
    outcome.exercise("sse", *SSE_STREAM_RULES)


async def check_removed(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """removed: 410 naming execute-stage (L3); execute-stage still streams (judged under its own rules)."""
    project = ctx.options.project_ids[0]
    exchange = await ctx.http("POST", ctx.options.legacy_url(project), json={"input_data": {"original_text": "gone?"}})
    ctx.report_exchange(outcome, exchange, rules.check_removed(exchange.status, exchange.headers, exchange.body))
    unified = await ctx.sse(
        ctx.options.execute_url(project),
        sse_body("rewrite", {"original_text": "still here"}),
        expectation(ctx),
        headers=ctx.short_task(),
    )
    ctx.report_stream(outcome, unified)
    outcome.exercise("http", "L3")
    outcome.skip("http", "removed phase: the unified endpoint is judged by every other rule's cell", "L4")
    outcome.exercise("sse", *SSE_STREAM_RULES)
