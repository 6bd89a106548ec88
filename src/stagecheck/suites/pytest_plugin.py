"""pytest plugin for the contract suites, with the option names of `stagecheck contract`.

    pytest -p stagecheck.suites.pytest_plugin --pyargs stagecheck.suites --base-url http://host:port

or `pytest_plugins = ["stagecheck.suites.pytest_plugin"]` in a project's root conftest.py.
The tests in `test_contract.py` run the same check functions as the CLI, one item per check.
It is not auto-loaded (no pytest11 entry point): `--base-url` would clash with pytest-base-url.
The options come from `option_table.py`, as the CLI's do; the CLI-only ones (`--report-dir`,
`--junit`, `--strict`) are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .option_table import GATE_OPTIONS, PYTEST_OPTIONS, GateOption
from .options import SuiteOptions, build_options

_TYPES: dict[str, type] = {"int": int, "float": float}


def addoption_arguments(option: GateOption) -> dict[str, Any]:
    """The `parser.addoption` keywords for one entry of the gate's option table."""
    text = option.pytest_help or option.help
    kwargs: dict[str, Any] = {"dest": option.dest}
    if option.flag:
        kwargs.update(action="store_true", default=False)
    elif option.multiple:
        kwargs.update(action="append", default=[])
    else:
        kwargs["default"] = option.default
        if option.kind in _TYPES:
            kwargs["type"] = _TYPES[option.kind]
        if option.choices is not None:
            kwargs["choices"] = option.choices
        if option.default is not None:
            text += f" [default: {option.default}]"
    if option.metavar:
        kwargs["metavar"] = option.metavar
    kwargs["help"] = text.replace("%", "%%")  # argparse formats help with %
    return kwargs


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stagecheck", "stagecheck contract suites")
    for option in PYTEST_OPTIONS:
        group.addoption(option.name, **addoption_arguments(option))


@pytest.fixture(scope="session")
def suite_options(pytestconfig: pytest.Config) -> SuiteOptions:
    if not pytestconfig.getoption("base_url"):
        pytest.fail("the stagecheck contract suites need --base-url http://host:port (the target to test)")
    return build_options(raw_options(pytestconfig.getoption))


def raw_options(get: Callable[[str], Any]) -> dict[str, Any]:
    """build_options' raw dict from the plugin's option values (`get(dest)`)."""
    # CLI-only options take their "not given" value: build_options reads every key.
    raw = {option.dest: option.empty for option in GATE_OPTIONS}
    raw.update({option.dest: get(option.dest) for option in PYTEST_OPTIONS})
    return raw
