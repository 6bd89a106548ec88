"""The checks of a contract run: name, rules they exercise, and when they cannot run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from stagecheck.results.contract_results import CheckOutcome

from .context import SuiteContext
from .options import SuiteOptions

CheckFunction = Callable[[SuiteContext, CheckOutcome], Awaitable[None]]
# Returns why a check cannot run against this target (None: it can).
Requirement = Callable[[SuiteOptions], str | None]


@dataclass(frozen=True)
class Check:
    name: str
    rules: tuple[tuple[str, str], ...]  # (rule, transport) pairs it can judge
    run: CheckFunction
    requires: Requirement | None = None
    # Runs beside the others (Schemathesis works in its own process, mostly waiting).
    background: bool = False

    def blocked(self, options: SuiteOptions) -> str | None:
        return self.requires(options) if self.requires else None

    def selected(self, options: SuiteOptions) -> bool:
        return options.rules is None or any(rule in options.rules for rule, _ in self.rules)


def pairs(transport: str, *rules: str) -> tuple[tuple[str, str], ...]:
    return tuple((rule, transport) for rule in rules)


def needs_scenarios(options: SuiteOptions) -> str | None:
    return None if options.scenarios else "needs a target that honours Prefer: scenario=... (--scenarios)"


def needs_auth(options: SuiteOptions) -> str | None:
    return None if options.auth_required else "the target does not require auth (--auth-required)"


def needs_legacy(options: SuiteOptions) -> str | None:
    return None if options.legacy_phase else "no legacy phase given (--legacy-phase compat|removed)"


def needs_deterministic(options: SuiteOptions) -> str | None:
    return None if options.deterministic else "the target is not declared deterministic (--deterministic)"
