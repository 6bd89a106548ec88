"""Every option of every command has help, and what the help offers is accepted.

Commands are looked up through the CLI's lazy group (by name, as `stagecheck NAME` does).
"Accepted" is checked without running anything: click's parsing (`make_context`, which
runs the option callbacks) and then the parser the command applies to that value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click
import pytest

from stagecheck.cli import COMMANDS, cli

# Values for required options, so that a command's arguments can be parsed at all.
REQUIRED = {("load-worker", "master_host"): "127.0.0.1"}


def _load_parsers() -> dict[tuple[str, str], Callable[[Any], object]]:
    from stagecheck.load.config import STAGES, parse_duration, parse_levels, parse_modes
    from stagecheck.suites.options import parse_ids, parse_rules

    def stage(value: str) -> None:
        assert value in STAGES, value

    return {
        ("load", "modes"): parse_modes,
        ("load", "duration"): parse_duration,
        ("load", "workers_timeout"): parse_duration,
        ("load", "users_text"): parse_levels,
        ("load", "stage"): stage,
        ("load", "prefer"): str,  # sent as it is
        ("run", "duration"): parse_duration,
        ("run", "users"): parse_levels,
        ("load-worker", "connect_timeout"): parse_duration,
        ("contract", "rules"): parse_rules,
        ("contract", "project_ids"): parse_ids,
    }


def command(name: str) -> click.Command:
    found = cli.get_command(click.Context(cli), name)
    assert found is not None, name
    return found


def options(name: str) -> list[click.Option]:
    return [p for p in command(name).params if isinstance(p, click.Option) and p.name != "help"]


def base_args(name: str) -> list[str]:
    args = []
    for option in options(name):
        if option.required:
            args += [option.opts[0], REQUIRED[(name, str(option.name))]]
    return args


def parse(name: str, *args: str) -> dict[str, Any]:
    return command(name).make_context(name, [*base_args(name), *args]).params


def examples(help_text: str) -> list[str]:
    """The values a help text offers in a "one of ..." or "e.g. ..." phrase.

    Values are separated by ", " or " or "; "S2,Q1" is one value; a quoted value is one value.
    """
    found: list[str] = []
    for match in re.finditer(r"(?:one of|e\.g\.)\s+(\"[^\"]*\"|'[^']*'|[^.;()\[\]]+)", help_text):
        phrase = match.group(1).strip()
        if phrase[0] in "\"'":
            found.append(phrase[1:-1])
            continue
        found += [part.strip() for part in re.split(r", | or ", phrase) if part.strip()]
    return found


ALL_OPTIONS = [(name, option) for name in sorted(COMMANDS) for option in options(name)]
IDS = [f"{name} {option.opts[0]}" for name, option in ALL_OPTIONS]


@pytest.mark.parametrize(("name", "option"), ALL_OPTIONS, ids=IDS)
def test_every_option_has_help(name: str, option: click.Option) -> None:
    assert option.help and option.help.strip(), f"stagecheck {name} {option.opts[0]} has no help"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_parses_its_defaults(name: str) -> None:
    parse(name)
    assert (command(name).help or "").strip(), f"stagecheck {name} has no description"


CHOICES = [(name, option) for name, option in ALL_OPTIONS if isinstance(option.type, click.Choice)]


@pytest.mark.parametrize(("name", "option"), CHOICES, ids=[f"{n} {o.opts[0]}" for n, o in CHOICES])
def test_every_choice_is_listed_and_accepted(name: str, option: click.Option) -> None:
    assert isinstance(option.type, click.Choice)
    record = option.get_help_record(click.Context(command(name)))
    assert record is not None
    shown = " ".join(record)
    for choice in option.type.choices:
        assert str(choice) in shown, (option.opts[0], choice)
        assert parse(name, option.opts[0], str(choice))[str(option.name)] == choice


OFFERED = [
    (name, option, value)
    for name, option in ALL_OPTIONS
    if not isinstance(option.type, click.Choice) and not option.is_flag
    for value in examples(option.help or "")
]


def test_the_offered_values_are_found() -> None:
    # The extraction itself: --modes offers each mode and `both`.
    offered = {(name, option.opts[0], value) for name, option, value in OFFERED}
    assert {("load", "--modes", mode) for mode in ("sse", "ws", "websocket", "both")} <= offered
    assert ("contract", "--rules", "S2,Q1") in offered
    assert ("load", "--prefer", "tokens=20, delay-ms=20") in offered


@pytest.mark.parametrize(("name", "option", "value"), OFFERED, ids=[f"{n} {o.opts[0]} {v}" for n, o, v in OFFERED])
def test_every_offered_value_parses(name: str, option: click.Option, value: str) -> None:
    parsers = _load_parsers()
    key = (name, str(option.name))
    assert key in parsers, f"stagecheck {name} {option.opts[0]} offers {value!r}: add its parser to this test"
    raw = parse(name, option.opts[0], value)[str(option.name)]
    parsers[key](raw)


def test_modes_both_means_sse_and_ws() -> None:
    from stagecheck.load.config import parse_modes

    assert parse_modes(parse("load", "--modes", "both")["modes"]) == ("sse", "ws")
    assert parse_modes(parse("load", "--modes", "ws,both")["modes"]) == ("ws", "sse")
    assert parse_modes(parse("load")["modes"]) == ("sse", "ws")
