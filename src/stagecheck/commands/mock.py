"""`stagecheck mock`: run the mock reference server in the foreground."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from stagecheck.commands.option_decorators import with_options
from stagecheck.errors import ConfigError
from stagecheck.mock_server.cluster import ScaleOptions, serve_scaled
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.server import DEFAULT_SERVER, SERVER_NAMES, check_server, serve

FC = TypeVar("FC", bound=Callable[..., Any])


@dataclass(frozen=True)
class MockOption:
    """One option of `stagecheck mock`; its default, unless None, is shown in the help."""

    name: str
    help: str
    default: str | int | float | None = None
    type: click.ParamType | None = None
    dest: str | None = None  # the parameter's name, where it is not the option's
    multiple: bool = False
    flag: bool = False


MOCK_OPTIONS: tuple[MockOption, ...] = (
    MockOption("--host", "Interface to bind (loopback by default).", "127.0.0.1"),
    MockOption("--port", "Port to bind.", 8000, click.IntRange(0, 65535)),
    MockOption(
        "--server",
        "ASGI server: uvicorn, or granian (Rust; one process, no --workers/--broker/--executor celery).",
        DEFAULT_SERVER,
        click.Choice(SERVER_NAMES),
        dest="server_name",
    ),
    MockOption("--tokens", "Tokens per task.", 12, click.IntRange(0, 100_000)),
    MockOption("--token-delay-ms", "Delay between tokens, ms.", 20.0, click.FloatRange(0, 60_000)),
    MockOption("--first-token-delay-ms", "Delay before the first token, ms.", 0.0, click.FloatRange(0, 600_000)),
    MockOption(
        "--legacy-phase", "Phase of the legacy rewrite_stream endpoint.", "compat", click.Choice(["compat", "removed"])
    ),
    MockOption("--auth-token", "Require this bearer token (HTTP) / ?token= (WebSocket)."),
    MockOption(
        "--cors-origin", "Allow this browser origin (repeatable; * for any).", dest="cors_origins", multiple=True
    ),
    MockOption(
        "--heartbeat-s",
        "Send WebSocket heartbeats and SSE keep-alive comments after this many idle seconds (default: never).",
        type=click.FloatRange(0, min_open=True),
    ),
    MockOption(
        "--retention-s",
        "Seconds an ended task stays visible (task-status, late subscribers).",
        60.0,
        click.FloatRange(0),
    ),
    MockOption(
        "--broker",
        "Where tasks live: memory (one process), or a Redis URL redis://host:port/db shared by every process.",
        "memory",
    ),
    MockOption(
        "--workers",
        "uvicorn worker processes on one socket (more than 1 needs --broker redis://...).",
        1,
        click.IntRange(1, 256),
    ),
    MockOption(
        "--executor",
        "Who produces the tokens: the web process, or a Celery worker process (needs --broker redis://...).",
        "inline",
        click.Choice(["inline", "celery"]),
    ),
    MockOption(
        "--redis-prefix",
        "Prefix of every Redis key and channel of this mock (several mocks can share a Redis).",
        "stagecheck:",
    ),
    MockOption(
        "--celery-concurrency",
        "Celery worker threads: concurrent tasks; more wait in PENDING, as with a busy real worker.",
        16,
        click.IntRange(1, 10_000),
    ),
    MockOption("--quiet", "No per-request log lines.", flag=True),
)


def click_option(option: MockOption) -> Callable[[FC], FC]:
    """The click option for one entry of MOCK_OPTIONS."""
    kwargs: dict[str, Any] = {"help": option.help}
    if option.flag:
        kwargs["is_flag"] = True
    elif option.multiple:
        kwargs["multiple"] = True
    else:
        kwargs["default"] = option.default
        if option.default is not None:
            kwargs["show_default"] = True
    if option.type is not None:
        kwargs["type"] = option.type
    names = (option.name, option.dest) if option.dest else (option.name,)
    return click.option(*names, **kwargs)


# Every option of MOCK_OPTIONS, in its order.
mock_options = with_options(MOCK_OPTIONS, click_option)


@click.command("mock")
@mock_options
def command(
    host: str,
    port: int,
    server_name: str,
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
    server = check_server(server_name)
    if scale.distributed:
        if server != "uvicorn":
            raise ConfigError("--workers, --broker redis://... and --executor celery need --server uvicorn")
        serve_scaled(config, scale, host=host, port=port)
        return
    serve(config, host=host, port=port, server_name=server)
