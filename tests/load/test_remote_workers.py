"""Master and workers as on separate hosts: `stagecheck load --expect-workers` + `stagecheck load-worker`.

Everything runs on this machine over loopback, but the workers are started as another
host would start them: separate processes that know only the master's address, and get
the stream settings from it. A sweep of two levels checks that the workers come back for
the second level's master, and that the merged results count every worker's streams.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from stagecheck.cli import cli

PREFER = "tokens=5, delay-ms=20"
DONE = re.compile(r"level (\d+) done: (\d+) streams counted")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stagecheck(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stagecheck", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


class Collected:
    """A process's stderr, read line by line in a thread (the test can wait for a line)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.seen = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self.seen:
                self.lines.append(line.rstrip("\n"))
                self.seen.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self.seen:
            while True:
                for line in self.lines:
                    if match := pattern.search(line):
                        return match
                left = deadline - time.monotonic()
                assert left > 0, f"no line matching {pattern.pattern!r} in:\n" + "\n".join(self.lines)
                self.seen.wait(left)

    def finish(self, timeout: float) -> str:
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self.thread.join(timeout=5)
        return "\n".join(self.lines)


def _master(base_url: str, port: int, report_dir: Path, *extra: str) -> Collected:
    args = ["load", "--base-url", base_url, "--users", "4", "--duration", "3s", "--spawn-rate", "16",
            "--prefer", PREFER, "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
            "--report-dir", str(report_dir), *extra]  # fmt: skip
    return Collected(_stagecheck(*args))


def _worker(port: int) -> Collected:
    return Collected(_stagecheck("load-worker", "--master-host", "127.0.0.1", "--master-port", str(port)))


@pytest.mark.slow
def test_two_remote_workers_serve_every_level_and_their_streams_are_merged(toy_server, tmp_path: Path) -> None:
    server = toy_server()
    port = _free_port()
    master = _master(server.base_url, port, tmp_path, "--modes", "sse,ws", "--expect-workers", "2")
    workers = [_worker(port), _worker(port)]
    try:
        master_err = master.finish(timeout=150)
        worker_errs = [worker.finish(timeout=30) for worker in workers]
    finally:
        for process in (master, *workers):
            if process.process.poll() is None:
                process.process.kill()
    assert master.process.returncode == 0, master_err
    assert "stagecheck load-worker --master-host 127.0.0.1 --master-port " + str(port) in master_err
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert (tmp_path / "index.html").exists() and (tmp_path / "summary.md").exists()
    assert data["config"]["expect_workers"] == 2 and not data["interrupted"]
    # Each load-worker ran one Locust worker per level and said how many streams it counted.
    per_worker: list[dict[int, int]] = []
    for worker, err in zip(workers, worker_errs, strict=True):
        assert worker.process.returncode == 0, err
        assert "the master ended the sweep after 2 levels" in err, err
        per_worker.append({int(m.group(1)): int(m.group(2)) for m in DONE.finditer(err)})
    for index, level in enumerate(data["levels"], start=1):
        assert level["processes"] == 2, level
        assert level["violations"] == {}, level
        assert level["failed"] == 0 and level["incomplete"] == 0 and level["task_errors"] == 0, level
        # Both workers ran users; the master's merged count is exactly the sum of theirs.
        counts = [streams[index] for streams in per_worker]
        assert all(count > 0 for count in counts), (index, per_worker)
        assert level["streams"] == sum(counts), (index, level["streams"], per_worker)
        # 4 closed-loop users on streams of ~100 ms for 3 s: far more than a handful.
        assert level["streams"] >= 40, level
        assert level["ttft"]["count"] > 0 and level["itl"]["count"] > 0
    assert [level["mode"] for level in data["levels"]] == ["sse", "ws"]
    log = (tmp_path / "logs" / "locust-sse-4.log").read_text(encoding="utf-8")
    assert "streams per worker" in log


def test_no_worker_exits_2_with_one_line(tmp_path: Path) -> None:
    # Nothing is measured: no report. (The target is not reached by anyone: reachable is enough.)
    port = _free_port()
    with SocketServer() as base_url:
        result = CliRunner().invoke(
            cli,
            ["load", "--base-url", base_url, "--modes", "sse", "--users", "2", "--duration", "1s",
             "--expect-workers", "2", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--workers-timeout", "3s", "--report-dir", str(tmp_path)],
        )  # fmt: skip
    errors = [line for line in result.output.splitlines() if line.startswith("stagecheck: error:")]
    assert result.exit_code == 2, result.output
    assert len(errors) == 1 and "0 of 2 workers connected" in errors[0], result.output
    assert "Traceback" not in result.output
    # Nothing was measured, but the report says why (as for a target that is down).
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["levels"] == [] and "0 of 2 workers connected" in data["error"]


@pytest.mark.slow
def test_worker_lost_between_levels_exits_2_and_reports_what_was_measured(toy_server, tmp_path: Path) -> None:
    server = toy_server()
    port = _free_port()
    master = _master(
        server.base_url, port, tmp_path, "--modes", "sse,ws", "--expect-workers", "1", "--workers-timeout", "8s"
    )
    worker = _worker(port)
    try:
        worker.wait_for(DONE, timeout=90)  # the first level is over; this "host" now goes away
        worker.process.send_signal(signal.SIGINT)
        worker_err = worker.finish(timeout=30)
        master_err = master.finish(timeout=90)
    finally:
        for process in (master, worker):
            if process.process.poll() is None:
                process.process.kill()
    assert worker.process.returncode == 130, worker_err
    assert master.process.returncode == 2, master_err
    errors = [line for line in master_err.splitlines() if line.startswith("stagecheck: error:")]
    assert len(errors) == 1 and "0 of 1 workers connected" in errors[0], master_err
    assert "report: " in errors[0] and "Traceback" not in master_err
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["interrupted"] is True
    (level,) = data["levels"]
    assert level["mode"] == "sse" and level["processes"] == 1 and level["streams"] > 0, level
    assert (tmp_path / "index.html").exists()


class SocketServer:
    """A bare HTTP server that answers 404: reachable, and never streams."""

    def __enter__(self) -> str:
        import http.server

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
def test_load_worker_without_a_master_exits_2_with_one_line() -> None:
    port = _free_port()  # nothing listens there
    started = time.monotonic()
    result = CliRunner().invoke(
        cli, ["load-worker", "--master-host", "127.0.0.1", "--master-port", str(port), "--connect-timeout", "2s"]
    )
    errors = [line for line in result.output.splitlines() if line.startswith("stagecheck: error:")]
    assert result.exit_code == 2, result.output
    assert len(errors) == 1 and f"no stagecheck load master answered at 127.0.0.1:{port}" in errors[0], result.output
    assert "Traceback" not in result.output
    assert time.monotonic() - started < 40  # Locust's 5-minute default wait was shortened


@pytest.mark.slow
def test_ctrl_c_on_the_master_ends_the_workers_too(toy_server, tmp_path: Path) -> None:
    server = toy_server()
    port = _free_port()
    master = _master(server.base_url, port, tmp_path, "--modes", "sse,ws", "--expect-workers", "1", "--duration", "60s")
    worker = _worker(port)
    try:
        master.wait_for(re.compile(r"holding .* streams +[1-9]"), timeout=90)
        master.process.send_signal(signal.SIGINT)
        master_err = master.finish(timeout=60)
        worker_err = worker.finish(timeout=30)
    finally:
        for process in (master, worker):
            if process.process.poll() is None:
                process.process.kill()
    assert master.process.returncode == 130, master_err  # interrupted: no verdict
    # The worker heard that no level follows: it ends by itself, and its streams were all merged.
    assert worker.process.returncode == 0, worker_err
    assert "the master ended the sweep after 1 levels" in worker_err, worker_err
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    (level,) = data["levels"]
    assert data["interrupted"] is True and level["streams"] > 0 and level["incomplete"] == 0, level
    assert level["streams"] == int(DONE.search(worker_err).group(2)), (level["streams"], worker_err)  # type: ignore[union-attr]
