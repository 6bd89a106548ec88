"""Fixtures for the load tests: toy servers in subprocesses, and sweep configs that fit CI."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from stagecheck.load.config import StreamSettings, SweepConfig, ws_url_for

TOY_SERVER = Path(__file__).with_name("toy_server.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ToyServer:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.base_url = f"http://127.0.0.1:{port}"
        self.pid = process.pid


def _start(*args: str) -> ToyServer:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(TOY_SERVER), "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"toy server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0, trust_env=False)
            return ToyServer(process, port)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("toy server did not start within 20 s")


@pytest.fixture
def toy_server() -> Iterator[Callable[..., ToyServer]]:
    """Start toy servers: `toy_server("--fault", "drop", "--limit", "3")`; all stopped at the end."""
    started: list[ToyServer] = []

    def start(*args: str) -> ToyServer:
        server = _start(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
        if server.process.stderr is not None:
            server.process.stderr.close()


def _sweep_config(
    base_url: str,
    *,
    levels: tuple[int, ...] = (2,),
    modes: tuple[str, ...] = ("sse", "ws"),
    duration_s: float = 2.0,
    prefer: str | None = "tokens=8, delay-ms=10",
    target_pid: int | None = None,
    processes: int = 1,
    log_dir: str | None = None,
    send_timestamp: bool = False,
) -> SweepConfig:
    """A short sweep that fits in a CI test (levels ramp in under a second)."""
    stream = StreamSettings(
        base_url=base_url,
        ws_url=ws_url_for(base_url),
        prefer=prefer,
        read_timeout_s=5.0,
        send_timestamp=send_timestamp,
    )
    return SweepConfig(
        stream=stream,
        modes=modes,  # type: ignore[arg-type]
        levels=levels,
        duration_s=duration_s,
        spawn_rate=max(levels) * 4.0,
        processes=processes,
        target_pid=target_pid,
        log_dir=log_dir,
    )


@pytest.fixture
def sweep_config() -> Callable[..., SweepConfig]:
    """Build a short sweep config: `sweep_config(base_url, levels=(2, 8), ...)`."""
    return _sweep_config
