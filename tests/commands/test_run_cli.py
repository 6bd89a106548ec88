"""`stagecheck run`: the main job end to end against the embedded mock, and a dead target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

STAGECHECK = [sys.executable, "-m", "stagecheck"]


def run_main_job(tmp_path: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [*STAGECHECK, "run", "--report-dir", str(tmp_path / "latest"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
        check=False,
    )


@pytest.mark.slow
def test_main_job_against_the_embedded_mock_passes_and_links_both_reports(tmp_path: Path) -> None:
    started = time.perf_counter()
    done = run_main_job(tmp_path, "--users", "3", "--duration", "2s")
    assert done.returncode == 0, done.stderr[-3000:]
    assert time.perf_counter() - started < 180
    latest = tmp_path / "latest"
    front = (latest / "index.html").read_text(encoding="utf-8")
    assert 'href="contract/index.html"' in front and 'href="load/index.html"' in front
    assert "passed" in front
    contract = json.loads((latest / "contract" / "results.json").read_text(encoding="utf-8"))
    assert contract["exit_code"] == 0 and contract["counts"]["failed"] == 0
    load = json.loads((latest / "load" / "results.json").read_text(encoding="utf-8"))
    assert {(level["mode"], level["users"]) for level in load["levels"]} == {("sse", 3), ("ws", 3)}
    assert all(level["streams"] > 0 for level in load["levels"])
    # Progress is shown while it runs, and the end says where the report is.
    assert "[1/2] contract gate" in done.stderr and "[2/2] SSE against WebSocket" in done.stderr
    assert str((latest / "index.html").resolve()) in done.stderr


def test_main_job_against_a_dead_target_exits_2_and_still_writes_the_front_page(tmp_path: Path) -> None:
    done = run_main_job(tmp_path, "--base-url", "http://127.0.0.1:1", timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "127.0.0.1:1" in done.stderr
    assert (tmp_path / "latest" / "index.html").is_file()


def test_a_bad_value_is_refused_before_the_gate_runs(tmp_path: Path) -> None:
    done = run_main_job(tmp_path, "--users", "abc", timeout=60)
    assert done.returncode == 2 and "--users" in done.stderr
    assert "[1/2]" not in done.stderr and "embedded mock" not in done.stderr


@pytest.mark.slow
def test_ctrl_c_in_the_load_phase_exits_130_with_no_verdict(tmp_path: Path) -> None:
    import signal

    process = subprocess.Popen(
        [*STAGECHECK, "run", "--report-dir", str(tmp_path / "latest"), "--users", "3", "--duration", "60s"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
        # A background shell ignores SIGINT, and children inherit that: restore the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # bounded: the gate ends by itself, then the load phase starts
        seen.append(line)
        if "[2/2]" in line:
            break
    time.sleep(8)  # Locust started and streams measured
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=90)
    assert process.returncode == 130, "".join(seen) + rest
    front = (tmp_path / "latest" / "index.html").read_text(encoding="utf-8")
    assert "interrupted: no verdict" in front and ">passed<" not in front.split("</h1>")[0]
    load = json.loads((tmp_path / "latest" / "load" / "results.json").read_text(encoding="utf-8"))
    assert load["interrupted"] is True
    assert "stagecheck run: interrupted: no verdict" in rest
