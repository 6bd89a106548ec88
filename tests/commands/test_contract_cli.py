"""`stagecheck contract` end to end: the mock conforms; each broken server is blamed on its rule."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

Contract = Callable[..., Any]  # conftest.contract: runs the CLI, returns a Run


@pytest.mark.slow
def test_embedded_mock_conforms_with_every_rule_passed(contract: Contract) -> None:
    run = contract("--profile", "quick")
    assert run.exit_code == 0, run.output
    statuses = {(c["rule"], c["transport"]): c["status"] for c in run.results["rules"]}
    not_passed = {key: status for key, status in statuses.items() if status != "passed"}
    # Only what needs another target setup is not run: auth (E2) and the removed phase (L3).
    assert set(not_passed) == {("E2", "http"), ("E2", "ws"), ("L3", "http")}
    assert run.results["exit_code"] == 0 and run.results["counts"]["failed"] == 0
    assert "conforms (exit 0)" in run.output and "wall time" in run.output
    assert (run.report_dir / "index.html").read_text().startswith("<!DOCTYPE html>")
    assert run.junit.count("<testcase") == len(statuses)


@pytest.mark.slow
def test_broken_server_is_blamed_on_its_rule(
    contract: Contract, kit: SimpleNamespace, broken_case: tuple[Any, ...]
) -> None:
    wrap, args, rule, transport, also = broken_case
    with kit.serve(wrap(kit.mock_app())) as url:
        run = contract("--base-url", url, *kit.MOCK_FLAGS, *args)
    assert run.exit_code == 1, run.output
    assert (rule, transport) in run.failed, run.output
    assert run.failed_rules - {rule} <= also, run.output
    assert f'name="{rule} [{transport}]' in run.junit
    failure = next(f for f in run.results["findings"] if (f["rule"], f["transport"]) == (rule, transport))
    assert failure["received"] or failure["message"]
    assert failure["timeline"] or failure["reproduce"]


@pytest.mark.slow
def test_removed_phase_answering_404_is_blamed_on_l3(contract: Contract, kit: SimpleNamespace) -> None:
    def not_gone(status: int, body: Any) -> tuple[int, Any]:
        return (404, body) if status == 410 else (status, body)

    app = kit.Broken(kit.mock_app(legacy_phase="removed"), kit.json_body_hook("rewrite_stream", not_gone))
    with kit.serve(app) as url:
        run = contract(
            "--base-url",
            url,
            "--scenarios",
            "--legacy-phase",
            "removed",
            "--profile",
            "quick",
            "--no-schemathesis",
            "--rules",
            "L3",
        )
    assert run.exit_code == 1, run.output
    assert run.failed == {("L3", "http")}


@pytest.mark.slow
def test_removed_phase_conforms(contract: Contract, kit: SimpleNamespace) -> None:
    with kit.serve(kit.mock_app(legacy_phase="removed")) as url:
        run = contract(
            "--base-url",
            url,
            "--legacy-phase",
            "removed",
            "--scenarios",
            "--profile",
            "quick",
            "--rules",
            "L3,L4",
        )
    # Schemathesis runs too: 410 must be an expected answer to valid and invalid legacy requests.
    assert run.exit_code == 0, run.output
    assert run.cell("L3", "http")["status"] == "passed"
    assert "http.schemathesis" in run.cell("L3", "http")["checks"]


# -- auth and redaction ------------------------------------------------------------------------

SECRET = "s3cret-token-for-stagecheck-tests"


@pytest.mark.slow
def test_auth_required_target_passes_and_the_token_never_appears(contract: Contract, kit: SimpleNamespace) -> None:
    with kit.serve(kit.mock_app(auth_token=SECRET)) as url:
        run = contract(
            "--base-url",
            url,
            "--auth-required",
            "--header",
            f"Authorization: Bearer {SECRET}",
            "--rules",
            "E2,W2,Q5",
            "--profile",
            "quick",
            "--no-schemathesis",
        )
    assert run.exit_code == 0, run.output
    assert run.cell("E2", "http")["status"] == "passed" and run.cell("E2", "ws")["status"] == "passed"
    for path in run.report_dir.iterdir():
        assert SECRET not in path.read_text(), path
    assert SECRET not in run.output


@pytest.mark.slow
def test_auth_not_enforced_is_blamed_on_e2_and_the_token_is_redacted(contract: Contract, kit: SimpleNamespace) -> None:
    def add_credentials(scope: dict[str, Any]) -> dict[str, Any]:
        if scope["type"] == "http":
            scope["headers"] = [*scope["headers"], (b"authorization", f"Bearer {SECRET}".encode())]
        elif scope["type"] == "websocket" and b"token=" not in scope["query_string"]:
            scope["query_string"] = b"&".join(q for q in (scope["query_string"], f"token={SECRET}".encode()) if q)
        return scope

    with kit.serve(kit.Broken(kit.mock_app(auth_token=SECRET), on_scope=add_credentials)) as url:
        run = contract(
            "--base-url",
            url,
            "--auth-required",
            "--header",
            f"Authorization: Bearer {SECRET}",
            "--rules",
            "E2",
            "--profile",
            "quick",
            "--no-schemathesis",
        )
    assert run.exit_code == 1, run.output
    assert run.failed == {("E2", "http"), ("E2", "ws")}
    for path in run.report_dir.iterdir():
        assert SECRET not in path.read_text(), path
    assert "***" in (run.report_dir / "results.json").read_text()


# -- targets that cannot be tested ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_target_down_exits_2_with_a_report(contract: Contract) -> None:
    run = contract("--base-url", f"http://127.0.0.1:{_free_port()}", "--profile", "quick")
    assert run.exit_code == 2, run.output
    assert "cannot connect" in run.results["error"]
    assert run.results["exit_code"] == 2 and "Traceback" not in run.output


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    sock.close()


def test_silent_target_exits_2_within_the_timeout(contract: Contract, silent_server: str) -> None:
    run = contract("--base-url", silent_server, "--request-timeout", "1", "--profile", "quick")
    assert run.exit_code == 2, run.output
    assert "no answer within 1 s" in run.results["error"]
    assert run.results["wall_s"] < 10


def test_garbage_answering_target_exits_2(contract: Contract) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def answer() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn = sock.accept()[0]
            except TimeoutError:
                continue
            conn.sendall(b"\x00\xffthis is not http\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        run = contract("--base-url", f"http://127.0.0.1:{sock.getsockname()[1]}", "--profile", "quick")
    finally:
        stop.set()
        thread.join(2)
        sock.close()
    assert run.exit_code == 2, run.output
    assert "does not speak HTTP" in run.results["error"]


def test_json_garbage_is_a_violation_not_a_crash(contract: Contract, kit: SimpleNamespace) -> None:
    async def garbage(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:  # bounded by the server's own start and stop
                kind = (await receive())["type"]
                await send({"type": kind + ".complete"})
                if kind == "lifespan.shutdown":
                    return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"[[[ not json"})

    with kit.serve(garbage) as url:
        run = contract("--base-url", url, "--profile", "quick", "--no-schemathesis", "--rules", "E1,E4,T1,T2")
    assert run.exit_code == 1, run.output
    assert {"E4", "T2"} <= run.failed_rules


def test_bad_arguments_exit_2_with_one_line(contract: Contract) -> None:
    run = contract("--base-url", "ftp://nowhere", "--profile", "quick")
    assert run.exit_code == 2
    assert "expected http(s)://host[:port]" in run.output
    run = contract("--rules", "S2,ZZ")
    assert run.exit_code == 2 and "unknown rule id ZZ" in run.output
    run = contract("--project-ids", "1")
    assert run.exit_code == 2 and "--project-ids" in run.output


@pytest.mark.slow
def test_schemathesis_failures_come_back_named_by_rule(contract: Contract, kit: SimpleNamespace) -> None:
    def server_error(status: int, body: Any) -> tuple[int, Any]:
        return 500, {"error": "boom", "code": "internal"}

    with kit.serve(kit.Broken(kit.mock_app(), kit.json_body_hook("task-status", server_error))) as url:
        run = contract("--base-url", url, "--scenarios", "--profile", "quick", "--rules", "T1")
    assert run.exit_code == 1, run.output
    from_st = [f for f in run.results["findings"] if f["check"] == "http.schemathesis"]
    assert from_st, run.output
    assert {f["rule"] for f in from_st} <= {"E3", "T2", "T1"}
    assert any(f["rule"] == "E3" and f["reproduce"].startswith("curl") for f in from_st)


def test_interrupted_run_still_writes_what_it_measured(contract: Contract, monkeypatch: pytest.MonkeyPatch) -> None:
    from stagecheck.commands import contract as command
    from stagecheck.suites import runner

    async def interrupted(state: runner.RunState, progress: Any = None) -> None:
        def stop_after_first(event: str, check: Any, outcome: Any) -> None:
            if progress is not None:
                progress(event, check, outcome)
            if event == "end":
                raise KeyboardInterrupt

        await runner.run_checks(state, stop_after_first)

    monkeypatch.setattr(command, "run_checks", interrupted)
    run = contract("--profile", "quick", "--no-schemathesis")
    assert run.results["interrupted"] is True
    assert run.results["checks"][0]["name"] == "http.execute-stage-answers"
    assert run.cell("E4", "http")["status"] == "passed"
    assert run.cell("S2", "sse")["status"] == "not-run"
    assert "interrupted" in run.cell("S2", "sse")["reason"]
    assert run.exit_code == 130
    assert "interrupted" in (run.report_dir / "index.html").read_text().lower()


@pytest.mark.slow
def test_ctrl_c_writes_the_report_and_exits_130(tmp_path: Any) -> None:
    import signal
    import subprocess
    import sys

    report = tmp_path / "report"
    process = subprocess.Popen(
        [sys.executable, "-m", "stagecheck", "contract", "--profile", "quick", "--report-dir", str(report)],
        stderr=subprocess.PIPE,
        text=True,
        # A background shell ignores SIGINT, and children inherit that: restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # bounded: the run ends by itself within the profile's time
        seen.append(line)
        if "sse.stages" in line:
            process.send_signal(signal.SIGINT)
            break
    _, rest = process.communicate(timeout=30)
    assert process.returncode == 130, "".join(seen) + rest
    results = json.loads((report / "results.json").read_text())
    assert results["interrupted"] is True and results["exit_code"] == 130
    assert {"http.execute-stage-answers", "sse.stages"} <= {c["name"] for c in results["checks"]}
    assert "interrupted (exit 130)" in rest


@pytest.mark.slow
def test_a_spec_that_does_not_load_exits_2(contract: Contract, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from stagecheck.suites import schemathesis_suite

    broken = tmp_path / "openapi.yaml"
    broken.write_text("openapi: 3.2.0\npaths: [this is not a mapping\n")
    monkeypatch.setattr(schemathesis_suite, "OPENAPI_PATH", broken)
    run = contract("--profile", "quick", "--rules", "T1")
    assert run.exit_code == 2, run.output
    assert "http.schemathesis could not finish" in run.results["error"]
    assert "could not complete (exit 2)" in run.output


@pytest.mark.slow
def test_require_all_turns_rules_not_run_into_a_failure(contract: Contract) -> None:
    # Against the embedded mock without --auth-required, E2 cannot be checked: a gap, reported.
    run = contract("--profile", "quick", "--no-schemathesis", "--rules", "E2,E1", "--require-all")
    assert run.exit_code == 1, run.output
    assert "rules not run (--require-all)" in run.output and "E2/http" in run.output
    assert "rules not run (--require-all)" in (run.report_dir / "summary.md").read_text()
