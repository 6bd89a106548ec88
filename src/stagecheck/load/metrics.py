"""Per-stream outcomes and the HDR histograms they are pooled into.

Locust rounds response times under 100 ms to whole milliseconds and reports fixed
percentiles, so token-level figures are kept here instead, at microsecond resolution.
A `LevelRecorder` lives in each load process; in distributed mode each worker ships its
recorder as a `wire` dict (histograms HdrHistogram-encoded) with every report to the
master, then resets it, and the master merges what arrives. No Locust import here: the
CLI process and pytest use this module too.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from stagecheck.results.load_results import Distribution, LevelResult, Mode, Slo

# 1 µs .. 1 hour at 3 significant digits: a 20 ms gap is known to within 20 µs.
_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000
_DIGITS = 3
HISTOGRAMS = ("ttft", "itl", "tpot", "e2e")
_COUNTERS = (
    "streams",
    "completed",
    "failed",
    "incomplete",
    "task_errors",
    "tokens",
    "events",
    "good",
    "warmup",
    "chars",  # characters of text (the last full_text) over completed streams
    "full_streams",  # completed with done, having seen every token (not a late join)
    "full_tokens",  # tokens of those streams
    "late",  # WebSocket streams whose socket opened after the task began (W5 snapshot)
)
_MAX_EXAMPLES = 5


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)


def _clamp(value_us: float) -> int:
    return max(_LOWEST_US, min(_HIGHEST_US, round(value_us)))


@dataclass(slots=True)
class StreamOutcome:
    """What one stream showed the client. Times are seconds on the user's monotonic clock."""

    started_at: float
    first_token_at: float | None = None
    token_times: list[float] = field(default_factory=list)
    terminal: str | None = None  # "done" | "error"
    terminal_at: float | None = None
    events: int = 0
    failure: str | None = None  # a failure kind: "connect: ConnectError", "status 503", ...
    violations: tuple[str, ...] = ()  # rule ids of error-level violations, one per rule
    warnings: tuple[str, ...] = ()
    message: str | None = None  # the first violation or failure, verbatim
    text_chars: int = 0  # characters of the stream's text when it ended (its last full_text)
    # A WebSocket that opened after the task began: its first token is the W5 snapshot,
    # holding all text so far. No gap ends at the snapshot (ITL never spans the join).
    late_join: bool = False
    snapshot_index: int | None = None

    @property
    def tokens(self) -> int:
        return len(self.token_times)

    @property
    def ttft_s(self) -> float | None:
        return None if not self.token_times else self.token_times[0] - self.started_at

    @property
    def e2e_s(self) -> float | None:
        return None if self.terminal_at is None else self.terminal_at - self.started_at

    @property
    def tpot_s(self) -> float | None:
        ttft, e2e = self.ttft_s, self.e2e_s
        if ttft is None or e2e is None or self.tokens < 2:
            return None
        return (e2e - ttft) / (self.tokens - 1)

    @property
    def gaps_s(self) -> list[float]:
        """Gaps between consecutive tokens; the one before a snapshot token (a join, not a gap) is left out."""
        times = self.token_times
        gaps = [b - a for a, b in itertools.pairwise(times)]
        if self.snapshot_index is not None and 0 < self.snapshot_index <= len(gaps):
            del gaps[self.snapshot_index - 1]
        return gaps

    def meets(self, slo: Slo) -> bool:
        """Goodput: ended with done, broke no rule, and met every SLO that is set."""
        if self.failure or self.violations or self.terminal != "done":
            return False
        checks = ((slo.ttft_ms, self.ttft_s), (slo.tpot_ms, self.tpot_s), (slo.e2e_ms, self.e2e_s))
        return all(limit is None or value is None or value * 1000.0 <= limit for limit, value in checks)


class LevelRecorder:
    """Pools the outcomes of one process (or, merged, of all workers) for one level."""

    def __init__(self, slo: Slo) -> None:
        self.slo = slo
        self.histograms: dict[str, HdrHistogram] = {name: new_histogram() for name in HISTOGRAMS}
        self.counters: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.warnings: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.examples: list[str] = []
        # Streams are counted only once every user is running (the level is "held").
        self.window_start: float | None = None

    def record(self, outcome: StreamOutcome) -> bool:
        """Pool one stream; False (and only a warm-up count) if it started before the window."""
        if self.window_start is None or outcome.started_at < self.window_start:
            self.counters["warmup"] += 1
            return False
        counters = self.counters
        counters["streams"] += 1
        counters["tokens"] += outcome.tokens
        counters["events"] += outcome.events
        if outcome.failure is not None and not outcome.token_times and outcome.terminal is None:
            counters["failed"] += 1
        elif outcome.terminal is None:
            counters["incomplete"] += 1
        else:
            counters["completed"] += 1
            counters["chars"] += outcome.text_chars
            if outcome.terminal == "error":
                counters["task_errors"] += 1
            elif not outcome.late_join:
                counters["full_streams"] += 1
                counters["full_tokens"] += outcome.tokens
        if outcome.late_join:
            counters["late"] += 1
        if outcome.failure is not None:
            self.failures[outcome.failure] += 1
        self.violations.update(outcome.violations)
        self.warnings.update(outcome.warnings)
        if outcome.message and len(self.examples) < _MAX_EXAMPLES:
            self.examples.append(outcome.message)
        if outcome.meets(self.slo):
            counters["good"] += 1
        hist = self.histograms
        for name, value in (("ttft", outcome.ttft_s), ("tpot", outcome.tpot_s), ("e2e", outcome.e2e_s)):
            if value is not None:
                hist[name].record_value(_clamp(value * 1e6))
        itl = hist["itl"]
        for gap in outcome.gaps_s:
            itl.record_value(_clamp(gap * 1e6))
        return True

    # -- shipping between processes -------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        """A msgpack/JSON-able snapshot (histograms encoded as ASCII)."""
        return {
            "histograms": {name: h.encode().decode("ascii") for name, h in self.histograms.items()},
            "counters": dict(self.counters),
            "violations": dict(self.violations),
            "warnings": dict(self.warnings),
            "failures": dict(self.failures),
            "examples": list(self.examples),
        }

    def take_wire(self) -> dict[str, Any]:
        """Snapshot then reset, so that each report to the master carries only new streams."""
        wire = self.to_wire()
        for h in self.histograms.values():
            h.reset()
        for counter in (self.counters, self.violations, self.warnings, self.failures):
            counter.clear()
        self.examples.clear()
        return wire

    def merge_wire(self, wire: dict[str, Any]) -> None:
        for name, encoded in wire["histograms"].items():
            decoded = HdrHistogram.decode(encoded.encode("ascii"))
            if decoded.get_total_count():
                self.histograms[name].add(decoded)
        self.counters.update(wire["counters"])
        self.violations.update(wire["violations"])
        self.warnings.update(wire["warnings"])
        self.failures.update(wire["failures"])
        room = _MAX_EXAMPLES - len(self.examples)
        self.examples.extend(wire["examples"][: max(0, room)])


def distribution(histogram: HdrHistogram) -> Distribution:
    count = histogram.get_total_count()
    if count == 0:
        return Distribution()
    pct = histogram.get_percentile_to_value_dict([50.0, 90.0, 95.0, 99.0, 99.9])
    return Distribution(
        count=count,
        min_us=histogram.get_min_value(),
        mean_us=round(histogram.get_mean_value(), 1),
        max_us=histogram.get_max_value(),
        p50_us=pct[50.0],
        p90_us=pct[90.0],
        p95_us=pct[95.0],
        p99_us=pct[99.0],
        p999_us=pct[99.9],
        encoded=histogram.encode().decode("ascii"),
    )


def level_result_from_wire(
    wire: dict[str, Any],
    *,
    mode: Mode,
    users: int,
    processes: int,
    window_s: float,
    ramp_s: float,
    interrupted: bool = False,
) -> LevelResult:
    """Turn a merged wire snapshot (what a level's load process writes) into a LevelResult."""
    recorder = LevelRecorder(Slo())
    recorder.merge_wire(wire)
    c = recorder.counters
    return LevelResult(
        mode=mode,
        users=users,
        processes=processes,
        window_s=round(window_s, 3),
        ramp_s=round(ramp_s, 3),
        streams=c["streams"],
        completed=c["completed"],
        failed=c["failed"],
        incomplete=c["incomplete"],
        task_errors=c["task_errors"],
        tokens=c["tokens"],
        events=c["events"],
        good=c["good"],
        chars=c["chars"],
        full_streams=c["full_streams"],
        full_stream_tokens=c["full_tokens"],
        late_joins=c["late"],
        violations=dict(sorted(recorder.violations.items())),
        warnings=dict(sorted(recorder.warnings.items())),
        failures=dict(sorted(recorder.failures.items())),
        examples=tuple(recorder.examples),
        ttft=distribution(recorder.histograms["ttft"]),
        itl=distribution(recorder.histograms["itl"]),
        tpot=distribution(recorder.histograms["tpot"]),
        e2e=distribution(recorder.histograms["e2e"]),
        interrupted=interrupted,
    )
