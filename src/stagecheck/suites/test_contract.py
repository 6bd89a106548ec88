"""The contract checks as pytest items: one per check, failing with its rule-named findings."""

from __future__ import annotations

import asyncio

import pytest

from .catalog import CHECKS
from .options import SuiteOptions
from .registry import Check
from .runner import run_single


@pytest.mark.parametrize("check", CHECKS, ids=[check.name for check in CHECKS])
def test_contract(check: Check, suite_options: SuiteOptions) -> None:
    if not check.selected(suite_options):
        pytest.skip("not selected (--rules)")
    if check.name in suite_options.skip_checks:
        pytest.skip("skipped on request")
    blocked = check.blocked(suite_options)
    if blocked:
        pytest.skip(blocked)
    outcome = asyncio.run(run_single(suite_options, check))
    if outcome.error:
        pytest.fail(f"{check.name} could not finish: {outcome.error}")
    errors = [f for f in outcome.findings if f.severity == "error"]
    if errors:
        shown = "\n\n".join(
            f"{f.rule} [{f.transport}]: {f.message}\n  Received: {f.received}\n  Contract: {f.expected}"
            + (f"\n  Reproduce: {f.reproduce}" if f.reproduce else "")
            for f in errors[:10]
        )
        more = f"\n\n... and {len(errors) - 10} more" if len(errors) > 10 else ""
        pytest.fail(f"{len(errors)} violation(s):\n\n{shown}{more}", pytrace=False)
