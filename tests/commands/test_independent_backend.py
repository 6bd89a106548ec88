"""`stagecheck contract` against an independent, correct backend (tests/backends/independent.py).

That backend shares no code with the mock, paces its tokens itself (10 ms apart) and honours
only section 9's `Prefer: scenario=...`: a gate that passed only because the target obeyed the
mock's own extensions (`tokens=`, `delay-ms=`) fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.backends.independent import BackendConfig, serve_backend

Contract = Callable[..., Any]  # conftest.contract: runs the CLI, returns a Run
FLAGS = ("--scenarios", "--deterministic")


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["compat", "removed"])
@pytest.mark.parametrize("profile", ["quick", "ci"])
def test_independent_backend_conforms(contract: Contract, profile: str, phase: str) -> None:
    with serve_backend(BackendConfig(legacy_phase=phase)) as url:
        run = contract("--base-url", url, *FLAGS, "--legacy-phase", phase, "--profile", profile)
    assert run.exit_code == 0, run.output
    assert run.results["counts"]["failed"] == 0 and run.results["findings"] == [], run.output
    # S5 judged against the WebSocket witness, W5's snapshot by a join timed from a measured task.
    assert run.cell("S5", "sse")["status"] == "passed", run.output
    assert "ws.seed-flow" in run.cell("W5", "ws")["checks"], run.output
    assert run.cell("L3", "http")["status"] == ("passed" if phase == "removed" else "not-run")


@pytest.mark.slow
def test_independent_backend_buffering_its_sse_answer_is_blamed_on_s5(contract: Contract) -> None:
    with serve_backend(BackendConfig(buffer_sse=True)) as url:
        run = contract("--base-url", url, *FLAGS, "--legacy-phase", "compat", "--profile", "quick", "--no-schemathesis")
    assert run.exit_code == 1, run.output
    assert run.failed == {("S5", "sse")}, run.output
    finding = next(f for f in run.results["findings"] if f["rule"] == "S5")
    assert "WebSocket" in finding["message"] and "buffered" in finding["message"]
    assert finding["timeline"]


@pytest.mark.slow
def test_a_target_that_does_not_pace_is_not_judged_on_s5(contract: Contract) -> None:
    config = BackendConfig(token_gap_s=0.0, first_token_s=0.0, buffer_sse=True)
    with serve_backend(config) as url:
        run = contract("--base-url", url, "--scenarios", "--profile", "quick", "--no-schemathesis", "--rules", "S5")
    assert run.exit_code == 0, run.output
    cell = run.cell("S5", "sse")
    assert cell["status"] == "not-run" and cell["reason"].startswith("the target does not pace its tokens"), cell
