"""What the reconnection probe measured for one mode: a `ReconnectResult` and its JSON form.

The probe (`stagecheck.load.reconnect`) drops each stream after `drop_after_tokens`
tokens and recovers the way the migration guide's frontend would: SSE re-POSTs the
request (a new generation), WebSocket reopens the socket with the same `?task_id=` (W5
snapshot, then live tokens). The definitions of the text figures are in that module's
docstring. No I/O here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from .modes import Mode
from .probe_json import build, fields_of

Verdict = Literal["passed", "failed", "not-run"]


@dataclass(frozen=True, slots=True)
class ReconnectResult:
    """One mode's reconnection figures; `not_run` (a measured reason) when the probe could not run."""

    mode: Mode
    streams: int = 0  # streams tried
    dropped: int = 0  # streams the client cut after `drop_after_tokens` tokens
    recovered: int = 0  # dropped streams that reached `done` after the reconnect
    drop_after_tokens: int = 0
    reference_tokens: int = 0  # tokens of the unbroken reference stream
    outage_ms: float = 0.0  # how long the client waited between the drop and the reconnect
    # Reconnect (end of the outage) -> first token or terminal event on the new connection.
    recover_ms_p50: float | None = None
    recover_ms_max: float | None = None
    tokens_seen_twice: int = 0  # summed over streams
    tokens_never_seen: int = 0  # summed over streams
    text_matches: int = 0  # streams whose text, as it was shown, equals the unbroken run's
    final_text_matches: int = 0  # streams whose done.full_text equals the unbroken run's
    starts: int = 0  # streams (SSE) or tasks (WS) the target started for the dropped streams
    starts_per_answer: float | None = None  # starts / recovered; None when nothing recovered
    cpu_ms_per_answer: float | None = None  # the target's CPU per recovered answer; None: not measured
    violations: dict[str, int] = field(default_factory=dict)  # rule id -> count (errors)
    warnings: dict[str, int] = field(default_factory=dict)  # rule id -> count (SHOULD rules)
    examples: tuple[str, ...] = ()  # a few sentences: violations and failures, as found
    not_run: str | None = None
    elapsed_s: float = 0.0

    @property
    def verdict(self) -> Verdict:
        """failed: a rule broken, a dropped stream not recovered, or text the user never saw.

        Text equality with the unbroken run is a figure, not part of the verdict: a target
        that is not deterministic (an LLM) gives another text on every task.
        """
        if self.not_run is not None:
            return "not-run"
        if self.violations or self.recovered < self.dropped or self.tokens_never_seen or not self.dropped:
            return "failed"
        return "passed"

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["examples"] = list(self.examples)
        data["verdict"] = self.verdict  # derived, written so that readers need not recompute it
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReconnectResult:
        what = "reconnect result"
        result: ReconnectResult = build(cls, fields_of(cls, data, what, derived=("verdict",)), what)
        return result
