"""`stagecheck load-worker`: Locust workers for a master on another host, one per level.

A sweep runs one Locust master per level (`stagecheck load --expect-workers N`), and a
Locust worker process lives as long as its master. So this loop starts a fresh
`python -m locust -f locustfile.py --worker` for each level; the worker takes its stream
settings from the master, and at the end of the level the master tells it whether
another level follows (`level_end`, see locust_hooks). The loop ends when the master says
the sweep is over, on Ctrl-C, or (exit 2) when no master answers within the connect
timeout. Like `stagecheck load`, this process never imports Locust; what it tells its
worker and hears back is in `wire`.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from stagecheck.errors import StagecheckError

from .level_run import LOCUSTFILE
from .wire import ChildEnvironment, Connected, Done, GoAway, LevelEnd, MasterGone, ProgressReport, decode

# Between a worker's end and the next one's start: the old master is still quitting.
RESTART_DELAY_S = 1.0
PROGRESS_EVERY_S = 5.0


class NoMaster(StagecheckError):
    """No stagecheck load master answered at the address given (exit 2)."""


class WorkerCrashed(StagecheckError):
    """The Locust worker process ended before it connected, for another reason (exit 2)."""


@dataclass
class WorkerLevel:
    """What one worker process (one level) did, from its progress lines."""

    connected: bool = False
    client_id: str | None = None
    sweep_over: bool | None = None  # None: the master never said (it went away, or sent us off)
    streams: int = 0
    users: int = 0
    events: list[str] = field(default_factory=list)
    crash: str | None = None  # the worker ended without connecting, and not for want of a master


def worker_command(master_host: str, master_port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]


class WorkerLoop:
    """Runs worker processes against one master address until the sweep is over."""

    def __init__(
        self,
        master_host: str,
        master_port: int,
        *,
        connect_timeout_s: float = 300.0,
        say: Callable[[str], None] = print,
    ) -> None:
        self.master_host = master_host
        self.master_port = master_port
        self.connect_timeout_s = connect_timeout_s
        self.say = say
        self.levels = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def address(self) -> str:
        return f"{self.master_host}:{self.master_port}"

    def run(self) -> int:
        """0 when the master ended the sweep, 130 on Ctrl-C; NoMaster when none answered."""
        self.say(f"stagecheck load-worker: connecting to the master at {self.address}")
        waiting_since = time.monotonic()
        main = threading.current_thread() is threading.main_thread()
        # `kill`, a service manager or a container stop: end as on Ctrl-C (stop the worker).
        previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
        try:
            while True:
                level = self._one_worker(self.connect_timeout_s - (time.monotonic() - waiting_since))
                if level.sweep_over:
                    self.say(f"stagecheck load-worker: the master ended the sweep after {self.levels} levels")
                    return 0
                if level.connected:
                    waiting_since = time.monotonic()
                elif level.crash:
                    raise WorkerCrashed(f"the Locust worker exited before it connected: {level.crash}")
                elif time.monotonic() - waiting_since >= self.connect_timeout_s:
                    raise NoMaster(
                        f"no stagecheck load master answered at {self.address} within "
                        f"{self.connect_timeout_s:g} s (is `stagecheck load --expect-workers N` running, "
                        f"and port {self.master_port} open?)"
                    )
                time.sleep(RESTART_DELAY_S)
        except KeyboardInterrupt:
            self._stop()
            self.say("stagecheck load-worker: interrupted")
            return 130
        finally:
            if main:
                signal.signal(signal.SIGTERM, previous)

    def _one_worker(self, connect_timeout_s: float) -> WorkerLevel:
        # No settings: they come from the master only.
        env = ChildEnvironment(external=True, connect_timeout_s=max(1.0, connect_timeout_s)).environ()
        level = WorkerLevel()
        stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our locustfile
            worker_command(self.master_host, self.master_port),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # a terminal Ctrl-C reaches us; we stop the worker
        )
        errors = threading.Thread(target=_drain, args=(self.process.stderr, stderr_tail), daemon=True)
        errors.start()
        try:
            self._read(self.process.stdout, level)
            self.process.wait()
        finally:
            if self.process.poll() is None:
                self._stop()
            errors.join(timeout=5)
        if not level.connected and not any("Failed to connect" in line for line in stderr_tail):
            # Not the "no master" end: Locust or the locustfile broke (a version mismatch, an import).
            last = next((line.strip() for line in reversed(stderr_tail) if line.strip()), "")
            level.crash = f"exit code {self.process.returncode}" + (f": {last}" if last else "")
        return level

    def _read(self, stream: IO[str] | None, level: WorkerLevel) -> None:
        if stream is None:
            return
        last_progress = 0.0
        for line in stream:
            message = decode(line)
            if message is None:
                continue
            level.events.append(message.event)
            if isinstance(message, Connected):
                level.connected = True
                level.client_id = message.client_id
                self.say(f"stagecheck load-worker: connected to {self.address} as {level.client_id}")
            elif isinstance(message, ProgressReport):
                level.users, level.streams = message.users, message.streams
                now = time.monotonic()
                if level.users and now - last_progress >= PROGRESS_EVERY_S:
                    last_progress = now
                    self.say(f"stagecheck load-worker: running {level.users} users, {level.streams} streams")
            elif isinstance(message, LevelEnd):
                self.levels += 1
                level.sweep_over = message.sweep_over
                level.streams = message.streams
            elif isinstance(message, Done):
                level.streams = message.streams
                if level.sweep_over is not None:
                    more = "the sweep is over" if level.sweep_over else "waiting for the next level"
                    self.say(
                        f"stagecheck load-worker: level {self.levels} done: {level.streams} streams counted; {more}"
                    )
            elif isinstance(message, GoAway):
                self.say("stagecheck load-worker: that master was ending its level; reconnecting")
            elif isinstance(message, MasterGone):
                self.say("stagecheck load-worker: the master went silent; reconnecting")

    def _stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _drain(stream: IO[str] | None, tail: collections.deque[str]) -> None:
    if stream is None:
        return
    for line in stream:
        tail.append(line)
