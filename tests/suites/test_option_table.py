"""`stagecheck contract` and the pytest plugin accept the same gate options, both from suites/option_table.py."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from stagecheck.commands.contract import command as contract_command
from stagecheck.suites.option_table import GATE_OPTIONS, PYTEST_OPTIONS
from stagecheck.suites.options import build_options
from stagecheck.suites.pytest_plugin import pytest_addoption, raw_options

DOCS = Path(__file__).resolve().parents[2] / "docs" / "contract.md"


class _Group:
    """Stands in for pytest's option group: each addoption goes to a real argparse parser."""

    def __init__(self) -> None:
        self.argparser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)

    def getgroup(self, name: str, description: str = "") -> _Group:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.argparser.add_argument(*names, **kwargs)


def plugin_parser() -> argparse.ArgumentParser:
    group = _Group()
    pytest_addoption(group)  # type: ignore[arg-type]
    return group.argparser


def _norm(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def cli_options() -> dict[str, dict[str, Any]]:
    """name -> what the CLI accepts: dest, default (when not given), choices, repeatable, flag, type."""
    found = {}
    defaults = contract_command.make_context("contract", []).params
    for param in contract_command.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        long_name = next(opt for opt in param.opts if opt.startswith("--"))
        choices = tuple(param.type.choices) if isinstance(param.type, click.Choice) else None
        kind = {click.INT: int, click.FLOAT: float}.get(param.type) if not param.is_flag else None
        found[long_name] = {
            "dest": param.name,
            "default": _norm(defaults[param.name]),
            "choices": choices,
            "multiple": param.multiple,
            "flag": param.is_flag,
            "type": kind,
        }
    return found


def plugin_options() -> dict[str, dict[str, Any]]:
    parser = plugin_parser()
    defaults = parser.parse_args([])
    found = {}
    for action in parser._actions:
        long_name = next(opt for opt in action.option_strings if opt.startswith("--"))
        found[long_name] = {
            "dest": action.dest,
            "default": _norm(getattr(defaults, action.dest)),
            "choices": tuple(action.choices) if action.choices is not None else None,
            "multiple": isinstance(action, argparse._AppendAction),
            "flag": isinstance(action, argparse._StoreTrueAction),
            "type": action.type if action.type in (int, float) else None,
        }
    return found


def test_every_gate_option_is_in_the_table() -> None:
    assert list(cli_options()) == [option.name for option in GATE_OPTIONS]


def test_the_plugin_accepts_every_cli_option_with_the_same_default_and_choices() -> None:
    cli = cli_options()
    plugin = plugin_options()
    cli_only = {option.name for option in GATE_OPTIONS if option.cli_only}
    assert set(cli) - set(plugin) == cli_only  # the CLI-only ones, and no other
    assert set(plugin) <= set(cli)  # and vice versa: nothing the CLI lacks
    for name, accepted in plugin.items():
        assert accepted == cli[name], name


def test_cli_only_options_are_few_and_say_why() -> None:
    cli_only = [option for option in GATE_OPTIONS if option.cli_only]
    assert {option.name for option in cli_only} == {"--report-dir", "--junit", "--strict", "--require-all"}
    assert all(option.cli_only and len(option.cli_only) > 10 for option in cli_only)
    assert len(PYTEST_OPTIONS) + len(cli_only) == len(GATE_OPTIONS)


@pytest.mark.parametrize(
    "args",
    [
        ["--base-url", "http://127.0.0.1:9/"],
        [
            *("--base-url", "https://api.example.com/v", "--ws-url", "wss://ws.example.com", "--project-ids", "3,4"),
            *("--missing-project-id", "77", "--header", "Authorization: Bearer t", "--header", "X-A: b"),
            *("--auth-required", "--scenarios", "--legacy-phase", "removed", "--deterministic", "--profile", "quick"),
            *("--rules", "S2,q1", "--request-timeout", "2.5", "--first-event-timeout", "3", "--idle-timeout", "4"),
            *("--seed", "9", "--no-schemathesis", "--allow-type", "progress", "--allow-type", "stats"),
        ],
    ],
    ids=["defaults", "every-option"],
)
def test_the_same_arguments_give_the_same_suite_options(args: list[str]) -> None:
    cli_raw = contract_command.make_context("contract", list(args)).params
    namespace = plugin_parser().parse_args(args)
    plugin_raw = raw_options(lambda dest: getattr(namespace, dest))
    assert set(plugin_raw) == set(cli_raw)
    assert build_options(plugin_raw) == build_options(cli_raw)


def test_docs_options_table_lists_the_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Options", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `--"):
            continue
        # "|" inside `code` is no cell border (`--profile quick|ci|deep`).
        cells = re.sub(r"`[^`]*`", lambda m: m.group().replace("|", "/"), line).strip().strip("|").split("|")
        for name in re.findall(r"`(--[a-z-]+)", cells[0]):
            documented[name] = cells
    assert sorted(documented) == sorted(option.name for option in GATE_OPTIONS)
    for option in GATE_OPTIONS:
        row = documented[option.name]
        assert ("CLI only" in row[2]) == bool(option.cli_only), option.name
        assert all(choice in row[0] for choice in option.choices or ()), option.name
        if option.default is not None:
            shown = f"{option.default:g}" if isinstance(option.default, float) else str(option.default)
            assert shown in row[1], (option.name, shown)


def test_real_pytest_registers_every_plugin_option() -> None:
    # argparse under pytest refuses a name it already has (pytest's own --strict is why that one is CLI-only).
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "stagecheck.suites.pytest_plugin"]
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60, check=False, cwd="/")
    assert done.returncode == 0, done.stderr[-2000:]
    group = done.stdout.split("stagecheck contract suites:", 1)[1]
    listed = re.findall(r"^  (--[a-z-]+)", group, flags=re.MULTILINE)
    assert listed[: len(PYTEST_OPTIONS)] == [option.name for option in PYTEST_OPTIONS]
