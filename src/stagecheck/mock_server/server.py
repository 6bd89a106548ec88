"""Running the app under uvicorn: socket binding, clean shutdown, logging."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import sys
from typing import Literal

import uvicorn
from starlette.applications import Starlette

from stagecheck.errors import ConfigError

from .app import create_app
from .config import MockConfig
from .state import MockState

ServerName = Literal["uvicorn", "granian"]
SERVER_NAMES: tuple[ServerName, ...] = ("uvicorn", "granian")
DEFAULT_SERVER: ServerName = "uvicorn"


def check_server(name: str) -> ServerName:
    """The ASGI server's name, or a ConfigError naming the choices."""
    for known in SERVER_NAMES:
        if name == known:
            return known
    raise ConfigError(f"server must be one of {', '.join(SERVER_NAMES)}, got {name!r}")


class MockServer(uvicorn.Server):
    """uvicorn, but open streams are ended by the app before uvicorn drops connections.

    uvicorn's own shutdown would close sockets with 1012 and leave SSE answers to run
    out; the mock ends SSE streams with an `error` event and closes sockets with 1001.
    """

    def __init__(self, config: uvicorn.Config, state: MockState) -> None:
        super().__init__(config)
        self.mock_state = state

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.mock_state.begin_shutdown()
        await self.mock_state.drain(1.0)
        await super().shutdown(sockets)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; a port already taken is a ConfigError (one line, exit 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is already in use: choose another with --port") from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(4096)  # the kernel caps it at net.core.somaxconn
    sock.setblocking(False)
    return sock


def build_server(config: MockConfig, app: Starlette | None = None) -> MockServer:
    app = app or create_app(config)
    uvicorn_config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,  # the app's own access log never shows query strings (tokens)
        timeout_graceful_shutdown=3,
        backlog=2048,
    )
    return MockServer(uvicorn_config, app.state.mock)


def configure_logging(access_log: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("stagecheck.mock")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if access_log else logging.WARNING)
    logger.propagate = False


def serve(
    config: MockConfig,
    host: str = "127.0.0.1",
    port: int = 8000,
    announce: bool = True,
    server_name: ServerName = DEFAULT_SERVER,
) -> None:
    """Serve until Ctrl-C (SIGINT) or SIGTERM, under uvicorn or Granian."""
    server_name = check_server(server_name)
    sock = bind_socket(host, port)
    if announce:
        shown = f"[{host}]" if ":" in host else host
        bound_port = sock.getsockname()[1]
        print(
            f"stagecheck mock: listening on http://{shown}:{bound_port} and ws://{shown}:{bound_port} "
            f"(legacy phase {config.legacy_phase}, auth {'on' if config.auth_token else 'off'}, "
            f"{server_name}); Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
    if server_name == "granian":
        from .granian_server import build_granian, run_granian

        granian = build_granian(config, sock)
        configure_logging(config.access_log)  # after Granian's own logging set-up
        run_granian(granian)
        return
    configure_logging(config.access_log)
    server = build_server(config)
    # uvicorn re-raises the Ctrl-C it caught once it has shut down cleanly: done.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
