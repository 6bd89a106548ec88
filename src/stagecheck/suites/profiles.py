"""How much each contract profile does: quick (a smoke gate), ci (the default), deep."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # Hypothesis-generated inputs per stage (besides the fixed CJK/emoji/long/short corpus).
    generated_inputs: int
    # Stages the stream suites run on (the first n of the five).
    stages: int
    # Schemathesis: examples per operation and phases. With a budget (`--max-time`), fuzzing
    # and stateful testing repeat until it is spent; without, they stop after the examples.
    st_max_examples: int
    st_phases: tuple[str, ...]
    st_max_time_s: int | None
    # Inputs compared between execute-stage and the legacy endpoint (L2, L4).
    migration_inputs: int
    # Tokens per task when the target honours `Prefer: tokens=` (keeps tasks short).
    tokens: int
    # The whole run's budget (`--max-time` overrides it): checks not reached by then are not run.
    max_time_s: float


# Schemathesis is stopped (and the run fails with exit 2) when it runs longer than this.
ST_HARD_LIMIT_S = 180

PROFILES: dict[str, Profile] = {
    "quick": Profile("quick", 1, 2, 3, ("fuzzing",), None, 2, 6, 60.0),
    "ci": Profile("ci", 3, 5, 10, ("examples", "coverage", "fuzzing", "stateful"), None, 5, 8, 180.0),
    "deep": Profile("deep", 20, 5, 100, ("examples", "coverage", "fuzzing", "stateful"), 300, 30, 16, 600.0),
}

# One check's budget, in multiples of (--request-timeout + --first-event-timeout + --idle-timeout),
# so that a target with slow bounds gets slow budgets: 120 s with the default bounds. Generous on
# purpose (a check that is stopped judges nothing more); the run's max_time_s caps the whole.
CHECK_BUDGET_FACTOR = 4
CHECK_BUDGET_MIN_S = 20.0


def check_budget_s(request_timeout_s: float, first_event_timeout_s: float, idle_timeout_s: float) -> float:
    """How long one check may run before it is stopped and its unjudged rules are "not run"."""
    return max(CHECK_BUDGET_MIN_S, CHECK_BUDGET_FACTOR * (request_timeout_s + first_event_timeout_s + idle_timeout_s))
