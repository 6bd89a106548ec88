"""The load gate: limits per mode and level, and allowed regressions against a baseline.

A gate file is TOML. Limits are `max_<metric>` or `min_<metric>` keys; `[limits]` holds
them for every mode and level, `[limits.sse]` / `[limits.ws]` for one mode, and
`[limits.sse.1000]` for one mode at one level (the most specific table wins, key by key).
`min_capacity` (`--find-capacity`: the knee, most users that held) goes in `[limits]` or
`[limits.<mode>]`, and `capacity` in `[baseline]`.
`[baseline]` gives the regression each metric may show against `--baseline`: `"20%"`
(relative), `"20%+2"` (relative plus absolute, in the metric's unit) or a number
(absolute). The default gate (no file, or keys a file leaves out) fails any contract
violation and any failed, incomplete or errored stream.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stagecheck.errors import ConfigError
from stagecheck.results.load_results import (
    Breach,
    Distribution,
    GateOutcome,
    LevelResult,
    LoadResults,
    ResultsFormatError,
)


def _pct(name: str, percentile: float) -> Callable[[LevelResult], float | None]:
    def read(level: LevelResult) -> float | None:
        dist: Distribution = getattr(level, name)
        return dist.percentile_ms(percentile)

    return read


# Rules judged on the load client's clock (close, flush, idle and pong deadlines). A client
# that lags stamps events late and would blame the target for it: at such a level their
# violations are noted, not judged (a false breach is worse than a missed one).
CLOCK_RULES = frozenset({"S4", "S5", "Q6", "W3"})
SATURATED_CPU = 85.0  # % of one core per load process
MIN_STREAMING_SHARE = 0.9  # users in a stream (Little's law): below, the client kept users waiting


def client_lag(level: LevelResult) -> str | None:
    """Why the load client could not keep up at this level, or None when it did."""
    cpu = level.client_cpu_per_process
    if cpu is not None and cpu >= SATURATED_CPU:
        return f"the load client used {cpu:.0f}% of a core per process"
    share = level.streaming_share
    if share is not None and share < MIN_STREAMING_SHARE:
        return f"the load client kept only {share:.0%} of its users streaming"
    return None


def judged_violations(level: LevelResult) -> int:
    """Violations the gate judges: all of them, but the clock rules' at a level where the client lagged."""
    if client_lag(level) is None:
        return level.violation_count
    return sum(count for rule, count in level.violations.items() if rule not in CLOCK_RULES)


def _unjudged_note(level: LevelResult) -> str | None:
    lag = client_lag(level)
    excused = {rule: n for rule, n in level.violations.items() if rule in CLOCK_RULES}
    if lag is None or not excused:
        return None
    rules = ", ".join(f"{rule}×{n}" for rule, n in sorted(excused.items()))
    return (
        f"{level.mode} @ {level.users} users: {rules} not judged: {lag}, so its clock, not the target, "
        "may be late (give it more --processes)"
    )


# metric name -> (reader, True when higher is worse)
METRICS: dict[str, tuple[Callable[[LevelResult], float | None], bool]] = {
    **{
        f"{name}_p{label}_ms": (_pct(name, pct), True)
        for name in ("ttft", "itl", "tpot", "e2e")
        for label, pct in (("50", 50.0), ("90", 90.0), ("95", 95.0), ("99", 99.0))
    },
    "error_rate": (lambda r: r.error_rate, True),
    "violations": (lambda r: float(judged_violations(r)), True),
    "violation_rate": (lambda r: judged_violations(r) / r.streams if r.streams else 0.0, True),
    "failed": (lambda r: float(r.failed), True),
    "incomplete": (lambda r: float(r.incomplete), True),
    "goodput": (lambda r: r.goodput, False),
    "streams_per_s": (lambda r: r.streams_per_s, False),
    "tokens_per_s": (lambda r: r.tokens_per_s, False),
    "server_cpu_ms_per_stream": (lambda r: r.server_cpu_ms_per_stream, True),
}

DEFAULT_LIMITS: dict[str, float] = {"max_violations": 0, "max_error_rate": 0.0}

# `--find-capacity`: the knee of each mode (most users that held). `min_capacity` may be set in
# [limits] or [limits.<mode>]; `capacity` in [baseline] bounds its regression.
CAPACITY_METRIC = "capacity"

# Used when --baseline is given and the gate file has no [baseline] table.
DEFAULT_REGRESSIONS: dict[str, str | float] = {
    "ttft_p95_ms": "25%+2",
    "itl_p95_ms": "25%+2",
    "e2e_p95_ms": "25%+5",
    "error_rate": 0.01,
    "goodput": 0.05,
    "tokens_per_s": "20%",
    CAPACITY_METRIC: "25%",  # a knee is known to about one bisection step (10 %) and moves with noise
}

_ALLOWANCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*(?:\+\s*(\d+(?:\.\d+)?))?\s*$")


@dataclass(frozen=True)
class Allowance:
    """How much worse than the baseline a metric may get."""

    relative: float = 0.0
    absolute: float = 0.0

    def limit(self, base: float, higher_is_worse: bool) -> float:
        slack = abs(base) * self.relative + self.absolute
        return base + slack if higher_is_worse else base - slack

    @classmethod
    def parse(cls, metric: str, value: Any, file: str) -> Allowance:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f'{file}: [baseline] {metric} = {value!r}: write "20%", "20%+2" or a number')
        if isinstance(value, (int, float)):
            return cls(absolute=float(value))
        match = _ALLOWANCE.match(value)
        if match is None:
            raise ConfigError(f'{file}: [baseline] {metric} = {value!r}: write "20%", "20%+2" or a number')
        return cls(relative=float(match.group(1)) / 100.0, absolute=float(match.group(2) or 0.0))


@dataclass(frozen=True)
class Gate:
    """Parsed gate: limit tables and baseline allowances."""

    limits: Mapping[str, float]
    per_mode: Mapping[str, Mapping[str, float]]
    per_level: Mapping[tuple[str, int], Mapping[str, float]]
    regressions: Mapping[str, Allowance]
    file: str | None = None

    def limits_for(self, mode: str, users: int) -> dict[str, float]:
        merged = dict(DEFAULT_LIMITS)
        merged.update(self.limits)
        merged.update(self.per_mode.get(mode, {}))
        merged.update(self.per_level.get((mode, users), {}))
        return merged


def default_gate() -> Gate:
    return Gate({}, {}, {}, {name: Allowance.parse(name, v, "default") for name, v in DEFAULT_REGRESSIONS.items()})


def _check_limits(table: Mapping[str, Any], where: str, file: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in table.items():
        bound, _, metric = key.partition("_")
        if key == f"min_{CAPACITY_METRIC}" and where.count(".") == 2:
            raise ConfigError(f"{file}: {where} {key}: min_capacity belongs in [limits] or [limits.<mode>]")
        if bound not in ("max", "min") or (metric not in METRICS and key != f"min_{CAPACITY_METRIC}"):
            known = ", ".join(sorted(METRICS))
            raise ConfigError(
                f"{file}: {where} {key!r} is not a limit; write max_<metric> or min_<metric>, metrics: {known} "
                "(and min_capacity)"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{file}: {where} {key} = {value!r} must be a number")
        out[key] = float(value)
    return out


def load_gate(path: str | Path) -> Gate:
    """Read and check a gate file; any mistake is a ConfigError naming the key."""
    file = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"--gate: {file} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--gate: {file} is not valid TOML: {exc}") from exc
    unknown = set(data) - {"limits", "baseline"}
    if unknown:
        raise ConfigError(f"{file}: unknown table(s) {', '.join(sorted(unknown))}; a gate has [limits] and [baseline]")
    limits_table = dict(data.get("limits", {}))
    per_mode: dict[str, dict[str, float]] = {}
    per_level: dict[tuple[str, int], dict[str, float]] = {}
    for mode in ("sse", "ws"):
        mode_table = dict(limits_table.pop(mode, {}))
        for key in [k for k, v in mode_table.items() if isinstance(v, dict)]:
            if not key.isdigit():
                raise ConfigError(f"{file}: [limits.{mode}.{key}]: a level table is named by its user count")
            per_level[(mode, int(key))] = _check_limits(mode_table.pop(key), f"[limits.{mode}.{key}]", file)
        per_mode[mode] = _check_limits(mode_table, f"[limits.{mode}]", file)
    limits = _check_limits(limits_table, "[limits]", file)
    raw_baseline = data.get("baseline")
    if raw_baseline is None:
        regressions = default_gate().regressions
    else:
        for metric in raw_baseline:
            if metric not in METRICS and metric != CAPACITY_METRIC:
                known = ", ".join(sorted([*METRICS, CAPACITY_METRIC]))
                raise ConfigError(f"{file}: [baseline] {metric!r} is not a metric; known: {known}")
        regressions = {m: Allowance.parse(m, v, file) for m, v in raw_baseline.items()}
    return Gate(limits, per_mode, per_level, regressions, file)


def judge(
    results: LoadResults,
    gate: Gate | None = None,
    baseline: LoadResults | None = None,
    baseline_file: str | None = None,
) -> GateOutcome:
    """Every breach of the gate's limits and of the baseline's allowances, level by level."""
    gate = gate or default_gate()
    if results.capacity:
        # A capacity search fails levels on purpose: only the knees are judged.
        return GateOutcome(
            breaches=tuple(_judge_capacity(results, gate, baseline) + judge_probes(results)),
            gate_file=gate.file,
            baseline_file=baseline_file,
        )
    breaches: list[Breach] = judge_probes(results)
    for level in results.levels:
        for key, limit in sorted(gate.limits_for(level.mode, level.users).items()):
            bound, _, metric = key.partition("_")
            if metric == CAPACITY_METRIC:
                continue
            value = METRICS[metric][0](level)
            if value is None:
                continue
            if (bound == "max" and value > limit) or (bound == "min" and value < limit):
                source: Literal["default", "gate"] = (
                    "gate" if gate.file and key not in _defaults_kept(gate, level) else "default"
                )
                breaches.append(Breach(level.mode, level.users, key, value, limit, source, _detail(level, metric)))
        if baseline is None:
            continue
        base_level = baseline.level(level.mode, level.users)
        if base_level is None:
            continue
        for metric, allowance in sorted(gate.regressions.items()):
            if metric == CAPACITY_METRIC:
                continue
            reader, higher_is_worse = METRICS[metric]
            value, base = reader(level), reader(base_level)
            if value is None or base is None:
                continue
            limit = allowance.limit(base, higher_is_worse)
            if (higher_is_worse and value > limit) or (not higher_is_worse and value < limit):
                breaches.append(
                    Breach(level.mode, level.users, metric, value, limit, "baseline", f"baseline {base:.6g}")
                )
    notes = tuple(note for note in map(_unjudged_note, results.levels) if note)
    return GateOutcome(
        breaches=tuple(breaches),
        gate_file=gate.file,
        baseline_file=baseline_file,
        notes=notes,
    )


def judge_probes(results: LoadResults) -> list[Breach]:
    """A probe that failed (a rule broken, a stream not recovered ...) is a breach; one not run is not."""
    breaches: list[Breach] = []
    for found in results.reconnection:
        if found.verdict == "failed":
            rules = ", ".join(f"{rule}×{count}" for rule, count in sorted(found.violations.items()))
            detail = f"{found.recovered}/{found.dropped} recovered, {found.tokens_never_seen} tokens never seen"
            detail += f"; rules {rules}" if rules else ""
            breaches.append(Breach(found.mode, 0, "reconnect", 1.0, 0.0, "default", detail))
    for beat in results.heartbeat:
        if beat.verdict == "failed":
            rules = ", ".join(f"{rule}×{count}" for rule, count in sorted(beat.violations.items()))
            detail = f"rules {rules}" if rules else (beat.examples[0] if beat.examples else "failed")
            breaches.append(Breach(beat.mode, 0, "heartbeat", 1.0, 0.0, "default", detail))
    browser = results.browser
    if browser is not None and browser.not_run is None:
        for seen in browser.modes:
            if not seen.held:
                rules = ", ".join(f"{rule}×{count}" for rule, count in sorted(seen.violations.items()))
                detail = f"{browser.browser} {browser.version or ''}: {seen.streams_held}/{seen.streams_asked} held"
                detail += f"; rules {rules}" if rules else ""
                detail += f"; {seen.failures[0]}" if seen.failures else ""
                breaches.append(Breach(seen.mode, 0, "browser", 1.0, 0.0, "default", detail))
    return breaches


def _judge_capacity(results: LoadResults, gate: Gate, baseline: LoadResults | None) -> list[Breach]:
    """min_capacity per mode, and the knee's regression against a baseline's capacity section."""
    breaches: list[Breach] = []
    key = f"min_{CAPACITY_METRIC}"
    for found in results.capacity:
        detail = found.limiting.text if found.limiting is not None else (found.stopped_by or "")
        if found.client_limited:
            detail += "; the load client was saturated: the limit may be the client's"
        limit = gate.per_mode.get(found.mode, {}).get(key, gate.limits.get(key))
        if limit is not None and found.knee < limit:
            breaches.append(Breach(found.mode, found.knee, key, float(found.knee), limit, "gate", detail))
        allowance = gate.regressions.get(CAPACITY_METRIC)
        base = baseline.capacity_for(found.mode) if baseline is not None else None
        if allowance is not None and base is not None:
            floor = allowance.limit(float(base.knee), higher_is_worse=False)
            if found.knee < floor:
                breaches.append(
                    Breach(
                        found.mode,
                        found.knee,
                        CAPACITY_METRIC,
                        float(found.knee),
                        floor,
                        "baseline",
                        f"baseline knee {base.knee}; {detail}",
                    )
                )
    return breaches


def _defaults_kept(gate: Gate, level: LevelResult) -> set[str]:
    """Default limits the gate file did not restate for this level."""
    restated = set(gate.limits) | set(gate.per_mode.get(level.mode, {})) | set(gate.per_level.get(level.key, {}))
    return {key for key in DEFAULT_LIMITS if key not in restated}


def _detail(level: LevelResult, metric: str) -> str:
    if metric in ("violations", "violation_rate") and level.violations:
        return "rules " + ", ".join(f"{rule} x{count}" for rule, count in level.violations.items())
    if metric in ("error_rate", "failed", "incomplete"):
        parts = [f"{level.failed} failed", f"{level.incomplete} incomplete", f"{level.task_errors} task errors"]
        parts += [f"{kind} x{count}" for kind, count in list(level.failures.items())[:3]]
        return ", ".join(parts) + f" of {level.streams} streams"
    return ""


def load_baseline(path: str | Path) -> LoadResults:
    """Read a previous results.json (ConfigError when it is missing or unreadable)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        results = LoadResults.from_json(data)
    except FileNotFoundError as exc:
        raise ConfigError(f"--baseline: {path} does not exist") from exc
    except (json.JSONDecodeError, ResultsFormatError) as exc:
        raise ConfigError(f"--baseline: {path} is not a stagecheck results.json: {exc}") from exc
    return results
