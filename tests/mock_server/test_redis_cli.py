"""`stagecheck mock --broker redis://... --workers N --executor celery`, as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import pytest
from websockets.sync.client import connect

from tests.redis_server import free_port

STAGECHECK = [sys.executable, "-m", "stagecheck"]
pytestmark = [pytest.mark.redis]
BODY = {"stage_name": "rewrite", "input_data": {"original_text": "cli 命令行 🎬"}}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STAGECHECK, *args], capture_output=True, text=True, timeout=60, check=False)


def test_unreachable_redis_is_one_clear_line_and_exit_2() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = run_cli("mock", "--broker", url, "--port", str(free_port()))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"stagecheck: error: cannot reach Redis at {url}: connection refused; start redis-server or use --broker memory"
    )


def test_several_workers_need_redis() -> None:
    result = run_cli("mock", "--workers", "2", "--port", str(free_port()))
    assert result.returncode == 2
    assert "--workers 2 needs --broker redis://" in result.stderr


@pytest.fixture
def celery_mock(redis_url: str, kit: Any) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with kit.scratch_prefix(redis_url) as prefix:
        port = free_port()
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"stagecheck-cli-{prefix.split(':')[1]}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [
                    *STAGECHECK,
                    "mock",
                    "--broker",
                    redis_url,
                    "--redis-prefix",
                    prefix,
                    "--workers",
                    "2",
                    "--executor",
                    "celery",
                    "--port",
                    str(port),
                    "--quiet",
                ],
                stdout=sink,
                stderr=sink,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            kit.wait_until_serving(process, base, 90, lambda: log.read_text()[-2000:], pause_s=0.3)
            yield base, process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.unlink(missing_ok=True)


@pytest.mark.slow
def test_celery_mock_streams_the_same_text_as_sse_and_stops_cleanly(
    celery_mock: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, process = celery_mock
    children = psutil.Process(process.pid).children(recursive=True)
    assert any("celery" in " ".join(child.cmdline()) for child in children), "no Celery worker process"
    ws_url = base.replace("http://", "ws://") + "/ws/projects/1/stage/rewrite/"
    with connect(ws_url, open_timeout=10) as websocket:
        assert orjson.loads(websocket.recv(10))["type"] == "connected"
        answer = httpx.post(f"{base}/api/v1/projects/projects/1/execute-stage/", json=BODY, timeout=10)
        assert answer.status_code == 202, answer.text
        task_id = answer.json()["task_id"]
        while True:
            message = orjson.loads(websocket.recv(20))
            if message["type"] in ("done", "error"):
                break
    assert message == {"type": "done", "full_text": message["full_text"], "task_id": task_id}
    streamed = httpx.post(
        f"{base}/api/v1/projects/projects/1/execute-stage/", json={**BODY, "use_streaming": True}, timeout=20
    )
    events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
    assert orjson.loads(events[-1])["full_text"] == message["full_text"]  # D1 across executors
    status = httpx.get(f"{base}/api/v1/projects/projects/1/task-status/", params={"task_id": task_id}).json()
    assert status["status"] == "SUCCESS" and status["result"]["full_text"] == message["full_text"]

    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0
    # Grandchildren may still be finishing their own shutdown when the parent returns: give
    # them a bounded moment, then none may be left (a leaked worker would still be running).
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not [child for child in alive if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
