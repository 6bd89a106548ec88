"""The contract run on a terminal: a progress line per check, then a short summary."""

from __future__ import annotations

from collections.abc import Callable

from stagecheck.results.contract_results import CheckOutcome, ContractResults

MARK = {"passed": "ok", "failed": "FAIL", "warning": "warn", "not-run": "-"}


def progress_line(event: str, name: str, outcome: CheckOutcome | None) -> str | None:
    if event == "start":
        return None
    assert outcome is not None
    errors = sum(1 for f in outcome.findings if f.severity == "error")
    warnings = len(outcome.findings) - errors
    if outcome.error:
        state = f"could not finish: {outcome.error}"
    elif errors or warnings:
        state = f"{errors} violation(s), {warnings} warning(s): " + ", ".join(
            sorted({f.rule for f in outcome.findings})
        )
    else:
        state = "ok"
    return f"  {name:<28} {outcome.duration_s:6.2f} s  {state}"


def summary(results: ContractResults, write: Callable[[str], None], paths: dict[str, str] | None = None) -> None:
    counts = results.counts
    failed = [c for c in results.cells if c.status == "failed"]
    warned = [c for c in results.cells if c.status == "warning"]
    for cell in failed + warned:
        first = next(f for f in results.findings if (f.rule, f.transport) == (cell.rule, cell.transport))
        write(f"{MARK[cell.status]:>4} {cell.rule} [{cell.transport}] {first.message}")
        write(f"       received: {first.received[:160]}")
        write(f"       contract: {first.expected[:160]}")
    if results.error:
        write(f"stagecheck: error: {results.error}")
    if results.interrupted:
        write("interrupted: the report holds what was measured before Ctrl-C")
    if results.max_time_s is not None:
        write(f"the run's --max-time ({results.max_time_s:g} s) was spent: the checks not reached are not run")
    for name, path in (paths or {}).items():
        write(f"{name}: {path}")
    # What the verdict covers, so that "conforms" never hides the rules that were not run.
    write(f"{results.verdict}: {results.coverage()}; {counts['findings']} findings")
    write(f"{results.verdict} (exit {results.exit_code}) in {results.wall_s:.1f} s wall time")
