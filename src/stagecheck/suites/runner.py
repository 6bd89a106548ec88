"""Run the selected checks one after another, with progress, into one `ContractResults`.

Checks run in sequence: several of them watch a whole project and stage on a socket, and
a neighbour's tasks would show up there. Whatever finished is kept when the run is
interrupted or the target goes away, so a report can always be written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from stagecheck.errors import StagecheckError, TargetUnreachable
from stagecheck.results.contract_results import CheckOutcome, CheckSummary, ContractResults, fold_cells

from .catalog import CHECKS
from .context import SuiteContext, open_context
from .options import SuiteOptions
from .registry import Check

Progress = Callable[[str, Check, CheckOutcome | None], None]
# Of the run's --max-time, what is kept back for stopping the last check and writing reports.
REPORT_RESERVE_S = 5.0


@dataclass
class RunState:
    """What a run has done so far; the CLI builds results from it even after Ctrl-C."""

    options: SuiteOptions
    target: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    outcomes: list[CheckOutcome] = field(default_factory=list)
    not_run: dict[tuple[str, str], str] = field(default_factory=dict)
    error: str | None = None  # fatal: the run stopped (target unreachable ...)
    crashed: list[str] = field(default_factory=list)  # checks that could not finish
    interrupted: bool = False
    current: CheckOutcome | None = None
    stopped_by_max_time: bool = False  # the run's budget was spent before every check ran

    @property
    def deadline(self) -> float:
        """When checks must stop: the run's budget less a reserve for cancelling and writing reports."""
        budget = self.options.run_budget_s
        return self.started + budget - min(REPORT_RESERVE_S, budget * 0.05)

    def results(self, strict: bool = False, require_all: bool = False) -> ContractResults:
        outcomes = list(self.outcomes)
        if self.current is not None and self.current not in outcomes:
            # An interrupted check: keep what it found, but claim nothing as passed.
            self.current.exercised = {
                key
                for key in self.current.exercised
                if any((f.rule, f.transport) == key for f in self.current.findings)
            }
            outcomes.append(self.current)
        not_run = dict(self.not_run)
        if self.interrupted:
            not_run = {
                **{(r, t): "run interrupted before this rule was checked" for c in CHECKS for r, t in c.rules},
                **not_run,
            }
        elif self.error:
            not_run = {**{(r, t): f"run stopped: {self.error}" for c in CHECKS for r, t in c.rules}, **not_run}
        options = self.options
        findings = [f for o in outcomes for f in o.findings]
        return ContractResults(
            target=self.target,
            options=options.describe(),
            started_at=self.started_at,
            wall_s=time.perf_counter() - self.started,
            interrupted=self.interrupted,
            error=self.error or ("; ".join(self.crashed) if self.crashed else None),
            cells=fold_cells(outcomes, options.rules, not_run),
            findings=findings,
            checks=[CheckSummary(o.name, round(o.duration_s, 3), len(o.findings), o.error) for o in outcomes],
            strict=strict,
            require_all=require_all,
            max_time_s=options.run_budget_s if self.stopped_by_max_time else None,
        )


def plan(options: SuiteOptions) -> tuple[list[Check], dict[tuple[str, str], str]]:
    """The checks to run, and why each rule of a check left out will not be run."""
    chosen: list[Check] = []
    reasons: dict[tuple[str, str], str] = {}
    for check in CHECKS:
        if not check.selected(options):
            continue
        if check.name in options.skip_checks:
            for key in check.rules:
                reasons.setdefault(key, f"{check.name} skipped on request")
            continue
        blocked = check.blocked(options)
        if blocked:
            for key in check.rules:
                reasons.setdefault(key, blocked)
            continue
        chosen.append(check)
    return chosen, reasons


async def preflight(ctx: SuiteContext) -> None:
    """Fail fast (exit 2) when the target does not answer HTTP at all."""
    url = ctx.options.status_url(ctx.options.project_ids[0])
    try:
        await ctx.client.get(url, headers=ctx.headers, timeout=ctx.options.request_timeout_s)
    except httpx.TimeoutException as exc:
        if isinstance(exc, httpx.ConnectTimeout):
            raise TargetUnreachable(
                f"cannot connect to {ctx.options.base_url}: no answer within {ctx.options.request_timeout_s:g} s"
            ) from exc
        raise TargetUnreachable(
            f"{ctx.options.base_url} accepted the connection but sent no answer within "
            f"{ctx.options.request_timeout_s:g} s (--request-timeout); is it the API?"
        ) from exc
    except httpx.ConnectError as exc:
        raise TargetUnreachable(
            f"cannot connect to {ctx.options.base_url}: connection refused or host unknown; is the backend running?"
        ) from exc
    except httpx.TransportError as exc:
        raise TargetUnreachable(f"{ctx.options.base_url} does not speak HTTP: {type(exc).__name__}: {exc}") from exc


async def _run_one(ctx: SuiteContext, state: RunState, check: Check, progress: Progress | None) -> CheckOutcome:
    outcome = CheckOutcome(check.name)
    if not check.background:
        state.current = outcome
    if progress:
        progress("start", check, None)
    began = time.perf_counter()
    # Each check ends by itself, by its budget, or when the run's budget is spent: whichever first.
    run_left = state.deadline - began
    budget = min(state.options.check_budget_s, run_left)
    timer = asyncio.timeout(budget)
    try:
        async with timer:
            await check.run(ctx, outcome)
    except TimeoutError:
        if not timer.expired():
            raise
        _stopped(state, check, outcome, budget, by_run=budget >= run_left)
    except StagecheckError as exc:
        outcome.error = str(exc)
        state.error = f"{check.name}: {exc}"
    except Exception as exc:  # a check that cannot finish must not lose the others' results
        outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.exercised = set()
        state.crashed.append(f"{check.name} could not finish: {outcome.error}")
        for key in check.rules:
            state.not_run.setdefault(key, f"{check.name} could not finish: {outcome.error}")
    outcome.duration_s = time.perf_counter() - began
    state.outcomes.append(outcome)
    if not check.background:
        state.current = None
    if progress:
        progress("end", check, outcome)
    return outcome


def _stopped(state: RunState, check: Check, outcome: CheckOutcome, budget: float, by_run: bool) -> None:
    """A check stopped by a budget: what it found stands; what it did not judge is "not run"."""
    if by_run:
        state.stopped_by_max_time = True
        reason = f"not reached: the run's --max-time ({state.options.run_budget_s:g} s) was spent"
    else:
        reason = f"{check.name} timed out after {budget:.0f} s (its budget from the three timeouts)"
    judged = {(f.rule, f.transport) for f in outcome.findings}
    outcome.exercised = {key for key in outcome.exercised if key in judged}
    for key in check.rules:
        if key not in judged:
            outcome.skip(key[1], reason, key[0])
            state.not_run.setdefault(key, reason)
    outcome.error = reason


async def run_checks(state: RunState, progress: Progress | None = None) -> None:
    """Preflight, then every chosen check; background checks run beside the others."""
    options = state.options
    chosen, reasons = plan(options)
    state.not_run.update(reasons)
    async with open_context(options) as ctx:
        try:
            await preflight(ctx)
        except StagecheckError as exc:
            state.error = str(exc)
            return
        background = [asyncio.create_task(_run_one(ctx, state, c, progress)) for c in chosen if c.background]
        try:
            for check in chosen:
                if check.background:
                    continue
                if time.perf_counter() >= state.deadline:
                    _not_reached(state, check)
                    continue
                await _run_one(ctx, state, check, progress)
                if state.error:
                    return
            for task in background:
                await task
        finally:
            for task in background:
                if not task.done():
                    task.cancel()
            if background:
                await asyncio.wait(background)


def _not_reached(state: RunState, check: Check) -> None:
    state.stopped_by_max_time = True
    for key in check.rules:
        state.not_run.setdefault(key, f"not reached: the run's --max-time ({state.options.run_budget_s:g} s) was spent")


async def run_single(options: SuiteOptions, check: Check) -> CheckOutcome:
    """One check on its own (the pytest items): its outcome, a StagecheckError as its error."""
    outcome = CheckOutcome(check.name)
    async with open_context(options) as ctx:
        began = time.perf_counter()
        try:
            await preflight(ctx)
            await check.run(ctx, outcome)
        except StagecheckError as exc:
            outcome.error = str(exc)
        outcome.duration_s = time.perf_counter() - began
    return outcome
