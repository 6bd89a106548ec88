"""The mock as the real backend runs: web processes sharing Redis, Celery workers producing.

`stagecheck mock --broker redis://... [--workers N] [--executor celery]` lands here.
`serve_scaled` checks Redis first (a clear error, exit 2, when it does not answer),
starts the Celery worker when asked, then runs N uvicorn worker processes on one
listening socket. Each worker process builds its app with `create_app_from_env`
(uvicorn needs an import string to start workers): the configuration travels in
environment variables, as JSON. `python -m stagecheck.mock_server.cluster` is the
server process of the embedded mock on Redis (`main`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.applications import Starlette

from stagecheck.errors import ConfigError, StagecheckError

from .app import create_app
from .config import MockConfig
from .redis_broker import RedisBroker, check_redis
from .redis_wire import redact_url

ENV_CONFIG = "STAGECHECK_MOCK_CONFIG"
ENV_SCALE = "STAGECHECK_MOCK_SCALE"
FACTORY = "stagecheck.mock_server.cluster:create_app_from_env"
Executor = Literal["inline", "celery"]


@dataclass(frozen=True)
class ScaleOptions:
    """Where tasks live and who produces their tokens."""

    broker: str = "memory"  # or a redis://host:port/db URL
    redis_prefix: str = "stagecheck:"
    workers: int = 1
    executor: Executor = "inline"
    celery_pool: Literal["threads", "solo"] = "threads"
    celery_concurrency: int = 16

    def __post_init__(self) -> None:
        if self.broker != "memory" and not self.broker.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"--broker must be memory or a redis:// URL, got {redact_url(self.broker)!r}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be 1 or more, got {self.workers}")
        if self.broker == "memory" and self.workers > 1:
            raise ConfigError(
                f"--workers {self.workers} needs --broker redis://...: with the memory broker each process "
                "would keep its own tasks, and a socket on one would never see a task created on another"
            )
        if self.broker == "memory" and self.executor == "celery":
            raise ConfigError("--executor celery needs --broker redis://...: Celery workers publish through Redis")
        if self.executor not in ("inline", "celery"):
            raise ConfigError(f"--executor must be inline or celery, got {self.executor!r}")
        if self.celery_concurrency < 1:
            raise ConfigError(f"--celery-concurrency must be 1 or more, got {self.celery_concurrency}")

    @property
    def distributed(self) -> bool:
        return self.broker != "memory"


def create_scaled_app(config: MockConfig, options: ScaleOptions) -> Starlette:
    """The mock app on the Redis broker (and the Celery executor when asked)."""
    broker = RedisBroker(options.broker, prefix=options.redis_prefix, retention_s=config.terminal_retention_s)
    app = create_app(config, broker=broker)
    if options.executor == "celery":
        from .celery_executor import CeleryExecutor  # imports Celery: only when it is used

        app.state.mock.worker = CeleryExecutor(broker, options.broker, options.redis_prefix)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Redis first: a worker that cannot reach it refuses to start (uvicorn reports it).
        await broker.start()
        try:
            async with inner(app):
                yield
        finally:
            await broker.aclose()

    app.router.lifespan_context = lifespan
    return app


def create_app_from_env() -> Starlette:
    """uvicorn's factory in each worker process: the configuration comes from the environment."""
    config = MockConfig.from_json(json.loads(os.environ[ENV_CONFIG]))
    options = ScaleOptions(**json.loads(os.environ[ENV_SCALE]))
    return create_scaled_app(config, options)


def export_env(config: MockConfig, options: ScaleOptions) -> dict[str, str]:
    """The environment variables `create_app_from_env` reads."""
    return {ENV_CONFIG: json.dumps(config.to_json()), ENV_SCALE: json.dumps(dataclasses.asdict(options))}


def serve_scaled(
    config: MockConfig,
    options: ScaleOptions,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    sock: socket.socket | None = None,
    announce: bool = True,
    on_serving: Callable[[], None] | None = None,
) -> None:
    """Serve on Redis with N worker processes (and a Celery worker) until Ctrl-C or SIGTERM.

    `sock`: a listening socket to serve on instead of binding host and port (the embedded
    mock hands one over). `on_serving` is called, in a thread, once requests are answered.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from .server import bind_socket, build_server, configure_logging

    check_redis(options.broker)
    configure_logging(config.access_log)
    sock = sock if sock is not None else bind_socket(host, port)
    os.environ.update(export_env(config, options))
    celery_worker: Any = None
    if options.executor == "celery":
        from .celery_executor import start_celery_worker

        celery_worker = start_celery_worker(
            options.broker,
            options.redis_prefix,
            pool=options.celery_pool,
            concurrency=options.celery_concurrency,
            retention_s=config.terminal_retention_s,
        )
    uvicorn_config = uvicorn.Config(
        FACTORY,
        factory=True,
        workers=options.workers,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        backlog=2048,
    )
    shown = f"[{host}]" if ":" in host else host
    bound = sock.getsockname()[1]
    executor = (
        f"Celery worker pid {celery_worker.pid} ({options.celery_pool}, {options.celery_concurrency})"
        if celery_worker is not None
        else "inline"
    )
    if announce:
        print(
            f"stagecheck mock: listening on http://{shown}:{bound} and ws://{shown}:{bound} with {options.workers} "
            f"worker process(es) on Redis {redact_url(options.broker)} (prefix {options.redis_prefix!r}), "
            f"executor {executor}; Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
    if on_serving is not None:
        threading.Thread(target=_when_serving, args=(bound, on_serving), daemon=True).start()
    try:
        if options.workers > 1:
            Multiprocess(uvicorn_config, sockets=[sock]).run()
        else:
            # One process: the mock's own server, which ends open streams itself at shutdown.
            build_server(config, create_scaled_app(config, options)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled: the server has stopped, which was asked
    finally:
        sock.close()
        if celery_worker is not None:
            celery_worker.stop()


def _when_serving(port: int, callback: Callable[[], None], timeout_s: float = 60.0) -> None:
    # uvicorn's worker processes give no signal to the parent: ask until one answers.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            connection.request("GET", "/api/v1/projects/projects/1/task-status/")
            if connection.getresponse().status == 400:  # no task_id: the app itself answered
                callback()
                return
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()


def main(argv: list[str] | None = None) -> int:
    """`python -m stagecheck.mock_server.cluster`: the server process of the embedded mock on Redis.

    Serves on an inherited listening socket (`--fd`) and prints `ready` on stdout once
    requests are answered.
    """
    parser = argparse.ArgumentParser(prog="python -m stagecheck.mock_server.cluster")
    parser.add_argument("--fd", type=int, required=True, help="a listening socket inherited from the parent")
    parser.add_argument("--config-json", required=True, help="MockConfig.to_json()")
    parser.add_argument("--scale-json", required=True, help="ScaleOptions fields as JSON")
    args = parser.parse_args(argv)

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    try:
        config = MockConfig.from_json(json.loads(args.config_json))
        options = ScaleOptions(**json.loads(args.scale_json))
        sock = socket.socket(fileno=args.fd)
        serve_scaled(config, options, sock=sock, announce=False, on_serving=ready)
    except StagecheckError as exc:
        print(f"stagecheck mock: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
