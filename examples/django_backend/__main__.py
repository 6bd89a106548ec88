"""`python -m examples.django_backend --port PORT [--redis URL] [--legacy-phase compat|removed]`.

Starts the whole backend: a Celery worker (a child process) and, in this process, uvicorn
serving the Django/Channels ASGI application. Ctrl-C (or SIGTERM) stops both. Exit 2 with one
line when no Redis answers at --redis or an option is wrong.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the directory holding examples/


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m examples.django_backend", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="broker, results, channel layer")
    parser.add_argument(
        "--legacy-phase",
        choices=("compat", "removed"),
        default=os.environ.get("STAGECHECK_EXAMPLE_LEGACY_PHASE", "compat"),
        help="phase of rewrite_stream/ (default: $STAGECHECK_EXAMPLE_LEGACY_PHASE or compat)",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="Celery worker threads (default 64)")
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.legacy_phase not in ("compat", "removed"):
        fail(f"STAGECHECK_EXAMPLE_LEGACY_PHASE must be compat or removed, not {args.legacy_phase!r}")
    from . import breaks

    try:
        active = breaks.active()
    except ValueError as exc:
        fail(str(exc))
    import redis

    try:
        redis.Redis.from_url(args.redis, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        fail(f"no Redis answers at {args.redis} ({exc}); start one or pass --redis URL")

    worker_name = f"stagecheck-example-{args.port}-{os.getpid()}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "examples.django_backend.settings",
        "STAGECHECK_EXAMPLE_REDIS": args.redis,
        "STAGECHECK_EXAMPLE_LEGACY_PHASE": args.legacy_phase,
        "STAGECHECK_EXAMPLE_WORKER_NAME": worker_name,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }
    os.environ.update(env)  # this process's Django reads the same settings
    ready_key = f"example:worker-ready:{worker_name}"
    client = redis.Redis.from_url(args.redis)
    client.delete(ready_key)
    worker = subprocess.Popen(  # noqa: S603 (a fixed argv: this Python, celery, our options)
        [
            sys.executable,
            "-m",
            "celery",
            "--quiet",  # no banner
            "-A",
            "examples.django_backend.celery_app",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"{worker_name}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not client.exists(ready_key):
            if worker.poll() is not None:
                fail(f"the Celery worker exited with {worker.returncode} before it was ready")
            if time.monotonic() > deadline:
                fail("the Celery worker was not ready within 60 s")
            time.sleep(0.1)
        return serve(args, worker, active)
    finally:
        stop(worker)


def serve(args: argparse.Namespace, worker: subprocess.Popen[bytes], active: frozenset[str]) -> int:
    import uvicorn

    config = uvicorn.Config(
        "examples.django_backend.asgi:application",
        host=args.host,
        port=args.port,
        lifespan="off",  # Django's ASGI handler has no lifespan protocol
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,  # open SSE answers and sockets are cut after 3 s
    )
    server = uvicorn.Server(config)

    def watch() -> None:  # a worker that dies takes the web process down with it
        worker.wait()
        server.should_exit = True

    threading.Thread(target=watch, daemon=True).start()
    broken = f", broken: {', '.join(sorted(active))}" if active else ""
    print(
        f"serving http://{args.host}:{args.port} (web pid {os.getpid()}, Celery worker pid {worker.pid}, "
        f"legacy phase {args.legacy_phase}{broken}); Ctrl-C stops both",
        flush=True,
    )
    server.run()
    return 0 if worker.poll() is None else 1


def stop(worker: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (SIGTERM: running tasks finish), bounded; then kill."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


if __name__ == "__main__":
    sys.exit(main())
