"""Run one level (one mode, one user count) as a Locust process, and read what it measured.

Locust runs in a child process (`python -m locust -f locustfile.py ...`, headless, or
with its web UI for `--ui`), in a session of its own so that a terminal Ctrl-C reaches
only us: we then stop it with SIGTERM and it still writes what it measured. While the
level is held (from "all users spawned" to "stopping"), the target's and the client's
process trees are sampled for CPU and memory.

With `expect_workers` (workers on other hosts, `stagecheck load-worker`), the process is a
Locust master bound to `master_bind_host:master_bind_port` that waits for that many
workers; if they are not all there within `workers_timeout_s`, the level is stopped and
`WorkersMissing` raised. The settings reach the workers through the master (locust_hooks).
What the Locust process is told, and what it says back, is in `wire`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from stagecheck.errors import StagecheckError
from stagecheck.results.load_results import LevelResult, Mode, ProcessSample

from .config import USER_CLASS_FOR_MODE, SweepConfig
from .metrics import level_result_from_wire
from .process_sampler import ProcessSampler
from .wire import (
    ChildEnvironment,
    LevelOutput,
    Message,
    ProgressReport,
    WindowEnd,
    WindowStart,
    decode,
    is_progress_line,
    mark_sweep_over,
)

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# Streams running when the level stops may finish (their figures count) for this long.
STOP_TIMEOUT_S = 10.0
# Time for Locust to start (imports, workers connecting) and to write its results.
STARTUP_SLACK_S = 60.0


class LoadProcessError(StagecheckError):
    """The Locust process did not produce results (its log says why)."""


class WorkersMissing(StagecheckError):
    """Fewer external workers than --expect-workers connected in time (exit 2).

    `partial` holds the levels measured before (set by the sweep), for the reports.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.partial: Any = None


@dataclass(frozen=True)
class Progress:
    """What a running level has done so far, for the progress display."""

    mode: Mode
    users: int
    level_index: int
    level_count: int
    phase: str  # "starting" | "ramping" | "holding" | "stopping"
    elapsed_s: float
    running_users: int
    streams: int
    failures: int
    web_url: str | None = None  # Locust's web UI, with --ui
    workers: int = 0  # external workers connected (phase "waiting" until all are)
    expect_workers: int = 0


ProgressCallback = Callable[[Progress], None]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_command(config: SweepConfig, mode: Mode, users: int, web_port: int | None = None) -> list[str]:
    # Headless levels end `duration` after the ramp (locust_hooks); --run-time is a safety net
    # for a ramp that never completes. With the web UI, Locust's own run time rules.
    if web_port is None:
        run_time = math.ceil(2 * config.ramp_s(users) + config.duration_s + 30)
    else:
        run_time = math.ceil(config.ramp_s(users) + config.duration_s)
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        USER_CLASS_FOR_MODE[mode],
        "--users",
        str(users),
        "--spawn-rate",
        f"{config.rate_for(users):g}",
        "--run-time",
        f"{run_time}s",
        "--host",
        config.stream.base_url,
        "--stop-timeout",
        f"{STOP_TIMEOUT_S:g}",
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    if web_port is not None:
        command += ["--autostart", "--autoquit", "3", "--web-host", "127.0.0.1", "--web-port", str(web_port)]
    else:
        command += ["--headless"]
    if config.expect_workers:
        command += [
            "--master",
            "--expect-workers",
            str(config.expect_workers),
            "--master-bind-host",
            config.master_bind_host,
            "--master-bind-port",
            str(config.master_bind_port),
        ]
    elif config.processes > 1:
        port = free_port()
        command += [
            "--processes",
            str(config.processes),
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--master-host",
            "127.0.0.1",
            "--master-port",
            str(port),
        ]
    return command


class LevelRun:
    """One Locust process for one level; `run()` returns the level's result."""

    def __init__(
        self,
        config: SweepConfig,
        mode: Mode,
        users: int,
        *,
        level_index: int = 1,
        level_count: int = 1,
        progress: ProgressCallback | None = None,
        last: bool = True,
    ) -> None:
        self.config = config
        self.mode = mode
        self.users = users
        self.level_index = level_index
        self.level_count = level_count
        self.progress = progress
        self.last = last  # no level follows (external workers are told so)
        self.process: subprocess.Popen[str] | None = None
        self._phase = "waiting" if config.expect_workers else "starting"
        self._workers = 0
        self.workers_missing = False
        self.per_worker: dict[str, int] = {}
        self._control: Path | None = None
        self._started = 0.0
        self._stop_requested = False
        self.interrupted = False
        self.web_port = (config.web_port or free_port()) if config.web_ui else None
        self._written = threading.Event()
        self._target_sampler: ProcessSampler | None = None
        self._client_sampler: ProcessSampler | None = None
        self.server: ProcessSample | None = None
        self.client: ProcessSample | None = None

    def stop(self, final: bool = False) -> None:
        """Ask the running Locust to stop now (it still writes what it measured).

        `final`: the sweep ends with this level (external workers are told not to come back).
        """
        self._stop_requested = True
        if final and self._control is not None:
            mark_sweep_over(self._control)
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)

    def run(self) -> LevelResult:
        with tempfile.TemporaryDirectory(prefix="stagecheck-level-") as tmp:
            out_path = Path(tmp) / "level.json"
            log_path = self._log_path(Path(tmp))
            external = bool(self.config.expect_workers)
            if external:
                self._control = Path(tmp) / "control"
            env = ChildEnvironment(
                settings=self.config.stream,
                out=out_path,
                hold_s=self.config.duration_s if self.web_port is None else None,
                external=external,
                last=self.last if external else None,
                control=self._control,
            ).environ()
            self._started = time.monotonic()
            deadline = (
                self._started
                + 2 * self.config.ramp_s(self.users)
                + self.config.duration_s
                + 30
                + STOP_TIMEOUT_S
                + STARTUP_SLACK_S
                + (self.config.workers_timeout_s if self.config.expect_workers else 0.0)
            )
            with open(log_path, "w", encoding="utf-8") as log:
                self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our locustfile
                    locust_command(self.config, self.mode, self.users, self.web_port),
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    env=env,
                    start_new_session=True,
                )
                reader = threading.Thread(target=self._read_stdout, args=(self.process.stdout, log), daemon=True)
                reader.start()
                try:
                    self._wait(deadline)
                finally:
                    self._end_sampling()
                    if self.process.poll() is None:
                        self.process.kill()
                        self.process.wait()
                    reader.join(timeout=5)
            return self._result(out_path, log_path)

    def _log_path(self, tmp: Path) -> Path:
        if self.config.log_dir:
            directory = Path(self.config.log_dir)
            directory.mkdir(parents=True, exist_ok=True)
            return directory / f"locust-{self.mode}-{self.users}.log"
        return tmp / "locust.log"

    def _wait(self, deadline: float) -> None:
        assert self.process is not None
        try:
            while self.process.poll() is None:
                if time.monotonic() > deadline:
                    self._stop_and_wait()
                    break
                if self._phase == "waiting" and time.monotonic() - self._started > self.config.workers_timeout_s:
                    self.workers_missing = True
                    self._stop_and_wait(final=True)
                    break
                time.sleep(0.1)
        except KeyboardInterrupt:
            # Ctrl-C: stop the level, keep what it measured; the sweep stops after it.
            self.interrupted = True
            self._stop_and_wait(final=True)

    def _stop_and_wait(self, final: bool = False) -> None:
        assert self.process is not None
        self.stop(final)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S + 15)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def _read_stdout(self, stream: IO[str] | None, log: IO[str]) -> None:
        if stream is None:
            return
        for line in stream:
            if not is_progress_line(line):
                log.write(line)
                continue
            message = decode(line)
            if message is not None:
                self._on_message(message)

    def _on_message(self, message: Message) -> None:
        if isinstance(message, WindowStart):
            self._phase = "holding"
            self._begin_sampling()
        elif isinstance(message, WindowEnd):
            self._phase = "stopping"
            self._end_sampling()
        elif isinstance(message, ProgressReport):
            self._workers = message.workers
            if self._phase == "waiting" and self._workers >= self.config.expect_workers:
                self._phase = "starting"
            if self._phase == "starting" and message.users:
                self._phase = "ramping"
            if self.progress is not None:
                self.progress(
                    Progress(
                        self.mode,
                        self.users,
                        self.level_index,
                        self.level_count,
                        self._phase,
                        time.monotonic() - self._started,
                        message.users,
                        message.streams,
                        message.failures,
                        None if self.web_port is None else f"http://127.0.0.1:{self.web_port}",
                        self._workers,
                        self.config.expect_workers,
                    )
                )

    def _begin_sampling(self) -> None:
        assert self.process is not None
        if self.config.target_pid is not None:
            self._target_sampler = ProcessSampler(self.config.target_pid).start()
        self._client_sampler = ProcessSampler(self.process.pid).start()

    def _end_sampling(self) -> None:
        if self._target_sampler is not None:
            self.server, self._target_sampler = self._target_sampler.stop(), None
        if self._client_sampler is not None:
            self.client, self._client_sampler = self._client_sampler.stop(), None

    def _result(self, out_path: Path, log_path: Path) -> LevelResult:
        if self.workers_missing:
            raise WorkersMissing(
                f"{self._workers} of {self.config.expect_workers} workers connected to "
                f"{self.config.master_bind_host}:{self.config.master_bind_port} within "
                f"{self.config.workers_timeout_s:g} s ({self.mode} at {self.users} users); start them with "
                f"`stagecheck load-worker --master-host <this host> --master-port {self.config.master_bind_port}`"
            )
        if not out_path.exists():
            tail = _tail(log_path)
            raise LoadProcessError(
                f"the Locust process for {self.mode} at {self.users} users wrote no results "
                f"(exit code {self.process.returncode if self.process else '?'}); its log ends:\n{tail}"
            )
        data = LevelOutput.from_json(json.loads(out_path.read_text(encoding="utf-8")))
        self.per_worker = data.per_worker
        if self.config.expect_workers:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"stagecheck: streams per worker: {json.dumps(self.per_worker, sort_keys=True)}\n")
        result = level_result_from_wire(
            data.wire,
            mode=self.mode,
            users=self.users,
            processes=len(self.per_worker) if self.config.expect_workers else self.config.processes,
            window_s=data.window_s,
            ramp_s=self.config.ramp_s(self.users),
            interrupted=data.interrupted or self._stop_requested,
        )
        return replace(result, server=self.server, client=self.client)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
