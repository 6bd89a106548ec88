"""`stagecheck rules`: every rule listed, one explained, a wrong id refused."""

from __future__ import annotations

from click.testing import CliRunner

from stagecheck.cli import cli
from stagecheck.contracts.rule_catalog import RULES


def test_rules_lists_every_rule() -> None:
    result = CliRunner().invoke(cli, ["rules"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == [rule.id for rule in RULES]


def test_a_rule_is_explained_with_its_checks_and_reference() -> None:
    result = CliRunner().invoke(cli, ["rules", "s5", "W6"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("S5: events are flushed as produced")
    assert "Checks: sse.flushing" in result.stdout and "docs/protocol.md#w6" in result.stdout


def test_an_unknown_rule_id_is_exit_2_with_the_known_ones() -> None:
    result = CliRunner().invoke(cli, ["rules", "X9"])
    assert result.exit_code == 2
    assert result.stderr.startswith("stagecheck: error: unknown rule id X9; known: E1, E2")
