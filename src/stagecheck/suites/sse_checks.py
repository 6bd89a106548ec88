"""SSE streams: every stage, generated inputs, each stream judged by the rules core."""

from __future__ import annotations

from stagecheck.contracts.stream_rules import Expectation
from stagecheck.results.contract_results import CheckOutcome

from .context import StreamRun, SuiteContext
from .inputs import stage_inputs, texts_for_profile
from .options import STAGES

SSE_STREAM_RULES = ("S1", "S2", "S3", "S4", "S6", "M1", "Q1", "Q2", "Q3", "Q4", "Q6")
# S5: the producer's pacing (ms between tokens) and how many tokens, on scenario-capable targets.
FLUSH_DELAY_MS = 80
FLUSH_TOKENS = 6


def sse_body(stage: str, input_data: dict[str, object]) -> dict[str, object]:
    return {"stage_name": stage, "input_data": input_data, "use_streaming": True}


def expectation(ctx: SuiteContext, input_text: str = "", token_interval_s: float | None = None) -> Expectation:
    return Expectation(
        "sse", input_text=input_text, token_interval_s=token_interval_s, allowed_types=ctx.options.allowed_types
    )


async def one_stream(
    ctx: SuiteContext, outcome: CheckOutcome, project: int, stage: str, input_data: dict[str, object], text: str
) -> StreamRun:
    """POST one streaming execute-stage, judge it, record what is wrong."""
    run = await ctx.sse(
        ctx.options.execute_url(project), sse_body(stage, input_data), expectation(ctx, text), headers=ctx.short_task()
    )
    ctx.report_stream(outcome, run)
    outcome.exercise("sse", *SSE_STREAM_RULES)
    outcome.exercise("http", "E3", "E4")
    return run


async def check_sse_stages(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """Every stage (of the profile), the corpus and Hypothesis texts, on the first project."""
    profile = ctx.options.profile
    texts = texts_for_profile(profile.generated_inputs, ctx.options.seed)
    project = ctx.options.project_ids[0]
    for number, stage in enumerate(STAGES[: profile.stages]):
        # rewrite gets every text; the other stages a few, so the run stays short.
        chosen = texts if number == 0 else texts[number % len(texts) :][:2]
        for text, input_data in zip(chosen, stage_inputs(stage, chosen), strict=True):
            await one_stream(ctx, outcome, project, stage, input_data, text)


async def check_sse_flushing(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """S5 on a real socket: with tokens paced by the producer, events arrive spread out."""
    interval = FLUSH_DELAY_MS / 1000
    body = sse_body("rewrite", {"original_text": "flush me, 逐个发送 🚀"})
    run = await ctx.sse(
        ctx.options.execute_url(ctx.options.project_ids[0]),
        body,
        expectation(ctx, "flush me, 逐个发送 🚀", token_interval_s=interval),
        headers=ctx.prefer(tokens=FLUSH_TOKENS, delay_ms=FLUSH_DELAY_MS),
    )
    ctx.report_stream(outcome, run)
    outcome.exercise("sse", "S5")
