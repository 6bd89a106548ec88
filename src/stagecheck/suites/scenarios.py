"""Error paths on demand (`Prefer: scenario=fail-start|fail-midway`): error terminal, then FAILURE (T3)."""

from __future__ import annotations

from stagecheck.contracts.violations import Violation
from stagecheck.results.contract_results import CheckOutcome

from .agreement import final_status, ws_text
from .context import SuiteContext
from .sse_checks import SSE_STREAM_RULES, expectation, sse_body

SCENARIOS = ("fail-start", "fail-midway")


def _expect_error(terminal: dict[str, object] | None, scenario: str, mode: str) -> list[Violation]:
    if terminal is None:
        return []  # an incomplete stream is already reported (S4/Q1)
    if terminal.get("type") != "error":
        return [
            Violation(
                "Q1",
                f"{scenario} in {mode} mode did not end with an error event",
                f"{terminal.get('type')} terminal",
                "an error terminal event",
            )
        ]
    return []


async def check_error_paths(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    project = ctx.options.project_ids[0]
    for scenario in SCENARIOS:
        prefer = ctx.prefer(scenario=scenario, tokens=ctx.options.profile.tokens)
        input_data: dict[str, object] = {"original_text": f"please {scenario} 失败"}
        run = await ctx.sse(
            ctx.options.execute_url(project), sse_body("rewrite", input_data), expectation(ctx), headers=prefer
        )
        ctx.report_stream(outcome, run)
        ctx.report(
            outcome,
            _expect_error(run.terminal, scenario, "SSE"),
            "sse",
            request=run.request,
            events=run.events,
            origin=run.origin,
            stream=True,
        )
        if run.terminal is not None and run.task_id is not None:
            await final_status(ctx, outcome, project, run.task_id, run.terminal)
        task_id, terminal = await ws_text(ctx, outcome, project, "rewrite", input_data, prefer)
        if task_id is not None:
            ctx.report(outcome, _expect_error(terminal, scenario, "WebSocket"), "ws")
            if terminal is not None:
                await final_status(ctx, outcome, project, task_id, terminal)
        if ctx.options.legacy_phase == "compat":
            legacy = await ctx.sse(
                ctx.options.legacy_url(project), {"input_data": input_data}, expectation(ctx), headers=prefer
            )
            ctx.report_stream(outcome, legacy)
            ctx.report(
                outcome,
                _expect_error(legacy.terminal, scenario, "legacy"),
                "sse",
                request=legacy.request,
                events=legacy.events,
                origin=legacy.origin,
                stream=True,
            )
    outcome.exercise("sse", "Q1", *SSE_STREAM_RULES)
    outcome.exercise("ws", "Q1", "M1")
    outcome.exercise("http", "T3")
