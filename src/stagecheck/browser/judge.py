"""One page stream judged by the rules core, and a mode's streams summed up. No I/O.

Mirrors how `load.stream_runs` judges a stream (which this floor may not import): every
event goes to a `StreamValidator`; a token's time is the event at which the validator
counted it; TTFT runs from the request the page sent (SSE: the streaming POST; WebSocket:
the POST that returned the task_id, as the guide's client lives it) to that first token.
"""

from __future__ import annotations

from dataclasses import dataclass

from stagecheck.contracts.events import StreamClosed
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.results.browser_results import BrowserModeResult
from stagecheck.results.load_results import Mode

from .records import PageStream

EXAMPLES = 3  # violation messages kept per mode


@dataclass(frozen=True, slots=True)
class StreamVerdict:
    events: int
    tokens: int
    terminal: str | None
    ttft_ms: float | None
    violations: tuple[str, ...]  # rule ids, errors
    warnings: tuple[str, ...]
    failure: str | None
    message: str | None  # the first violation's first line, or the failure

    @property
    def held(self) -> bool:
        return self.terminal is not None and not self.violations and self.failure is None


def judge(
    mode: Mode,
    stream: PageStream,
    *,
    project_id: int,
    stage: str,
    input_text: str,
    idle_s: float,
    cross_origin: bool = False,
) -> StreamVerdict:
    """`cross_origin`: the page read the answer through CORS, which hides every header that is
    not safelisted or exposed; S6's SHOULD (`X-Accel-Buffering`) is then not judged, as the
    page cannot see it (Cache-Control, S6's MUST, is safelisted and still judged)."""
    bounds = Bounds(first_event_timeout_s=idle_s, idle_timeout_s=idle_s)
    if stream.failure is not None or (mode == "ws" and stream.head is None):
        # Nothing answered (or the browser refused to show the answer): not the target's stream to judge.
        unread = stream.failure or "the POST got no answer"
        return StreamVerdict(0, 0, None, None, (), (), unread, unread)
    if mode == "ws":
        head = stream.head
        assert head is not None
        if head.status != 202 or stream.task_id is None:
            refusal = f"execute-stage answered {head.status}, expected 202 with a task_id"
            violations = ("E3",) if head.status >= 500 else ()  # the SSE side gets E3 from the core
            return StreamVerdict(0, 0, None, None, violations, (), f"status {head.status}", refusal)
        expect = Expectation(
            transport="ws",
            task_ids=frozenset({stream.task_id}),
            project_id=project_id,
            stage_name=stage,
            task_filter=stream.task_id,
            late_join=True,  # the socket opens after the POST returned: the task may have begun (W5)
            input_text=input_text,
        )
    else:
        expect = Expectation(transport="sse", input_text=input_text)
    validator = StreamValidator(expect, bounds)
    tokens = 0
    first_token_at: float | None = None
    for event in stream.events:
        validator.feed(event)
        if validator.primary.tokens > tokens:
            tokens = validator.primary.tokens
            if first_token_at is None:
                first_token_at = event.at
    end = stream.events[-1].at if stream.events else stream.sent_at
    validator.finish(end)
    errors = [v for v in validator.violations if v.severity == "error"]
    failure: str | None = None  # stream.failure was handled above
    if stream.head is not None and stream.head.status != 200 and mode == "sse":
        failure = f"status {stream.head.status}"
    if failure is None and validator.primary.terminal is None:
        failure = _closed_error(stream) or (None if errors else "no terminal event")
    message = str(errors[0]).splitlines()[0] if errors else failure
    return StreamVerdict(
        events=validator.events,
        tokens=tokens,
        terminal=validator.primary.terminal,
        ttft_ms=None if first_token_at is None else (first_token_at - stream.sent_at) * 1000.0,
        violations=tuple(dict.fromkeys(v.rule for v in errors)),
        warnings=tuple(
            dict.fromkeys(
                v.rule
                for v in validator.violations
                if v.severity == "warning" and not (cross_origin and v.rule == "S6")
            )
        ),
        failure=failure,
        message=message,
    )


def _closed_error(stream: PageStream) -> str | None:
    for event in reversed(stream.events):
        if isinstance(event, StreamClosed):
            return event.error
    return None


def summarise(
    mode: Mode,
    verdicts: list[StreamVerdict],
    *,
    asked: int,
    preference_applied: str | None = None,
    note: str | None = None,
) -> BrowserModeResult:
    violations: dict[str, int] = {}
    warnings: dict[str, int] = {}
    for verdict in verdicts:
        for rule in verdict.violations:
            violations[rule] = violations.get(rule, 0) + 1
        for rule in verdict.warnings:
            warnings[rule] = warnings.get(rule, 0) + 1
    examples = [v.message for v in verdicts if v.violations and v.message][:EXAMPLES]
    return BrowserModeResult(
        mode=mode,
        streams_asked=asked,
        streams_run=len(verdicts),
        streams_held=sum(v.held for v in verdicts),
        events=sum(v.events for v in verdicts),
        tokens=sum(v.tokens for v in verdicts),
        ttft_ms=tuple(round(v.ttft_ms, 3) for v in verdicts if v.ttft_ms is not None),
        violations=violations,
        warnings=warnings,
        failures=tuple(v.failure for v in verdicts if v.failure is not None),
        examples=tuple(examples),
        preference_applied=preference_applied,
        note=note,
    )
