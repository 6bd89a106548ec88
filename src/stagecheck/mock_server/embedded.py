"""`EmbeddedMock`: the mock on 127.0.0.1 on a free port, for the length of a `with` block.

`mode="thread"` runs uvicorn in a thread of this process (fast, shares the GIL);
`server="granian"` runs it under Granian instead (in either mode).
`mode="process"` runs `python -m stagecheck.mock_server` in a subprocess, which a load
run needs: Locust's gevent monkey-patching must never share a process with asyncio.
The listening socket is bound here and handed over, so the port is known before the
server starts and no other process can take it in between.
"""

from __future__ import annotations

import dataclasses
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from types import TracebackType
from typing import IO, TYPE_CHECKING, Literal

from stagecheck.errors import StagecheckError

from .config import MockConfig
from .server import DEFAULT_SERVER, MockServer, ServerName, bind_socket, build_server, check_server

if TYPE_CHECKING:  # the cluster module imports Redis: only when it is used
    from .cluster import ScaleOptions
    from .granian_server import GranianMock

START_TIMEOUT_S = 10.0
SCALED_START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0


class MockStartError(StagecheckError):
    """The embedded mock server did not come up."""


class EmbeddedMock:
    """Context manager: `with EmbeddedMock() as mock: ... mock.base_url ...`."""

    def __init__(
        self,
        config: MockConfig = MockConfig(),  # noqa: B008
        mode: Literal["thread", "process"] = "thread",
        scale: ScaleOptions | None = None,
        server: ServerName = DEFAULT_SERVER,
    ) -> None:
        if mode not in ("thread", "process"):
            raise ValueError(f"mode must be 'thread' or 'process', got {mode!r}")
        self.server_name = check_server(server)
        if mode == "thread" and scale is not None and (scale.workers > 1 or scale.executor != "inline"):
            raise ValueError("several workers or the Celery executor need mode='process'")
        if self.server_name == "granian" and scale is not None and scale.distributed:
            raise ValueError("several workers, Redis or Celery need server='uvicorn'")
        self.config = config
        self.mode = mode
        # On Redis (docs/scaling.md) when `scale.broker` is a URL; None: the in-memory broker.
        self.scale = scale if scale is not None and scale.distributed else None
        self.port = 0
        self.pid = os.getpid()
        # Thread mode: the running server (tests read its `mock_state`).
        self.server: MockServer | GranianMock | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedMock:
        sock = bind_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        if self.mode == "thread":
            self._start_thread(sock)
        else:
            try:
                self._start_process(sock)
            finally:
                sock.close()  # the child holds its own copy
        return self

    def _start_thread(self, sock: socket.socket) -> None:
        if self.server_name == "granian":
            self._start_granian_thread(sock)
            return
        app = None
        if self.scale is not None:
            from .cluster import create_scaled_app

            app = create_scaled_app(self.config, self.scale)
        server = build_server(self.config, app)
        self.server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"stagecheck-mock-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self._thread.is_alive():
                raise MockStartError("the embedded mock server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                server.should_exit = True
                raise MockStartError(f"the embedded mock server did not start within {START_TIMEOUT_S:g} s")
            time.sleep(0.005)

    def _start_granian_thread(self, sock: socket.socket) -> None:
        from .granian_server import build_granian, run_granian

        granian = build_granian(self.config, sock)
        self.server = granian
        self._thread = threading.Thread(
            target=run_granian, args=(granian,), name=f"stagecheck-mock-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not granian.started:
            if not self._thread.is_alive():
                raise MockStartError("the embedded mock server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                granian.stop()
                raise MockStartError(f"the embedded mock server did not start within {START_TIMEOUT_S:g} s")
            time.sleep(0.005)

    def _start_process(self, sock: object) -> None:
        fd = sock.fileno()  # type: ignore[attr-defined]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
        command = [
            sys.executable,
            "-m",
            "stagecheck.mock_server",
            "--fd",
            str(fd),
            "--config-json",
            json.dumps(self.config.to_json()),
        ]
        start_timeout = START_TIMEOUT_S
        if self.scale is not None:
            # Worker processes and a Celery worker take longer to come up than one server.
            command[2] = "stagecheck.mock_server.cluster"
            command += ["--scale-json", json.dumps(dataclasses.asdict(self.scale))]
            start_timeout = SCALED_START_TIMEOUT_S
        else:
            command += ["--server", self.server_name]
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, pass_fds=[fd], stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL
        )
        self.pid = self._process.pid
        assert self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            ready = selector.select(start_timeout)
        line = self._process.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            self._kill()
            raise MockStartError(
                f"the mock server process did not start within {start_timeout:g} s: {self._stderr_tail()}"
            )

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return text[-500:] or "(no output)"

    def stop(self) -> None:
        if self.server is not None and self._thread is not None:
            if isinstance(self.server, MockServer):
                self.server.should_exit = True
            else:
                self.server.stop()
            self._thread.join(STOP_TIMEOUT_S + 3)
            self._thread = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGINT)
                try:
                    self._process.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._kill()
            self._close_pipes()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> EmbeddedMock:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
