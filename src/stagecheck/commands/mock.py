"""`stagecheck mock`: run the mock reference server in the foreground."""

from __future__ import annotations

import click

from stagecheck.mock_server.cluster import ScaleOptions, serve_scaled
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.server import serve


@click.command("mock")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
@click.option("--tokens", default=12, show_default=True, type=click.IntRange(0, 100_000), help="Tokens per task.")
@click.option(
    "--token-delay-ms",
    default=20.0,
    show_default=True,
    type=click.FloatRange(0, 60_000),
    help="Delay between tokens, ms.",
)
@click.option(
    "--first-token-delay-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 600_000),
    help="Delay before the first token, ms.",
)
@click.option(
    "--legacy-phase",
    default="compat",
    show_default=True,
    type=click.Choice(["compat", "removed"]),
    help="Phase of the legacy rewrite_stream endpoint.",
)
@click.option("--auth-token", default=None, help="Require this bearer token (HTTP) / ?token= (WebSocket).")
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow this browser origin (repeatable; * for any).")
@click.option(
    "--heartbeat-s",
    default=None,
    type=click.FloatRange(0, min_open=True),
    help="Send WebSocket heartbeats and SSE keep-alive comments after this many idle seconds (default: never).",
)
@click.option(
    "--retention-s",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds an ended task stays visible (task-status, late subscribers).",
)
@click.option(
    "--broker",
    default="memory",
    show_default=True,
    help="Where tasks live: memory (one process), or a Redis URL redis://host:port/db shared by every process.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 256),
    help="uvicorn worker processes on one socket (more than 1 needs --broker redis://...).",
)
@click.option(
    "--executor",
    default="inline",
    show_default=True,
    type=click.Choice(["inline", "celery"]),
    help="Who produces the tokens: the web process, or a Celery worker process (needs --broker redis://...).",
)
@click.option(
    "--redis-prefix",
    default="stagecheck:",
    show_default=True,
    help="Prefix of every Redis key and channel of this mock (several mocks can share a Redis).",
)
@click.option(
    "--celery-concurrency",
    default=16,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Celery worker threads: concurrent tasks; more wait in PENDING, as with a busy real worker.",
)
@click.option("--quiet", is_flag=True, help="No per-request log lines.")
def command(
    host: str,
    port: int,
    tokens: int,
    token_delay_ms: float,
    first_token_delay_ms: float,
    legacy_phase: str,
    auth_token: str | None,
    cors_origins: tuple[str, ...],
    heartbeat_s: float | None,
    retention_s: float,
    broker: str,
    workers: int,
    executor: str,
    redis_prefix: str,
    celery_concurrency: int,
    quiet: bool,
) -> None:
    """Run the mock reference server: every rule of the wire protocol, deterministic output.

    Choose a scenario per request with the Prefer header, e.g.
    `Prefer: scenario=fail-midway, tokens=40, delay-ms=25`. See docs/mock.md, and
    docs/scaling.md for --broker redis://..., --workers and --executor celery.
    """
    config = MockConfig(
        tokens=tokens,
        token_delay_ms=token_delay_ms,
        first_token_delay_ms=first_token_delay_ms,
        legacy_phase="removed" if legacy_phase == "removed" else "compat",
        auth_token=auth_token,
        cors_origins=cors_origins,
        heartbeat_s=heartbeat_s,
        terminal_retention_s=retention_s,
        access_log=not quiet,
    )
    scale = ScaleOptions(
        broker=broker,
        redis_prefix=redis_prefix,
        workers=workers,
        executor="celery" if executor == "celery" else "inline",
        celery_concurrency=celery_concurrency,
    )
    if scale.distributed:
        serve_scaled(config, scale, host=host, port=port)
        return
    serve(config, host=host, port=port)
