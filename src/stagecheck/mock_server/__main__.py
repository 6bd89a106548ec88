"""`python -m stagecheck.mock_server`: the server process of `EmbeddedMock(mode="process")`.

It serves (under uvicorn, or Granian with `--server granian`) on a socket inherited
from the parent (`--fd`) or binds `--host`/`--port`, and prints `ready` on stdout once
it accepts requests. Users run `stagecheck mock`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys

from uvicorn._compat import asyncio_run

from stagecheck.errors import StagecheckError

from .config import MockConfig
from .server import DEFAULT_SERVER, SERVER_NAMES, bind_socket, build_server, check_server, configure_logging


def _say_ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()


async def _announce_when_started(server: object) -> None:
    while not getattr(server, "started", False):
        await asyncio.sleep(0.01)
    _say_ready()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stagecheck.mock_server")
    parser.add_argument("--config-json", default="{}", help="MockConfig fields as JSON")
    parser.add_argument("--fd", type=int, help="a listening socket inherited from the parent")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--server", default=DEFAULT_SERVER, help=f"ASGI server: {' or '.join(SERVER_NAMES)}")
    args = parser.parse_args(argv)
    try:
        server_name = check_server(args.server)
        fields = json.loads(args.config_json)
        config = MockConfig.from_json(fields) if "projects" in fields else MockConfig(**fields)
        sock = socket.socket(fileno=args.fd) if args.fd is not None else bind_socket(args.host, args.port)
        if server_name == "granian":
            from .granian_server import build_granian, run_granian

            granian = build_granian(config, sock)
    except (StagecheckError, TypeError, ValueError) as exc:
        print(f"stagecheck mock: error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.access_log)
    if server_name == "granian":
        run_granian(granian, _say_ready)
        return 0
    server = build_server(config)

    async def run() -> None:
        announcer = asyncio.create_task(_announce_when_started(server))
        await server.serve(sockets=[sock])
        announcer.cancel()

    # uvicorn re-raises the SIGINT it handled, after a clean shutdown.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio_run(run(), loop_factory=server.config.get_loop_factory())
    return 0


if __name__ == "__main__":
    sys.exit(main())
