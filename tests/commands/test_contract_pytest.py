"""The contract suites under plain pytest (`-p stagecheck.suites.pytest_plugin --pyargs stagecheck.suites`)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest


def _pytest(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "stagecheck.suites.pytest_plugin"]
    command += ["--pyargs", "stagecheck.suites", "--base-url", url, "--profile", "quick", "--no-schemathesis"]
    command += ["--allow-type", "progress"]  # an option the plugin once lacked (now from the shared option table)
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_suites_pass_against_the_mock_and_fail_on_a_broken_server_with_the_rule_id(kit: SimpleNamespace) -> None:
    def skip_id(scope: dict[str, Any], fields: dict[str, str], state: dict[str, Any]) -> None:
        if fields.get("id") == "2":
            fields["id"] = "5"

    with kit.serve(kit.mock_app()) as url:
        passing = _pytest(url, "--rules", "S2")
    assert passing.returncode == 0, passing.stdout[-2000:]
    assert " passed" in passing.stdout and "failed" not in passing.stdout

    with kit.serve(kit.Broken(kit.mock_app(), kit.sse_hook(skip_id))) as url:
        failing = _pytest(url, "--rules", "S2")
    assert failing.returncode == 1
    assert "S2 [sse]: event id does not count up by one from 1" in failing.stdout


@pytest.mark.slow
def test_suites_without_a_base_url_fail_with_one_clear_line() -> None:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "stagecheck.suites.pytest_plugin"]
    result = subprocess.run(
        [*command, "--pyargs", "stagecheck.suites", "-k", "ws.ping"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "need --base-url" in result.stdout
