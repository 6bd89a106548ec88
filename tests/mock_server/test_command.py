"""`stagecheck mock`: binds, logs one line per request (never the token), stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

STAGECHECK = [sys.executable, "-m", "stagecheck"]


def test_port_in_use_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*STAGECHECK, "mock", "--port", str(port)], capture_output=True, text=True, timeout=30, check=False
        )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "already in use" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("options", [["--tokens", "-1"], ["--legacy-phase", "later"], ["--heartbeat-s", "0"]])
def test_bad_option_values_are_refused(options: list[str]) -> None:
    done = subprocess.run(
        [*STAGECHECK, "mock", "--port", "0", *options], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr


@pytest.mark.slow
def test_serves_logs_and_stops_cleanly_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [*STAGECHECK, "mock", "--port", "0", "--auth-token", "s3cret-token", "--tokens", "2", "--token-delay-ms", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        base = f"http://127.0.0.1:{match[1]}"
        headers = {"Authorization": "Bearer s3cret-token"}
        body = {"stage_name": "rewrite", "input_data": {"original_text": "hi"}, "use_streaming": True}
        response = httpx.post(f"{base}/api/v1/projects/projects/1/execute-stage/", json=body, headers=headers)
        assert response.status_code == 200 and "event: done" in response.text
        missing = httpx.get(
            f"{base}/api/v1/projects/projects/1/task-status/", params={"task_id": "x", "token": "s3cret-token"}
        )
        assert missing.status_code == 401
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=15)
    assert process.returncode == 0, rest
    lines = [line for line in rest.splitlines() if "/api/v1/" in line]
    assert len(lines) == 2, rest
    assert re.search(r"POST /api/v1/projects/projects/1/execute-stage/ 200 [\d.]+ms$", lines[0]), lines[0]
    assert re.search(r"GET /api/v1/projects/projects/1/task-status/ 401 [\d.]+ms$", lines[1]), lines[1]
    assert "s3cret-token" not in rest  # never the token, not even from the query string
    assert "Traceback" not in rest and os.name == "posix"
