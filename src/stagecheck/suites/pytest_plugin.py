"""pytest plugin for the contract suites, with the option names of `stagecheck contract`.

    pytest -p stagecheck.suites.pytest_plugin --pyargs stagecheck.suites --base-url http://host:port

or `pytest_plugins = ["stagecheck.suites.pytest_plugin"]` in a project's root conftest.py.
The tests in `test_contract.py` run the same check functions as the CLI, one item per check.
It is not auto-loaded (no pytest11 entry point): `--base-url` would clash with pytest-base-url.
"""

from __future__ import annotations

import pytest

from .options import SuiteOptions, build_options
from .profiles import PROFILES

OPTION_NAMES = (
    *("base_url", "ws_url", "project_ids", "missing_project_id", "header", "auth_required", "scenarios"),
    *("legacy_phase", "deterministic", "profile", "rules", "request_timeout", "first_event_timeout"),
    *("idle_timeout", "seed", "no_schemathesis"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stagecheck", "stagecheck contract suites")
    group.addoption("--base-url", help="Target API base URL (required).")
    group.addoption("--ws-url", help="WebSocket base URL (default: from --base-url).")
    group.addoption("--project-ids", default="1,2", help="Two project ids that exist on the target.")
    group.addoption("--missing-project-id", type=int, default=999_999_999, help="A project id that does not exist.")
    group.addoption("--header", action="append", default=[], help="'Name: value' sent with every request.")
    group.addoption("--auth-required", action="store_true", help="The target requires credentials (E2).")
    group.addoption("--scenarios", action="store_true", help="The target honours Prefer: scenario=...")
    group.addoption("--legacy-phase", choices=("compat", "removed"), help="Phase of the legacy endpoint.")
    group.addoption("--deterministic", action="store_true", help="Same input, same text in every mode (D1, L2).")
    group.addoption("--profile", choices=sorted(PROFILES), default="ci", help="How much to test.")
    group.addoption("--rules", help="Run only the checks of these rule ids, e.g. S2,Q1.")
    group.addoption("--request-timeout", type=float, default=10.0)
    group.addoption("--first-event-timeout", type=float, default=10.0)
    group.addoption("--idle-timeout", type=float, default=10.0)
    group.addoption("--seed", type=int, default=0)
    group.addoption("--no-schemathesis", action="store_true", help="Skip the Schemathesis property run.")


@pytest.fixture(scope="session")
def suite_options(pytestconfig: pytest.Config) -> SuiteOptions:
    get = pytestconfig.getoption
    if not get("base_url"):
        pytest.fail("the stagecheck contract suites need --base-url http://host:port (the target to test)")
    names = [
        "base_url",
        "ws_url",
        "project_ids",
        "missing_project_id",
        "header",
        "auth_required",
        "scenarios",
        "legacy_phase",
        "deterministic",
        "profile",
        "rules",
        "request_timeout",
        "first_event_timeout",
        "idle_timeout",
        "seed",
        "no_schemathesis",
    ]
    return build_options({name: get(name) for name in names})
