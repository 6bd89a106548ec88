"""Agreement between transports: task-status after the stream (T3), same text everywhere (D1, L2)."""

from __future__ import annotations

import anyio

from stagecheck.contracts import http_rules as rules
from stagecheck.contracts.violations import Violation
from stagecheck.results.contract_results import CheckOutcome

from .context import SuiteContext, TaskTiming
from .sse_checks import expectation, sse_body

# Task-status may lag the stream's terminal event by a moment (another process writes it).
SETTLE_S = 2.0
# T3's progression: task-status is polled about this many times over the measured task length,
# never more often than every POLL_MIN_S (nor less often than POLL_MAX_S).
POLLS_PER_TASK = 4
POLL_MIN_S = 0.005
POLL_MAX_S = 0.1


def poll_interval(timing: TaskTiming | None) -> float:
    """Seconds between task-status polls while a task runs, from the measured task length."""
    if timing is None or timing.duration_s is None:
        return POLL_MAX_S / 2
    return min(POLL_MAX_S, max(POLL_MIN_S, timing.duration_s / POLLS_PER_TASK))


async def final_status(
    ctx: SuiteContext,
    outcome: CheckOutcome,
    project: int,
    task_id: str,
    terminal: dict[str, object],
    seen: list[str] | None = None,
) -> None:
    """T3: task-status agrees with the terminal event; statuses polled on the way (`seen` too) only move forward."""
    kind = str(terminal.get("type"))
    done_text = terminal.get("full_text") if kind == "done" else None
    statuses: list[str] = list(seen or [])
    deadline = ctx.clock() + SETTLE_S
    while True:
        exchange = await ctx.http("GET", ctx.options.status_url(project), params={"task_id": task_id})
        payload = exchange.json
        if isinstance(payload, dict) and isinstance(payload.get("status"), str):
            statuses.append(payload["status"])
        found = rules.check_final_status(
            kind, done_text if isinstance(done_text, str) else None, exchange.status, exchange.body, task_id
        )
        if not found or ctx.clock() >= deadline or (statuses and statuses[-1] in ("SUCCESS", "FAILURE", "REVOKED")):
            break
        await anyio.sleep(0.1)
    ctx.report_exchange(outcome, exchange, found + rules.check_status_progression(statuses))
    outcome.exercise("http", "T3")


async def ws_text(
    ctx: SuiteContext,
    outcome: CheckOutcome,
    project: int,
    stage: str,
    input_data: dict[str, object],
    prefer: dict[str, str],
) -> tuple[str | None, dict[str, object] | None]:
    """Run one task over the WebSocket; (task_id, terminal message)."""
    task = await ctx.follow_task(outcome, project, stage, input_data, prefer)
    return task.task_id, task.terminal


async def check_status_agreement(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """T3 in both modes: after done, SUCCESS with the same full_text; polled while running, only forward.

    The polls while the task runs are timed from a measured run of the same input.
    """
    project = ctx.options.project_ids[0]
    text = "agree on this 一致 ✅"
    input_data: dict[str, object] = {"original_text": text}
    timing = await ctx.task_timing(outcome, project, "rewrite", text)
    interval = poll_interval(timing)
    running: list[str] = []

    async def poll(task_id: str) -> None:
        while True:
            exchange = await ctx.http("GET", ctx.options.status_url(project), params={"task_id": task_id})
            payload = exchange.json
            if isinstance(payload, dict) and isinstance(payload.get("status"), str):
                running.append(payload["status"])
                if payload["status"] in ("SUCCESS", "FAILURE", "REVOKED"):
                    return
            await anyio.sleep(interval)

    task = await ctx.follow_task(outcome, project, "rewrite", input_data, ctx.short_task(), during=poll)
    if task.task_id is not None and task.terminal is not None:
        await final_status(ctx, outcome, project, task.task_id, task.terminal, running)
    if not any(status not in ("SUCCESS", "FAILURE", "REVOKED") for status in running):
        shown = timing.describe() if timing is not None else "the target's task length could not be measured"
        outcome.skip("http", f"{shown}: no task-status poll landed while the task ran", "T3")
    run = await ctx.sse(
        ctx.options.execute_url(project), sse_body("rewrite", input_data), expectation(ctx), headers=ctx.short_task()
    )
    ctx.report_stream(outcome, run)
    terminal = run.terminal
    if terminal is not None and run.task_id is not None:
        await final_status(ctx, outcome, project, run.task_id, terminal)
    elif terminal is not None:
        outcome.skip("http", "SSE events carry no task_id (optional on SSE), so the SSE task cannot be polled", "T3")


async def check_deterministic(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """D1 (and L2 in compat): the same input gives the same text in SSE, WebSocket and legacy modes."""
    project = ctx.options.project_ids[0]
    prefer = ctx.short_task()
    for text in ("同一个输入，同一个输出 🎯", "same input, same output"):
        input_data: dict[str, object] = {"original_text": text}
        run = await ctx.sse(
            ctx.options.execute_url(project), sse_body("rewrite", input_data), expectation(ctx, text), headers=prefer
        )
        ctx.report_stream(outcome, run)
        sse_done = run.terminal
        _, ws_done = await ws_text(ctx, outcome, project, "rewrite", input_data, prefer)
        found: list[Violation] = []
        if sse_done and ws_done and sse_done.get("type") == ws_done.get("type") == "done":
            if sse_done.get("full_text") != ws_done.get("full_text"):
                found.append(
                    Violation(
                        "D1",
                        "SSE and WebSocket modes gave different text for the same input",
                        f"ws {ws_done.get('full_text')!r}",
                        f"sse {sse_done.get('full_text')!r}",
                    )
                )
            outcome.exercise("sse", "D1")
            outcome.exercise("ws", "D1")
        ctx.report(outcome, found, "ws", request=run.request, events=run.events, origin=run.origin, stream=True)
        if ctx.options.legacy_phase == "compat":
            legacy = await ctx.sse(
                ctx.options.legacy_url(project), {"input_data": input_data}, expectation(ctx, text), headers=prefer
            )
            ctx.report_stream(outcome, legacy)
            legacy_done = legacy.terminal
            found = []
            if legacy_done and sse_done and legacy_done.get("type") == sse_done.get("type") == "done":
                if legacy_done.get("full_text") != sse_done.get("full_text"):
                    found.append(
                        Violation(
                            "L2",
                            "the legacy endpoint gave another text than execute-stage",
                            f"legacy {legacy_done.get('full_text')!r}",
                            f"execute-stage {sse_done.get('full_text')!r}",
                        )
                    )
                    found.append(
                        Violation(
                            "D1",
                            "legacy mode gave another text than SSE mode",
                            f"legacy {legacy_done.get('full_text')!r}",
                            f"sse {sse_done.get('full_text')!r}",
                        )
                    )
                outcome.exercise("sse", "L2")
            ctx.report(
                outcome, found, "sse", request=legacy.request, events=legacy.events, origin=legacy.origin, stream=True
            )
