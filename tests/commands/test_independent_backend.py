"""`stagecheck contract` against an independent, correct backend (tests/backends/independent.py).

That backend shares no code with the mock, paces its tokens itself (10 ms apart) and honours
only section 9's `Prefer: scenario=...`: a gate that passed only because the target obeyed the
mock's own extensions (`tokens=`, `delay-ms=`) fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.backends.hanging import serve_hanging
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


@pytest.mark.slow
def test_s5_is_judged_without_scenarios(contract: Contract) -> None:
    # S5 needs only async mode: the WebSocket witness, with no `Prefer` sent at all.
    with serve_backend(BackendConfig(buffer_sse=True)) as url:
        run = contract("--base-url", url, "--profile", "quick", "--no-schemathesis", "--rules", "S5")
    assert run.exit_code == 1, run.output
    assert run.failed == {("S5", "sse")}, run.output
    assert run.cell("S5", "sse")["checks"] == ["sse.flushing"], run.cell("S5", "sse")


# A broken variant of the backend (a BackendConfig switch), the rules it is run for, the rule it
# must be blamed on, and the other rules the break rightly breaks too.
BROKEN_VARIANTS: dict[str, tuple[dict[str, Any], tuple[str, ...], tuple[str, str], set[str]]] = {
    "leaks-across-projects": ({"leak_projects": True}, ("--rules", "W6"), ("W6", "ws"), set()),
    "group-ignores-the-stage": ({"ignore_stage": True}, ("--rules", "W6"), ("W6", "ws"), set()),
    "body-over-1mib-gets-500": ({"body_limit_status": 500}, ("--rules", "E3"), ("E3", "http"), set()),
    "body-over-1mib-gets-a-text-413": ({"body_limit_text": True}, ("--rules", "E1"), ("E1", "http"), set()),
    "late-join-without-snapshot": ({"no_snapshot": True}, ("--rules", "W5"), ("W5", "ws"), set()),
    "late-join-snapshot-is-a-tail": ({"wrong_snapshot": True}, ("--rules", "W5"), ("W5", "ws"), set()),
    "legacy-no-cache-control": ({"legacy_no_cache_control": True}, ("--rules", "S6"), ("S6", "sse"), set()),
    "closed-before-connected": (
        {"close_before_connected": True},
        ("--rules", "W2", "--idle-timeout", "1"),
        ("W2", "ws"),
        {"Q1", "Q6", "W5", "T3"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(BROKEN_VARIANTS))
def test_broken_independent_backend_is_blamed_on_its_rule(contract: Contract, variant: str) -> None:
    config, args, (rule, transport), also = BROKEN_VARIANTS[variant]
    with serve_backend(BackendConfig(**config)) as url:
        run = contract(
            "--base-url", url, *FLAGS, "--legacy-phase", "compat", "--profile", "quick", "--no-schemathesis", *args
        )
    assert run.exit_code == 1, run.output
    assert (rule, transport) in run.failed, run.output
    assert run.failed_rules - {rule} <= also, run.output
    finding = next(f for f in run.results["findings"] if (f["rule"], f["transport"]) == (rule, transport))
    assert finding["received"] or finding["message"]
    assert finding["timeline"] or finding["reproduce"]


@pytest.mark.slow
def test_a_silent_socket_is_q6_not_ok(contract: Contract) -> None:
    # Accepted, then nothing: ws.subscribe-first and ws.ping name the silence instead of reporting ok.
    with serve_hanging("silent-socket") as url:
        run = contract(
            "--base-url", url, "--profile", "quick", "--no-schemathesis", "--rules", "W2,W3", "--idle-timeout", "1"
        )
    assert run.exit_code == 1, run.output
    assert ("Q6", "ws") in run.failed, run.output
    checks = {f["check"] for f in run.results["findings"] if f["rule"] == "Q6"}
    assert {"ws.subscribe-first", "ws.ping"} <= checks, run.output
    assert run.cell("W3", "ws")["status"] == "not-run", run.cell("W3", "ws")
