"""What a load sweep measured: typed results and their JSON form (`results.json`).

The load runner produces these, the gate judges them and the report writers render
them; nothing here does I/O or imports a load tool. Times are in microseconds, as the
load users' HDR histograms record them; `Distribution.encoded` keeps the histogram
itself (HdrHistogram's compressed base64 form) so that results can be merged or
re-percentiled later.

Metric definitions follow vLLM's `bench serve`:
- TTFT: first token event's arrival minus the request start (the SSE POST, or the
  WebSocket mode's POST that starts the task).
- ITL: every gap between consecutive token events of a stream, pooled over streams
  (the first token's wait is TTFT, not an ITL sample, as in GenAI-Perf).
- TPOT: per stream, (E2E - TTFT) / (tokens - 1), for streams with 2 tokens or more.
- E2E: terminal event's arrival minus the request start.
- Goodput: share of streams that ended with `done`, broke no rule and met every SLO.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from .browser_results import BrowserResult
from .heartbeat_results import HeartbeatResult
from .modes import MODES, Mode, ResultsFormatError
from .reconnect_results import ReconnectResult

# Re-exported for type checkers: defined in .modes so that the probes' results need not
# import this module, and read from here by most callers (nothing star-imports this module).
__all__ = ["MODES", "Mode", "ResultsFormatError"]

SCHEMA_VERSION = 1

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0, 99.9)


@dataclass(frozen=True, slots=True)
class Distribution:
    """A latency distribution in microseconds; all zeros when `count` is 0."""

    count: int = 0
    min_us: int = 0
    mean_us: float = 0.0
    max_us: int = 0
    p50_us: int = 0
    p90_us: int = 0
    p95_us: int = 0
    p99_us: int = 0
    p999_us: int = 0
    encoded: str = ""

    def percentile_ms(self, percentile: float) -> float | None:
        """p50/p90/p95/p99/p99.9 in milliseconds; None when nothing was recorded."""
        if self.count == 0:
            return None
        key = {50.0: "p50_us", 90.0: "p90_us", 95.0: "p95_us", 99.0: "p99_us", 99.9: "p999_us"}[percentile]
        return float(getattr(self, key)) / 1000.0


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """CPU and memory of a process tree (the target, or the load client) over a level's window."""

    pid: int
    processes: int  # the tree's size at the last sample
    cpu_seconds: float  # user + system time used during the window, whole tree
    cpu_percent_mean: float  # of one core; 200 means two cores busy
    cpu_percent_peak: float
    rss_start_bytes: int
    rss_peak_bytes: int
    samples: int


@dataclass(frozen=True, slots=True)
class Slo:
    """Service-level objectives for goodput, in milliseconds (None: not judged)."""

    ttft_ms: float | None = 1000.0
    tpot_ms: float | None = 200.0
    e2e_ms: float | None = None


@dataclass(frozen=True, slots=True)
class LevelResult:
    """One concurrency level of one mode: `users` closed-loop clients for `window_s`."""

    mode: Mode
    users: int
    processes: int
    window_s: float  # the measured window: from all users spawned to the stop
    ramp_s: float
    streams: int  # streams started in the window that ended (by the server or a failure)
    completed: int  # reached a terminal event (done or error); may still have broken rules
    failed: int  # never got going: refused, timed out, or answered with a wrong status
    incomplete: int  # started, then ended or stalled without a terminal event
    task_errors: int  # completed with an `error` terminal event (the task failed, in-band)
    tokens: int
    events: int
    good: int  # completed and met every SLO
    # Throughput in a unit both modes share: a late WebSocket join gets one snapshot token
    # holding all text so far, so its tokens undercount what it delivered; its text does not.
    chars: int = 0  # characters of text (each completed stream's last full_text), summed
    full_streams: int = 0  # streams that ended with done having seen every token (no late join)
    full_stream_tokens: int = 0  # the tokens of those streams
    late_joins: int = 0  # WebSocket streams that joined late (their first token was the W5 snapshot)
    violations: dict[str, int] = field(default_factory=dict)  # rule id -> streams that broke it
    warnings: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # failure kind -> streams
    examples: tuple[str, ...] = ()  # a few violation/failure messages, verbatim
    ttft: Distribution = Distribution()
    itl: Distribution = Distribution()
    tpot: Distribution = Distribution()
    e2e: Distribution = Distribution()
    server: ProcessSample | None = None
    client: ProcessSample | None = None
    interrupted: bool = False

    @property
    def key(self) -> tuple[Mode, int]:
        return (self.mode, self.users)

    @property
    def error_rate(self) -> float:
        """Share of streams that failed, ended incomplete, or whose task failed."""
        return (self.failed + self.incomplete + self.task_errors) / self.streams if self.streams else 0.0

    @property
    def violation_count(self) -> int:
        return sum(self.violations.values())

    @property
    def violation_rate(self) -> float:
        """Rule breaches per stream (a stream can break several rules)."""
        return self.violation_count / self.streams if self.streams else 0.0

    @property
    def goodput(self) -> float:
        return self.good / self.streams if self.streams else 0.0

    @property
    def streams_per_s(self) -> float:
        return self.streams / self.window_s if self.window_s > 0 else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.window_s if self.window_s > 0 else 0.0

    @property
    def chars_per_s(self) -> float:
        """Characters of text delivered per second (completed streams): comparable across modes."""
        return self.chars / self.window_s if self.window_s > 0 else 0.0

    @property
    def full_tokens_per_s(self) -> float:
        """Tokens per second counted only over streams that saw every token."""
        return self.full_stream_tokens / self.window_s if self.window_s > 0 else 0.0

    @property
    def late_join_share(self) -> float:
        """Share of streams that joined late (WebSocket; always 0 for SSE)."""
        return self.late_joins / self.streams if self.streams else 0.0

    @property
    def streaming_share(self) -> float | None:
        """Share of the users that were in a stream on average (Little's law: streams/s x mean E2E / users).

        A closed-loop user with no think time is always in a stream, so this is about 1 when
        the load client keeps up; below, its users wait on the client between streams.
        None when no stream completed (no E2E to multiply by).
        """
        if self.e2e.count == 0 or not self.users:
            return None
        return self.streams_per_s * (self.e2e.mean_us / 1e6) / self.users

    @property
    def client_cpu_per_process(self) -> float | None:
        """The load client's mean CPU, % of one core per load process (None: not sampled)."""
        if self.client is None:
            return None
        return self.client.cpu_percent_mean / max(1, self.processes)

    @property
    def server_cpu_ms_per_stream(self) -> float | None:
        if self.server is None or not self.streams:
            return None
        return self.server.cpu_seconds * 1000.0 / self.streams

    @property
    def server_rss_per_user_kib(self) -> float | None:
        """Memory growth of the target over the level, per concurrent stream."""
        if self.server is None or not self.users:
            return None
        return max(0, self.server.rss_peak_bytes - self.server.rss_start_bytes) / 1024.0 / self.users


@dataclass(frozen=True, slots=True)
class Breach:
    """One gate limit that a level did not hold."""

    mode: str
    users: int
    metric: str
    value: float
    limit: float
    source: Literal["default", "gate", "baseline"]
    detail: str = ""

    def __str__(self) -> str:
        # users 0: a probe's breach (run apart from the levels), e.g. "ws reconnect probe failed"
        if not self.users:
            return f"{self.mode} {self.metric} probe failed ({self.source}: {self.detail})"
        text = f"{self.mode} @ {self.users} users: {self.metric} = {_fmt(self.value)}, limit {_fmt(self.limit)}"
        text += f" ({self.source}"
        return text + (f": {self.detail})" if self.detail else ")")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True, slots=True)
class GateOutcome:
    """The verdict: breached limits (empty: passed) and what was judged against."""

    breaches: tuple[Breach, ...] = ()
    gate_file: str | None = None
    baseline_file: str | None = None
    notes: tuple[str, ...] = ()  # what was seen but not judged, and why (a lagging load client ...)

    @property
    def passed(self) -> bool:
        return not self.breaches


@dataclass(frozen=True, slots=True)
class Broken:
    """One figure that did not hold at a level of a capacity search."""

    metric: str  # "violations", "error_rate", "ttft_p95_ms" (an SLO), or a gate limit's metric
    value: float
    limit: float
    text: str  # for people: "TTFT p95 1234 ms > SLO 1000 ms"


@dataclass(frozen=True, slots=True)
class CapacityStep:
    """One level a capacity search tried."""

    users: int
    processes: int  # load processes it ran with
    # retry: the same level again with more load processes; confirm: again after a latency-only miss
    phase: Literal["grow", "bisect", "retry", "confirm"]
    held: bool
    broken: tuple[Broken, ...] = ()  # what did not hold, the limiting figure first
    ttft_p95_ms: float | None = None
    itl_p95_ms: float | None = None
    client_cpu_per_process: float | None = None  # % of one core, mean per load process
    client_saturated: bool = False


@dataclass(frozen=True, slots=True)
class CapacityResult:
    """A capacity search of one mode: the knee (most users that held) and what broke above it."""

    mode: Mode
    knee: int  # most users that held; 0 when even the lowest level tried did not
    first_failed: int | None  # the fewest users that did not hold (None: none failed up to max_users)
    limiting: Broken | None  # the figure that broke first at `first_failed`
    client_limited: bool  # at `first_failed` the load client was saturated: the limit may be the client's
    stopped_by: str | None  # None: converged; "max-users", "max-time", "max-steps", "interrupted"
    steps: tuple[CapacityStep, ...] = ()
    note: str = ""  # said plainly in the reports (the client was the limit, ...)


@dataclass(frozen=True, slots=True)
class LoadResults:
    """A whole sweep: every level of every mode, in the order they ran."""

    started_at: str  # ISO 8601, UTC
    target: str
    target_kind: Literal["embedded-mock", "external"]
    config: dict[str, Any]
    slo: Slo
    levels: tuple[LevelResult, ...]
    interrupted: bool = False
    gate: GateOutcome | None = None
    schema_version: int = SCHEMA_VERSION
    # Why the sweep could not run (target down, a bad gate file ...): no verdict then.
    error: str | None = None
    # `--find-capacity`: one search per mode (the levels it tried are in `levels`).
    capacity: tuple[CapacityResult, ...] = ()
    # `--probes`: what the guide's table rows need beside the sweep, one result per mode.
    reconnection: tuple[ReconnectResult, ...] = ()
    heartbeat: tuple[HeartbeatResult, ...] = ()
    browser: BrowserResult | None = None  # both modes in one headless browser
    command: str = ""  # the command line that measured these, for the report's "measured by"

    def capacity_for(self, mode: str) -> CapacityResult | None:
        for result in self.capacity:
            if result.mode == mode:
                return result
        return None

    @property
    def exit_code(self) -> int | None:
        """2 could not run, 130 interrupted (no verdict), 0 held, 1 breached; None: not judged yet."""
        if self.error is not None:
            return 2
        if self.interrupted:
            return 130
        if self.gate is None:
            return None
        return 0 if self.gate.passed else 1

    def level(self, mode: str, users: int) -> LevelResult | None:
        for result in self.levels:
            if result.mode == mode and result.users == users:
                return result
        return None

    @property
    def modes(self) -> list[str]:
        return [m for m in MODES if any(r.mode == m for r in self.levels)]

    @property
    def user_levels(self) -> list[int]:
        return sorted({r.users for r in self.levels})

    def with_gate(self, gate: GateOutcome) -> LoadResults:
        return dataclasses.replace(self, gate=gate)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        # Derived figures are written too, so that readers of the JSON need not recompute them.
        for level, raw in zip(self.levels, data["levels"], strict=True):
            raw["derived"] = {
                "error_rate": level.error_rate,
                "violation_rate": level.violation_rate,
                "goodput": level.goodput,
                "streams_per_s": level.streams_per_s,
                "tokens_per_s": level.tokens_per_s,
                "chars_per_s": level.chars_per_s,
                "full_tokens_per_s": level.full_tokens_per_s,
                "late_join_share": level.late_join_share,
                "streaming_share": level.streaming_share,
                "server_cpu_ms_per_stream": level.server_cpu_ms_per_stream,
                "server_rss_per_user_kib": level.server_rss_per_user_kib,
            }
        # One `capacity` section per mode, keyed by mode (absent for a plain sweep).
        data["capacity"] = {raw["mode"]: raw for raw in data["capacity"]}
        if not data["capacity"]:
            del data["capacity"]
        # The probes' own JSON forms (with their derived verdicts), keyed by mode; absent when not run.
        data["reconnection"] = {r.mode: r.to_json() for r in self.reconnection}
        if not data["reconnection"]:
            del data["reconnection"]
        data["heartbeat"] = {r.mode: r.to_json() for r in self.heartbeat}
        if not data["heartbeat"]:
            del data["heartbeat"]
        data["browser"] = None if self.browser is None else self.browser.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResults:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ResultsFormatError(f"results schema version {version!r}; this stagecheck reads {SCHEMA_VERSION}")
        try:
            gate = data.get("gate")
            return cls(
                started_at=data["started_at"],
                target=data["target"],
                target_kind=data["target_kind"],
                config=dict(data["config"]),
                slo=Slo(**data["slo"]),
                levels=tuple(_level_from_json(raw) for raw in data["levels"]),
                interrupted=bool(data.get("interrupted", False)),
                error=data.get("error"),
                capacity=tuple(_capacity_from_json(raw) for raw in data.get("capacity", {}).values()),
                reconnection=tuple(ReconnectResult.from_json(raw) for raw in data.get("reconnection", {}).values()),
                heartbeat=tuple(HeartbeatResult.from_json(raw) for raw in data.get("heartbeat", {}).values()),
                browser=None if data.get("browser") is None else BrowserResult.from_json(data["browser"]),
                command=str(data.get("command", "")),
                gate=None
                if gate is None
                else GateOutcome(
                    breaches=tuple(Breach(**b) for b in gate["breaches"]),
                    gate_file=gate.get("gate_file"),
                    baseline_file=gate.get("baseline_file"),
                    notes=tuple(gate.get("notes", ())),
                ),
            )
        except (KeyError, TypeError) as exc:
            raise ResultsFormatError(f"results.json is missing or has a malformed field: {exc}") from exc


def _level_from_json(raw: dict[str, Any]) -> LevelResult:
    raw = {k: v for k, v in raw.items() if k != "derived"}
    for name in ("ttft", "itl", "tpot", "e2e"):
        raw[name] = Distribution(**raw[name])
    for name in ("server", "client"):
        if raw.get(name) is not None:
            raw[name] = ProcessSample(**raw[name])
    raw["examples"] = tuple(raw.get("examples", ()))
    return LevelResult(**raw)


def _broken(raw: dict[str, Any] | None) -> Broken | None:
    return None if raw is None else Broken(**raw)


def _capacity_from_json(raw: dict[str, Any]) -> CapacityResult:
    raw = dict(raw)
    raw["limiting"] = _broken(raw.get("limiting"))
    steps = []
    for step in raw.get("steps", ()):
        step = dict(step)
        step["broken"] = tuple(Broken(**b) for b in step.get("broken", ()))
        steps.append(CapacityStep(**step))
    raw["steps"] = tuple(steps)
    return CapacityResult(**raw)
