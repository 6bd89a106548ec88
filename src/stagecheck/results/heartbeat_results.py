"""What the heartbeat probe measured for one mode: a `HeartbeatResult` and its JSON form.

The probe (`stagecheck.load.heartbeat`) holds an idle WebSocket open for a window and pings
it, or reads SSE streams (one ordinary, one with a long first-token wait when the target
confirms `first-delay-ms`), and records the server's signs of life: WebSocket `heartbeat`
messages, SSE keep-alive comments (S3). The definitions of the figures are in that module's
docstring. No I/O here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from .modes import Mode, ResultsFormatError
from .probe_json import build, fields_of

Verdict = Literal["passed", "failed", "not-run"]
# How `notice_silent_s` was derived: from the server's heartbeats or keep-alives, from the
# client's own pings, from the client's idle bound alone, or not at all.
NoticeBasis = Literal["heartbeat", "keep-alive", "ping", "client-idle-bound", "none"]
NOTICE_BASES: tuple[str, ...] = ("heartbeat", "keep-alive", "ping", "client-idle-bound", "none")


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    """One mode's heartbeat figures (seconds unless the name says ms); `not_run` when it could not measure."""

    mode: Mode
    window_s: float = 0.0  # how long the probe watched
    heartbeats: int = 0  # WebSocket heartbeat messages, or SSE keep-alive comments
    comments: int = 0  # SSE: every comment line, keep-alive or not (e.g. one right after the head)
    interval_s_p50: float | None = None  # between heartbeats / keep-alives; None when none came
    interval_s_max: float | None = None
    pings: int = 0  # WebSocket: pings the client sent
    pongs: int = 0  # pongs that answered them
    ping_period_s: float | None = None  # the client's ping period (WebSocket)
    pong_rtt_ms_p50: float | None = None
    pong_rtt_ms_max: float | None = None
    longest_silence_s: float | None = None  # the longest time between two things the server sent
    long_wait_s: float | None = None  # SSE: the first-token wait the target confirmed, else None
    long_wait_skipped: str | None = None  # SSE: why no long-wait stream was observed
    notice_silent_s: float | None = None  # derived: how long a client needs to notice a silent server
    notice_basis: NoticeBasis = "none"
    notice_how: str = ""  # the derivation, in a sentence
    violations: dict[str, int] = field(default_factory=dict)  # rule id -> count (errors)
    warnings: dict[str, int] = field(default_factory=dict)  # rule id -> count (SHOULD rules)
    examples: tuple[str, ...] = ()  # a few sentences: violations and failures, as found
    not_run: str | None = None
    elapsed_s: float = 0.0

    @property
    def verdict(self) -> Verdict:
        """failed: a rule broken (a malformed heartbeat, M1; a late or missing pong, W3 ...).

        No heartbeat is not a failure: heartbeats are optional (PROTOCOL.md section 3).
        """
        if self.not_run is not None:
            return "not-run"
        return "failed" if self.violations else "passed"

    @property
    def seen(self) -> bool:
        """The server showed heartbeats (WebSocket) or keep-alive comments (SSE)."""
        return self.heartbeats > 0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["examples"] = list(self.examples)
        data["verdict"] = self.verdict  # derived, written so that readers need not recompute it
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeartbeatResult:
        what = "heartbeat result"
        raw = fields_of(cls, data, what, derived=("verdict",))
        if raw.get("notice_basis", "none") not in NOTICE_BASES:
            raise ResultsFormatError(
                f"{what}: notice_basis {raw.get('notice_basis')!r} is not one of {', '.join(NOTICE_BASES)}"
            )
        result: HeartbeatResult = build(cls, raw, what)
        return result
