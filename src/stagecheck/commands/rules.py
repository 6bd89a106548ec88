"""`stagecheck rules`: what each rule id asks of a backend, and how stagecheck judges it."""

from __future__ import annotations

import textwrap

import click

from stagecheck.contracts.rule_catalog import RULES, RULES_BY_ID
from stagecheck.errors import ConfigError
from stagecheck.suites.catalog import CHECKS


def _describe(rule_id: str) -> str:
    rule = RULES_BY_ID[rule_id]
    checks = [check.name for check in CHECKS if any(r == rule_id for r, _ in check.rules)]
    wrap = textwrap.TextWrapper(width=96, initial_indent="  ", subsequent_indent="  ")
    return "\n".join(
        [
            f"{rule.id}: {rule.title}  (section {rule.section}, {rule.level}, {', '.join(rule.transports)})",
            wrap.fill("A backend must: " + rule.must),
            wrap.fill("Judged: " + rule.judged),
            wrap.fill("Checks: " + (", ".join(checks) or "none")),
            f"  Reference: {rule.anchor} in stagecheck's repository",
        ]
    )


@click.command("rules")
@click.argument("rule_ids", nargs=-1, metavar="[RULE_ID]...")
def command(rule_ids: tuple[str, ...]) -> None:
    """Explain rule ids (E1, S5, W6 ...): what a backend must do and how it is judged.

    With no RULE_ID, every rule of the wire protocol is listed, one line each.
    """
    if not rule_ids:
        for rule in RULES:
            click.echo(f"{rule.id:<3} {rule.title}")
        return
    wanted = [rule_id.strip().upper() for rule_id in rule_ids]
    unknown = [rule_id for rule_id in wanted if rule_id not in RULES_BY_ID]
    if unknown:
        raise ConfigError(f"unknown rule id {', '.join(unknown)}; known: {', '.join(RULES_BY_ID)}")
    click.echo("\n\n".join(_describe(rule_id) for rule_id in wanted))
