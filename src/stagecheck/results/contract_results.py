"""The results of a contract run, and their JSON form (`results.json`).

Flow is one way: the checks return `CheckOutcome`s, the runner folds them into one
`ContractResults`, and the report writers (JSON, JUnit, HTML, terminal) read that.
`from_dict(to_dict(r)) == r`, so reports can also be rebuilt from a saved results.json.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from stagecheck.contracts.rule_catalog import REFERENCE, RULES, RULES_BY_ID
from stagecheck.contracts.violations import Violation

Status = Literal["passed", "failed", "warning", "not-run"]
SCHEMA_VERSION = 1
VERDICTS = {0: "conforms", 1: "violations found", 2: "could not complete", 130: "interrupted"}


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing on the wire, `at` seconds after the check's request started."""

    at: float
    kind: str  # request, head, event, comment, message, body, close, note
    text: str


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """The request behind a finding, credentials already redacted."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation found by one check, with the evidence to reproduce it."""

    rule: str
    transport: str
    check: str
    message: str
    received: str = ""
    expected: str = ""
    severity: Literal["error", "warning"] = "error"
    index: int | None = None
    at: float | None = None
    task_id: str | None = None
    request: RequestRecord | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    reproduce: str = ""

    @classmethod
    def from_violation(
        cls,
        violation: Violation,
        transport: str,
        check: str,
        request: RequestRecord | None = None,
        timeline: tuple[TimelineEntry, ...] = (),
        reproduce: str = "",
        origin: float = 0.0,
    ) -> Finding:
        return cls(
            rule=violation.rule,
            transport=transport,
            check=check,
            message=violation.message,
            received=violation.received,
            expected=violation.expected,
            severity=violation.severity,
            index=violation.index,
            at=None if violation.at is None else round(violation.at - origin, 6),
            task_id=violation.task_id,
            request=request,
            timeline=timeline,
            reproduce=reproduce,
        )


@dataclass(slots=True)
class CheckOutcome:
    """What one check did: the (rule, transport) pairs it exercised, what it found, what it could not do."""

    name: str
    exercised: set[tuple[str, str]] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    duration_s: float = 0.0
    error: str | None = None  # the check could not finish (target went away, interrupted ...)

    def exercise(self, transport: str, *rules: str) -> None:
        for rule in rules:
            self.exercised.add((rule, transport))

    def skip(self, transport: str, reason: str, *rules: str) -> None:
        for rule in rules:
            self.skipped.setdefault((rule, transport), reason)


@dataclass(frozen=True, slots=True)
class Cell:
    """One rule on one transport: the matrix cell of the report."""

    rule: str
    transport: str
    status: Status
    reason: str = ""
    failures: int = 0
    warnings: int = 0
    checks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckSummary:
    name: str
    duration_s: float
    findings: int
    error: str | None = None


@dataclass(slots=True)
class ContractResults:
    target: dict[str, Any]
    options: dict[str, Any]
    started_at: str
    wall_s: float = 0.0
    interrupted: bool = False
    error: str | None = None
    cells: list[Cell] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    checks: list[CheckSummary] = field(default_factory=list)
    strict: bool = False
    require_all: bool = False  # a rule not run fails the gate too (--require-all)
    max_time_s: float | None = None  # set when the run's budget stopped it before every check ran

    @property
    def verdict(self) -> str:
        code = self.exit_code
        if code == 1 and not self.counts["failed"] and not (self.strict and self.counts["warning"]):
            return "rules not run (--require-all)"
        if code == 2 and self.error is None and self.max_time_s is not None:
            return f"stopped at --max-time {self.max_time_s:g} s"
        return VERDICTS[code]

    @property
    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "warning": 0, "not-run": 0}
        for cell in self.cells:
            counts[cell.status] += 1
        counts["findings"] = len(self.findings)
        return counts

    @property
    def exit_code(self) -> int:
        """0 conforms, 1 violations (warnings with strict, rules not run with require_all), 2 could not do
        its job, 130 interrupted clean."""
        if self.error is not None:
            return 2
        counts = self.counts
        if counts["failed"] or (self.strict and counts["warning"]):
            return 1
        if self.interrupted:
            return 130
        if self.max_time_s is not None:
            return 2  # stopped by --max-time with nothing found: no verdict
        return 1 if self.require_all and counts["not-run"] else 0

    def coverage(self) -> str:
        """What the verdict covers: "31 of 40 rule checks held, 9 not run (E2: needs ...)".

        A pass that does not say what went unchecked reads as "all rules hold"; this says it.
        """
        counts = self.counts
        total = len(self.cells)
        text = f"{counts['passed'] + counts['warning']} of {total} rule checks held"
        if counts["failed"]:
            text += f", {counts['failed']} failed"
        if counts["warning"]:
            text += f" ({counts['warning']} with warnings)"
        not_run = [c for c in self.cells if c.status == "not-run"]
        if not_run:
            by_reason: dict[str, list[str]] = {}
            for cell in not_run:
                label = f"{cell.rule}/{cell.transport}"
                by_reason.setdefault(cell.reason or "no reason recorded", []).append(label)
            reasons = "; ".join(f"{', '.join(labels)}: {reason}" for reason, labels in by_reason.items())
            text += f", {len(not_run)} not run ({reasons})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "target": self.target,
            "options": self.options,
            "started_at": self.started_at,
            "wall_s": round(self.wall_s, 3),
            "interrupted": self.interrupted,
            "error": self.error,
            "strict": self.strict,
            "require_all": self.require_all,
            "max_time_s": self.max_time_s,
            "exit_code": self.exit_code,
            "coverage": self.coverage(),
            "counts": self.counts,
            "rules": [{**asdict(cell), "rule_doc": rule_doc(cell.rule)} for cell in self.cells],
            "findings": [{**asdict(finding), "rule_doc": rule_doc(finding.rule)} for finding in self.findings],
            "checks": [asdict(check) for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContractResults:
        findings = []
        for raw in data.get("findings", []):
            raw = dict(raw)
            raw.pop("rule_doc", None)  # derived from the rule id, not stored
            request = raw.pop("request", None)
            timeline = tuple(TimelineEntry(**entry) for entry in raw.pop("timeline", []))
            findings.append(Finding(**raw, request=RequestRecord(**request) if request else None, timeline=timeline))
        return cls(
            target=data["target"],
            options=data["options"],
            started_at=data["started_at"],
            wall_s=data.get("wall_s", 0.0),
            interrupted=data.get("interrupted", False),
            error=data.get("error"),
            strict=data.get("strict", False),
            require_all=data.get("require_all", False),
            max_time_s=data.get("max_time_s"),
            cells=[
                Cell(**{**{k: v for k, v in cell.items() if k != "rule_doc"}, "checks": tuple(cell.get("checks", ()))})
                for cell in data.get("rules", [])
            ],
            findings=findings,
            checks=[CheckSummary(**check) for check in data.get("checks", [])],
        )


def fold_cells(
    outcomes: list[CheckOutcome], selected: frozenset[str] | None, not_run_reasons: dict[tuple[str, str], str]
) -> list[Cell]:
    """Every catalog rule on each of its transports, with the status the outcomes give it."""
    cells = []
    for rule in RULES:
        for transport in rule.transports:
            key = (rule.id, transport)
            failures = warnings = 0
            checks: list[str] = []
            exercised = False
            reason = not_run_reasons.get(key, "")
            for outcome in outcomes:
                mine = [f for f in outcome.findings if (f.rule, f.transport) == key]
                failures += sum(1 for f in mine if f.severity == "error")
                warnings += sum(1 for f in mine if f.severity == "warning")
                if mine or key in outcome.exercised:
                    exercised = True
                    checks.append(outcome.name)
                elif key in outcome.skipped and not reason:
                    reason = outcome.skipped[key]
            # A violation seen is reported even when its rule was not selected: never hide one.
            if failures:
                status: Status = "failed"
            elif warnings:
                status = "warning"
            elif exercised:
                status = "passed"
            else:
                status = "not-run"
                if selected is not None and rule.id not in selected:
                    reason = "not selected (--rules)"
                reason = reason or "no check in this profile exercises it"
            cells.append(
                Cell(rule.id, transport, status, "" if exercised else reason, failures, warnings, tuple(checks))
            )
    return cells


def rule_doc(rule_id: str) -> str:
    """Where the rule is explained: its section of stagecheck's rule reference."""
    rule = RULES_BY_ID.get(rule_id)
    return rule.anchor if rule else REFERENCE


def rule_title(rule_id: str) -> str:
    rule = RULES_BY_ID.get(rule_id)
    return rule.title if rule else ""
