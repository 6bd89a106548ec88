"""Running the app under Granian (a Rust HTTP server) instead of uvicorn.

Granian's embedded server (`granian.server.embed`) runs its worker on this process's
asyncio loop, so the app and the shutdown sequence share one loop as under uvicorn.
The listening socket is ours (bound by `bind_socket` or inherited with `--fd`) and handed
to Granian as a `SocketHolder`, so that port 0 and an inherited socket work as with uvicorn.

Shutdown: the open streams are ended by the app (SSE: an `error` event; sockets: 1001)
before Granian stops its worker, the same order as `MockServer.shutdown` under uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette

from stagecheck.errors import ConfigError

from .app import create_app
from .config import MockConfig
from .state import MockState

# Granian logs to stdout by default; the process mode's `ready` line owns stdout.
_LOG_TO_STDERR: dict[str, Any] = {
    "handlers": {
        "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
}
WORKER_STOP_TIMEOUT_S = 3
# Granian admits at most `backpressure` requests at once per worker (default: backlog, 2048)
# and queues the rest: thousands of concurrent streams are the mock's job, so no cap here.
MAX_CONCURRENT_REQUESTS = 1 << 20
BACKLOG = 4096  # as `bind_socket` listens


def _import_embed() -> Any:
    try:
        from granian.server import embed
    except ImportError as exc:  # an optional server: a clear message, not a traceback
        raise ConfigError(f"--server granian needs the granian package (pip install granian): {exc}") from exc
    return embed


class GranianMock:
    """Granian's embedded server serving the mock app on a socket we own."""

    def __init__(self, app: Starlette, sock: socket.socket) -> None:
        embed = _import_embed()
        from granian._granian import SocketHolder
        from granian.constants import Interfaces
        from granian.log import LogLevels

        self.app = app
        # None for an app that is not the mock (benchmarks serve a bare app the same way).
        self._state: MockState | None = getattr(app.state, "mock", None)
        self.started = False
        self._sock = sock
        self._loop: asyncio.AbstractEventLoop | None = None
        # Granian's worker closes the fd it serves when it stops: it gets a duplicate of its
        # own. Handing it ours made that fd be closed twice (by Granian, then by the socket
        # object), and the second close hit whatever file had reused the number by then.
        self._granian_fd = os.dup(sock.fileno())
        holder = SocketHolder(self._granian_fd, False, BACKLOG)  # type: ignore[call-arg]  # (fd, uds, backlog); the stub omits it
        mock = self

        class _Server(embed.Server):  # type: ignore[misc, name-defined]
            def _init_shared_socket(self) -> None:
                # Granian would bind its own socket; it serves ours (on Linux it rebinds a spec).
                self._ssp = None
                self._shd = holder
                self._sfd = holder.get_fd()

            def _spawn_workers(self, *args: Any, **kwargs: Any) -> None:
                super()._spawn_workers(*args, **kwargs)
                mock.started = True

            async def shutdown(self, exit_code: int = 0) -> None:
                # End the streams while the worker still serves their connections.
                if mock._state is not None:
                    mock._state.begin_shutdown()
                    await mock._state.drain(1.0)
                await super().shutdown(exit_code)

        self.server = _Server(
            app,
            interface=Interfaces.ASGI,
            websockets=True,
            backlog=BACKLOG,
            backpressure=MAX_CONCURRENT_REQUESTS,
            log_level=LogLevels.error,
            log_dictconfig=_LOG_TO_STDERR,
            log_access=False,  # the app's own access log never shows query strings (tokens)
        )
        self.server.workers_kill_timeout = WORKER_STOP_TIMEOUT_S

    @property
    def mock_state(self) -> MockState:
        """The mock's state (tests read it); only for the mock's own app."""
        if self._state is None:
            raise AttributeError("this server does not serve the mock app")
        return self._state

    def stop(self) -> None:
        """Ask the server to stop; safe from any thread (its event is the loop's own)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.server.stop()
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(self.server.stop)

    async def serve(self, on_started: Callable[[], None] | None = None) -> None:
        """Serve until `stop()`, SIGINT or SIGTERM; the signals are ours (embed installs none)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, RuntimeError):  # not the main thread
                loop.add_signal_handler(signum, self.stop)
        announcer = asyncio.create_task(self._announce(on_started)) if on_started else None
        try:
            await self.server.serve()
        finally:
            if announcer is not None:
                announcer.cancel()
            if not self.started:  # no worker took the duplicate, so it is still ours to close
                os.close(self._granian_fd)
            self._sock.close()  # as uvicorn closes the sockets it was given
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(signum)

    async def _announce(self, on_started: Callable[[], None]) -> None:
        while not self.started:
            await asyncio.sleep(0.01)
        on_started()


def build_granian(config: MockConfig, sock: socket.socket, app: Starlette | None = None) -> GranianMock:
    return GranianMock(app or create_app(config), sock)


def run_granian(server: GranianMock, on_started: Callable[[], None] | None = None) -> None:
    """Run on a fresh event loop (uvloop where installed, as uvicorn's default)."""
    try:
        import uvloop

        loop_factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        loop_factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(server.serve(on_started))
