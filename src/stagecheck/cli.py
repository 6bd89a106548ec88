"""The `stagecheck` command line: the only module that reaches every floor.

Commands are imported lazily (by name, on use), so that `stagecheck --help` stays fast
and no command drags in another's heavy imports; `import locust` in particular
monkey-patches the whole process with gevent and must stay inside `load` runs.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from stagecheck import __version__
from stagecheck.errors import StagecheckError

# command name -> "module:attribute" of a click.Command
COMMANDS: dict[str, str] = {
    "validate-specs": "stagecheck.commands.validate_specs:command",
    "mock": "stagecheck.commands.mock:command",
    "contract": "stagecheck.commands.contract:command",
    "load": "stagecheck.commands.load:command",
    "load-worker": "stagecheck.commands.load_worker:command",
    "run": "stagecheck.commands.run:command",
    "rules": "stagecheck.commands.rules:command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StagecheckError as exc:
            # Misuse of the tool, not a finding about the target: one line, exit 2.
            click.echo(f"stagecheck: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="stagecheck")
def cli() -> None:
    """Contract and load testing for the stage execution API (SSE and WebSocket).

    With no target URL, every command starts the embedded mock server and runs against
    it. Exit codes: 0 the target conforms, 1 violations found, 2 stagecheck could not
    do its job (bad arguments, unreachable target, malformed spec).
    """


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="stagecheck")
