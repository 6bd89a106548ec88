"""Per-request scenario control through the `Prefer` header (RFC 7240, as Prism does it).

`Prefer: scenario=fail-midway, tokens=40, delay-ms=25, first-delay-ms=300` picks how
one task behaves. Unknown names, unknown parameters and values out of range are
ignored, as RFC 7240 asks; the preferences honoured are echoed in `Preference-Applied`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .config import MockConfig

Outcome = Literal["done", "error", "stall", "drop"]

# Scenario name -> (outcome, where the outcome happens: "start" before any token or "midway").
SCENARIOS: dict[str, tuple[Outcome, str]] = {
    "fail-start": ("error", "start"),  # docs/protocol.md section 9
    "fail-midway": ("error", "midway"),  # docs/protocol.md section 9
    "slow": ("done", "end"),
    "stall": ("stall", "midway"),
    "drop": ("drop", "midway"),
    "first-token-delay": ("done", "end"),
}
SLOW_FACTOR = 10
FIRST_TOKEN_DELAY_MS = 2000.0  # `first-token-delay` without an explicit first-delay-ms

# Numeric parameters: name -> (lowest, highest) accepted value.
LIMITS: dict[str, tuple[float, float]] = {
    "tokens": (0, 100_000),
    "delay-ms": (0, 60_000),
    "first-delay-ms": (0, 600_000),
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """How one task runs: how many tokens, their pacing, and how it ends."""

    name: str | None
    tokens: int
    delay_s: float
    first_delay_s: float
    outcome: Outcome
    # Tokens produced before the outcome (fail-midway, stall, drop); `tokens` for done.
    tokens_before_outcome: int
    applied: tuple[str, ...] = ()

    @property
    def preference_applied(self) -> str | None:
        """The `Preference-Applied` header value, or None when nothing was honoured."""
        return ", ".join(self.applied) or None


def parse_prefer(values: Iterable[str]) -> dict[str, str]:
    """Preferences of every `Prefer` header value, names lower-cased; the first of a name wins."""
    found: dict[str, str] = {}
    for value in values:
        for preference in value.split(","):
            # Parameters after ';' qualify a preference; none of ours uses them.
            head = preference.split(";", 1)[0].strip()
            if not head:
                continue
            name, _, raw = head.partition("=")
            name = name.strip().lower()
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            found.setdefault(name, raw)
    return found


def _number(preferences: dict[str, str], name: str) -> float | None:
    raw = preferences.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    low, high = LIMITS[name]
    if not low <= value <= high:  # out of range (NaN compares false too): ignored
        return None
    return value


def scenario_for(prefer_values: Iterable[str], config: MockConfig) -> Scenario:
    """The scenario a request asks for, with the server's defaults for what it leaves out."""
    preferences = parse_prefer(prefer_values)
    applied: list[str] = []
    name = preferences.get("scenario", "").lower() or None
    if name not in SCENARIOS:
        name = None
    else:
        applied.append(f"scenario={name}")

    tokens = config.tokens
    delay_ms = config.token_delay_ms
    first_delay_ms = config.first_token_delay_ms
    if (value := _number(preferences, "tokens")) is not None and value == int(value):
        tokens = int(value)
        applied.append(f"tokens={tokens}")
    explicit_delay = _number(preferences, "delay-ms")
    if explicit_delay is not None:
        delay_ms = explicit_delay
        applied.append(f"delay-ms={explicit_delay:g}")
    explicit_first = _number(preferences, "first-delay-ms")
    if explicit_first is not None:
        first_delay_ms = explicit_first
        applied.append(f"first-delay-ms={explicit_first:g}")

    if name == "slow":
        delay_ms *= SLOW_FACTOR
        first_delay_ms *= SLOW_FACTOR
    elif name == "first-token-delay" and explicit_first is None:
        first_delay_ms = FIRST_TOKEN_DELAY_MS

    outcome, where = SCENARIOS.get(name or "", ("done", "end"))
    if where == "start":
        before = 0
    elif where == "midway":
        # "A few tokens": half of them, at least one when there are any.
        before = min(tokens, max(1, tokens // 2))
    else:
        before = tokens
    return Scenario(name, tokens, delay_ms / 1000, first_delay_ms / 1000, outcome, before, tuple(applied))
