"""Every run ends within its budget, with its reports, whatever the target does.

The targets hang the way real ones do (tests/backends/hanging.py, built on the independent
backend, not on the mock). `--profile ci` with a short `--max-time` must end by then plus
10 %, write results.json, junit.xml and index.html, and name the rule the hang showed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from stagecheck.cli import cli
from tests.backends.hanging import serve_hanging

MAX_TIME_S = 12.0
BOUNDS = ("--first-event-timeout", "2", "--idle-timeout", "2", "--request-timeout", "3")


def gate(url: str, report: Path, *args: str) -> tuple[int, str, float]:
    started = time.perf_counter()
    result = CliRunner().invoke(
        cli,
        ["contract", "--base-url", url, "--profile", "ci", "--max-time", f"{MAX_TIME_S:g}", *BOUNDS,
         "--report-dir", str(report), *args],
    )  # fmt: skip
    return result.exit_code, result.output, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "rule"),
    [("silent-sse", "Q6"), ("endless-sse", None), ("silent-socket", "Q6"), ("no-task-id", "Q5")],
)
def test_a_hanging_target_ends_within_the_budget_with_a_report(tmp_path: Path, kind: str, rule: str | None) -> None:
    with serve_hanging(kind) as url:
        code, output, wall_s = gate(url, tmp_path, "--no-schemathesis")
    assert wall_s <= MAX_TIME_S * 1.1, f"{wall_s:.1f} s\n{output}"
    assert code in (1, 2), output
    for name in ("results.json", "junit.xml", "index.html", "summary.md"):
        assert (tmp_path / name).is_file(), name
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    found = {f["rule"] for f in results["findings"]}
    if rule is not None:
        assert rule in found, output
    # What the budget cut short is said, never passed.
    reasons = {c["reason"] for c in results["rules"] if c["status"] == "not-run"}
    if results["max_time_s"] is not None:
        assert any("--max-time" in r for r in reasons) and "--max-time" in output


@pytest.mark.slow
def test_schemathesis_on_an_endless_answer_is_stopped_with_the_run(tmp_path: Path) -> None:
    with serve_hanging("endless-sse") as url:
        code, output, wall_s = gate(url, tmp_path, "--rules", "E1,E3,E4,T1,T2,S1,M1")
    assert wall_s <= MAX_TIME_S * 1.1, f"{wall_s:.1f} s\n{output}"
    assert code in (1, 2) and (tmp_path / "results.json").is_file(), output
    checks = {c["name"] for c in json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["checks"]}
    assert "http.schemathesis" in checks
