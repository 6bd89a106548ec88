"""What a task emits and when: a list of timed steps, shared by SSE mode and the worker.

Step times are offsets from the task's start, on an absolute schedule (token i is due at
first_delay + i * delay), so pacing does not drift when the server is busy and a
client can measure lateness against it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal, NamedTuple

from .scenarios import Scenario
from .textgen import canonical_input, stage_tokens

StepKind = Literal["token", "done", "error", "stall", "drop"]
ERROR_CODE = "stage_failed"
Plan = tuple["Step", ...]

# Plans are cached by stage, canonical input and scenario: clients (and load tests) send the
# same inputs again and again, and generating a long plan costs more than streaming it
# on a slow machine. Bounded in entries and in what one entry may hold.
_CACHE: OrderedDict[tuple[str, bytes, Scenario], Plan] = OrderedDict()
CACHE_ENTRIES = 128
CACHE_MAX_TOKENS = 2000
CACHE_MAX_INPUT_BYTES = 16 * 1024


class Step(NamedTuple):  # a tuple: plans are built on every request
    kind: StepKind
    due: float  # seconds after the task's start
    text: str = ""  # the token's content, or the error message


def plan_steps(stage_name: str, input_data: Any, scenario: Scenario) -> Plan:
    """The steps of one task: tokens, then its outcome (the same tuple for the same request)."""
    canonical = canonical_input(input_data)
    if scenario.tokens_before_outcome > CACHE_MAX_TOKENS or len(canonical) > CACHE_MAX_INPUT_BYTES:
        return _plan(stage_name, input_data, canonical, scenario)
    key = (stage_name, canonical, scenario)
    plan = _CACHE.get(key)
    if plan is None:
        plan = _CACHE[key] = _plan(stage_name, input_data, canonical, scenario)
        if len(_CACHE) > CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return plan


def _plan(stage_name: str, input_data: Any, canonical: bytes, scenario: Scenario) -> Plan:
    tokens = stage_tokens(stage_name, input_data, scenario.tokens_before_outcome, canonical)
    steps = [Step("token", scenario.first_delay_s + i * scenario.delay_s, text) for i, text in enumerate(tokens)]
    # The outcome comes in the next token slot; `done` right after the last token.
    count = len(tokens)
    outcome_due = scenario.first_delay_s + max(count - (1 if scenario.outcome == "done" else 0), 0) * scenario.delay_s
    label = f" (Prefer: scenario={scenario.name})" if scenario.name else ""
    if scenario.outcome == "error":
        if count == 0:
            message = f"{stage_name} failed before producing any output{label}"
        else:
            message = f"{stage_name} failed after {count} tokens{label}"
        steps.append(Step("error", outcome_due, message))
    elif scenario.outcome == "done":
        steps.append(Step("done", outcome_due))
    else:
        verb = "stalled" if scenario.outcome == "stall" else "dropped the connection"
        steps.append(Step(scenario.outcome, outcome_due, f"{stage_name} task {verb}{label}"))
    return tuple(steps)
