"""`stagecheck load` end to end: exit codes, reports, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from stagecheck.cli import cli


def test_unreachable_target_exits_2_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["load", "--base-url", "http://127.0.0.1:9", "--users", "1", "--duration", "1s", "--report-dir", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert "cannot connect to http://127.0.0.1:9" in result.output and "Traceback" not in result.output
    # The report says why, like contract's does.
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["levels"] == [] and "cannot connect to http://127.0.0.1:9" in data["error"]
    assert "could not run: cannot connect" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "could not run: cannot connect" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_a_bad_value_is_refused_before_the_mock_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["load", "--users", "abc", "--report-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--users" in result.output
    assert "embedded mock" not in result.output and not (tmp_path / "results.json").exists()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--users", "10,x"], "--users"),
        (["--duration", "soon"], "--duration"),
        (["--modes", "grpc"], "--modes"),
        (["--gate", "/nonexistent.toml"], "--gate"),
        (["--slo", "ttft=fast"], "--slo"),
        (["--probes", "reconnect,telepathy"], "--probes: unknown probe telepathy"),
        (["--probes-only", "--probes", "none"], "would measure nothing"),
        (["--probes-only", "--find-capacity"], "cannot be used with --find-capacity"),
    ],
)
def test_misuse_exits_2_before_anything_starts(tmp_path: Path, args: list[str], match: str) -> None:
    result = CliRunner().invoke(cli, ["load", "--base-url", "http://127.0.0.1:9", *args, "--report-dir", str(tmp_path)])
    assert result.exit_code == 2 and match in result.output


@pytest.mark.slow
def test_gate_breach_exits_1_and_reports_are_written(toy_server, tmp_path: Path) -> None:
    server = toy_server("--fault", "drop", "--limit", "2")
    gate = tmp_path / "gate.toml"
    gate.write_text("[limits]\nmax_ttft_p95_ms = 10000\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["load", "--base-url", server.base_url, "--modes", "sse", "--users", "4", "--duration", "2s",
         "--prefer", "tokens=6, delay-ms=10", "--gate", str(gate), "--report-dir", str(tmp_path / "r"),
         "--target-pid", str(server.pid)],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "BREACH sse @ 4 users: max_violations" in result.output
    data = json.loads((tmp_path / "r" / "results.json").read_text(encoding="utf-8"))
    assert data["levels"][0]["violations"]["Q2"] > 0 and data["levels"][0]["server"]["pid"] == server.pid
    assert (tmp_path / "r" / "index.html").exists() and (tmp_path / "r" / "summary.md").exists()


@pytest.mark.slow
def test_ctrl_c_stops_and_still_writes_what_was_measured(toy_server, tmp_path: Path) -> None:
    server = toy_server()
    process = subprocess.Popen(
        [sys.executable, "-m", "stagecheck", "load", "--base-url", server.base_url, "--modes", "sse",
         "--users", "3", "--duration", "60s", "--prefer", "tokens=5, delay-ms=10", "--report-dir", str(tmp_path)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    time.sleep(8)  # Locust started, users spawned, streams measured
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    # 130, never a verdict: a cancelled CI job must not go green.
    assert process.returncode == 130, err
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["interrupted"] is True and data["levels"][0]["streams"] > 0
    assert "interrupted: no verdict" in err and "passed" not in err
    assert "interrupted: no verdict" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "interrupted: no verdict" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_probes_only_against_a_target_that_is_down_exits_2_and_writes_the_report(tmp_path: Path) -> None:
    args = ["load", "--base-url", "http://127.0.0.1:9", "--probes-only", "--probes", "reconnect,heartbeat"]
    result = CliRunner().invoke(cli, [*args, "--report-dir", str(tmp_path)])
    assert result.exit_code == 2 and "127.0.0.1:9" in result.output
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["error"] and "reconnection" not in data  # nothing was measured, and it says why


def test_probes_only_that_measured_nothing_is_exit_2_with_each_reason(tmp_path: Path) -> None:
    # The browser probe alone, with no Chromium where it is asked for: nothing judged is no pass.
    env = {"STAGECHECK_CHROMIUM": "/nonexistent/chromium"}
    result = CliRunner(env=env).invoke(
        cli, ["load", "--probes-only", "--probes", "browser", "--report-dir", str(tmp_path)]
    )
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert result.exit_code == 2, result.output
    assert "no probe could measure this target: browser: no Chromium at /nonexistent/chromium" in data["error"]
    assert data["browser"]["not_run"].startswith("no Chromium at /nonexistent/chromium")
