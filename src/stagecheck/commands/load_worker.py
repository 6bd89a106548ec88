"""`stagecheck load-worker`: lend this host's CPUs to a `stagecheck load` sweep run elsewhere.

Runs a Locust worker (stagecheck's locustfile) for each level of the sweep whose master
runs `stagecheck load --expect-workers N` on another host, until that master says the
sweep is over (exit 0), on Ctrl-C (exit 130), or exit 2 when no master answers within
--connect-timeout. This process never imports Locust (stagecheck.load.remote_worker).
"""

from __future__ import annotations

import click

from stagecheck.load.config import parse_duration
from stagecheck.load.remote_worker import WorkerLoop


@click.command("load-worker")
@click.option("--master-host", required=True, help="Address of the host running `stagecheck load --expect-workers`.")
@click.option(
    "--master-port",
    type=click.IntRange(1, 65535),
    default=5557,
    show_default=True,
    help="The master's --master-bind-port.",
)
@click.option(
    "--connect-timeout",
    default="5m",
    show_default=True,
    help="Give up (exit 2) when no master answers for this long (at start, and between levels), e.g. 30s, 5m.",
)
def command(master_host: str, master_port: int, connect_timeout: str) -> None:
    """Run Locust workers for a `stagecheck load` master on another host, one per level.

    The master sends the stream settings (target URL, pacing, token, SLOs) with each level;
    this host needs only to reach the master's port and the target.
    """
    loop = WorkerLoop(
        master_host,
        master_port,
        connect_timeout_s=parse_duration(connect_timeout, "--connect-timeout"),
        say=lambda text: click.echo(text, err=True),
    )
    raise SystemExit(loop.run())
