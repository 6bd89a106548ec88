"""`stagecheck run`: the main job. The contract gate, then an SSE-vs-WebSocket sweep, one report.

With no --base-url it starts the embedded mock once (in its own process, so that the
load run's Locust processes and the contract run share one target) and runs both parts
against it. Each part is the same code as `stagecheck contract` and `stagecheck load`;
this command only chains them and writes the front page that links their reports.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import click

from stagecheck.errors import StagecheckError
from stagecheck.reports.combined import overall_code, read_parts, summary_lines, write_front_page


def _run_part(command: click.Command, args: list[str]) -> tuple[int, str | None]:
    """Run a subcommand in this process; its exit code, and its error line if it could not run."""
    try:
        command.main(args=args, prog_name=f"stagecheck {command.name}", standalone_mode=False)
    except SystemExit as exc:
        return (exc.code if isinstance(exc.code, int) else 1), None
    except StagecheckError as exc:
        return exc.exit_code, str(exc)
    except click.ClickException as exc:
        return exc.exit_code, exc.format_message()
    return 0, None


@click.command("run")
@click.option("--base-url", help="Target API base URL; without it the embedded mock is started and tested.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("stagecheck-report/run"),
    show_default=True,
    help="Where the combined report goes (contract/ and load/ below it).",
)
@click.option(
    "--profile",
    type=click.Choice(["quick", "ci", "deep"]),
    default="quick",
    show_default=True,
    help="Contract gate profile.",
)
@click.option("--users", default="10,50", show_default=True, help="Users per level of the sweep, comma-separated.")
@click.option("--duration", default="8s", show_default=True, help="How long each level is held, e.g. 8s, 1m.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True, help="Locust processes.")
def command(base_url: str | None, report_dir: Path, profile: str, users: str, duration: str, processes: int) -> None:
    """Run the main job: the contract gate (both modes), then SSE against WebSocket under load.

    Writes REPORT_DIR/index.html linking the contract report (REPORT_DIR/contract) and the
    load report (REPORT_DIR/load). Exit 0 when both parts pass, 1 when either finds a
    violation or a breach, 2 when stagecheck could not do its job.
    """
    from stagecheck.commands.contract import command as contract_command
    from stagecheck.commands.load import command as load_command
    from stagecheck.load.config import parse_duration, parse_levels

    # Checked before the gate starts, so that a typo does not cost a whole contract run.
    parse_levels(users)
    parse_duration(duration)
    started = time.perf_counter()
    report_dir.mkdir(parents=True, exist_ok=True)
    codes: list[int] = []
    interrupted = False
    try:
        with ExitStack() as stack:
            contract_args = ["--profile", profile, "--report-dir", str(report_dir / "contract")]
            load_args = ["--users", users, "--duration", duration, "--processes", str(processes)]
            load_args += ["--report-dir", str(report_dir / "load")]
            if base_url is None:
                from stagecheck.mock_server.config import MockConfig
                from stagecheck.mock_server.embedded import EmbeddedMock

                click.echo("stagecheck run: starting the embedded mock server", err=True)
                mock = stack.enter_context(EmbeddedMock(MockConfig(), mode="process"))
                base_url = mock.base_url
                # The mock honours scenarios, is deterministic and serves the legacy endpoint.
                contract_args += ["--scenarios", "--deterministic", "--legacy-phase", "compat"]
                load_args += ["--target-pid", str(mock.pid), "--target-is-embedded-mock"]
            contract_args += ["--base-url", base_url]
            load_args += ["--base-url", base_url]

            click.echo(f"\n[1/2] contract gate, {profile} profile, against {base_url}", err=True)
            code, error = _run_part(contract_command, contract_args)
            codes.append(code)
            if error:
                click.echo(f"stagecheck run: contract gate could not run: {error}", err=True)
            if code in (0, 1):
                click.echo(f"\n[2/2] SSE against WebSocket, {users} users, {duration} per level", err=True)
                code, error = _run_part(load_command, load_args)
                codes.append(code)
                if error:
                    click.echo(f"stagecheck run: load sweep could not run: {error}", err=True)
    except KeyboardInterrupt:
        # Outside a part (each part handles its own Ctrl-C): what was written is kept.
        interrupted = True
    interrupted = interrupted or 130 in codes
    wall_s = time.perf_counter() - started
    parts = read_parts(report_dir)
    front = write_front_page(parts, report_dir, base_url or "the embedded mock", wall_s, interrupted)
    click.echo("", err=True)
    for line in summary_lines(parts):
        click.echo(line, err=True)
    if interrupted:
        click.echo("stagecheck run: interrupted: no verdict", err=True)
    click.echo(f"\nstagecheck run: finished in {wall_s:.0f} s; report: {front.resolve()}", err=True)
    # The parts' own codes count too: a part that stopped on a bad option wrote no results.json.
    final = 130 if interrupted else max(overall_code(parts) or 0, max(codes, default=2))
    raise SystemExit(final)
