"""SSE streams: every stage, generated inputs, each stream judged by the rules core."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from stagecheck.contracts.events import SseEvent
from stagecheck.contracts.stream_rules import Expectation, StreamValidator
from stagecheck.contracts.violations import Violation
from stagecheck.results.contract_results import CheckOutcome

from .context import SocketTask, StreamRun, SuiteContext, confirms
from .inputs import stage_inputs, texts_for_profile
from .options import STAGES

SSE_STREAM_RULES = ("S1", "S2", "S3", "S4", "S6", "M1", "Q1", "Q2", "Q3", "Q4", "Q6")
# S5: the pacing asked of the mock (its own `Prefer: tokens=, delay-ms=` extensions, no part of
# the contract). Judged against that pacing only when `Preference-Applied` confirms both.
FLUSH_DELAY_MS = 80
FLUSH_TOKENS = 6
FLUSH_TEXT = "flush me, 逐个发送 🚀"

# S5 on a target whose pacing is unknown: the same input in async mode is the witness, since the
# WebSocket publishes each token as it is produced. Spans run from a task's first token to its
# terminal event.
# Fewer tokens than this on either transport: too short to judge.
FLUSH_MIN_TOKENS = 3
# A witness span below this (seconds): the producer does not pace its tokens visibly, so a burst
# on SSE proves nothing.
FLUSH_PACED_SPAN_S = 0.030
# SSE spread over less than this share of the witness' span: the events came in one burst (buffered).
FLUSH_BURST_RATIO = 0.25


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


@dataclass(frozen=True)
class Arrivals:
    """When one task's tokens and terminal event arrived on one transport."""

    tokens: tuple[float, ...]
    terminal: float | None

    @property
    def span_s(self) -> float:
        if not self.tokens:
            return 0.0
        return (self.terminal if self.terminal is not None else self.tokens[-1]) - self.tokens[0]


@dataclass(frozen=True)
class FlushVerdict:
    """S5 judged with a witness: `violation` (received, expected), or passed, or not run (`skip`)."""

    violation: Violation | None = None
    skip: str | None = None


def sse_arrivals(run: StreamRun) -> Arrivals:
    tokens: list[float] = []
    terminal = None
    for event in run.events:
        if not isinstance(event, SseEvent) or terminal is not None:
            continue
        try:
            kind = orjson.loads(event.data).get("type")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if kind == "token":
            tokens.append(event.at)
        elif kind in ("done", "error"):
            terminal = event.at
    return Arrivals(tuple(tokens), terminal)


def ws_arrivals(task: SocketTask) -> Arrivals:
    tokens, terminal = task.arrivals()
    return Arrivals(tuple(tokens), terminal)


def judge_flushing(sse: Arrivals, ws: Arrivals) -> FlushVerdict:
    """S5 without knowing the producer's pacing: SSE must spread like the same input's WebSocket tokens."""
    if len(sse.tokens) < FLUSH_MIN_TOKENS or len(ws.tokens) < FLUSH_MIN_TOKENS:
        return FlushVerdict(
            skip=f"too short to judge: {len(sse.tokens)} SSE and {len(ws.tokens)} WebSocket tokens "
            f"(S5 needs at least {FLUSH_MIN_TOKENS} on each)"
        )
    sse_ms, ws_ms = sse.span_s * 1000, ws.span_s * 1000
    if ws.span_s < FLUSH_PACED_SPAN_S:
        if sse.span_s >= FLUSH_PACED_SPAN_S:
            return FlushVerdict()  # SSE events spread out: flushed, whatever the witness saw
        return FlushVerdict(
            skip=f"the target does not pace its tokens: the same input's {len(ws.tokens)} WebSocket tokens "
            f"came within {ws_ms:.0f} ms and its SSE events within {sse_ms:.0f} ms "
            f"(S5 needs a producer that takes {FLUSH_PACED_SPAN_S * 1000:.0f} ms or more)"
        )
    if sse.span_s < FLUSH_BURST_RATIO * ws.span_s:
        return FlushVerdict(
            Violation(
                "S5",
                "SSE events arrived in one burst while the same input's WebSocket tokens came as produced: "
                "the SSE answer was buffered",
                f"{len(sse.tokens)} tokens and the terminal event within {sse_ms:.1f} ms",
                f"spread like the WebSocket's {len(ws.tokens)} tokens over {ws_ms:.0f} ms "
                f"(at least {FLUSH_BURST_RATIO:.0%} of it), each event flushed as produced",
                at=sse.tokens[-1],
            )
        )
    return FlushVerdict()


async def check_sse_flushing(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """S5 on a real socket: events arrive as the producer makes them, not in one burst at the end.

    When the target confirms the mock's pacing (`Preference-Applied: tokens=6, delay-ms=80`) the
    arrivals are held to that pacing. Otherwise the same input run in async mode is the witness.
    """
    project = ctx.options.project_ids[0]
    prefer = ctx.prefer(tokens=FLUSH_TOKENS, delay_ms=FLUSH_DELAY_MS)
    input_data: dict[str, object] = {"original_text": FLUSH_TEXT}
    run = await ctx.sse(
        ctx.options.execute_url(project), sse_body("rewrite", input_data), expectation(ctx, FLUSH_TEXT), headers=prefer
    )
    ctx.report_stream(outcome, run)
    if run.terminal is None:
        outcome.skip("sse", "the stream did not reach its terminal event (reported under its rule)", "S5")
        return
    if ctx.options.scenarios and confirms(run.head, tokens=FLUSH_TOKENS, delay_ms=FLUSH_DELAY_MS):
        paced = StreamValidator(
            expectation(ctx, FLUSH_TEXT, token_interval_s=FLUSH_DELAY_MS / 1000), ctx.bounds(), run.validator.schemas
        )
        for event in run.events:
            paced.feed(event)
        paced.finish(max((e.at for e in run.events), default=run.origin))
        found = [v for v in paced.violations if v.rule == "S5"]
        ctx.report(outcome, found, "sse", request=run.request, events=run.events, origin=run.origin, stream=True)
        outcome.exercise("sse", "S5")
        return
    witness = await ctx.follow_task(outcome, project, "rewrite", input_data, prefer)
    if witness.terminal is None:
        outcome.skip("sse", "the same input in async mode did not reach its terminal event: no witness", "S5")
        return
    verdict = judge_flushing(sse_arrivals(run), ws_arrivals(witness))
    if verdict.skip is not None:
        outcome.skip("sse", verdict.skip, "S5")
        return
    if verdict.violation is not None:
        ctx.report(
            outcome, [verdict.violation], "sse", request=run.request, events=run.events, origin=run.origin, stream=True
        )
    outcome.exercise("sse", "S5")
