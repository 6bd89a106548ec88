"""`stagecheck validate-specs`: check the OpenAPI and AsyncAPI contracts and their agreement."""

from __future__ import annotations

from pathlib import Path

import click

from stagecheck.contracts.spec_check.validation import check_specs
from stagecheck.contracts.specs import ASYNCAPI_PATH, OPENAPI_PATH
from stagecheck.errors import SpecError

_PATH = click.Path(path_type=Path, dir_okay=False)


@click.command("validate-specs")
@click.option(
    "--openapi",
    "openapi_path",
    type=_PATH,
    default=None,
    help="OpenAPI 3.2 document [default: the shipped contracts/openapi.yaml].",
)
@click.option(
    "--asyncapi",
    "asyncapi_path",
    type=_PATH,
    default=None,
    help="AsyncAPI 3.0 document [default: the shipped contracts/asyncapi.yaml].",
)
def command(openapi_path: Path | None, asyncapi_path: Path | None) -> None:
    """Check both contract documents against their official meta-schemas, check that
    every $ref resolves, and that the two agree on the SSE messages and stage names.

    Prints one line per problem (file:line: at JSON path: problem) and exits 2, or one
    OK line and exits 0.
    """
    check = check_specs(openapi_path or OPENAPI_PATH, asyncapi_path or ASYNCAPI_PATH)
    if check.problems:
        for problem in check.problems:
            click.echo(str(problem), err=True)
        count = len(check.problems)
        click.echo(f"validate-specs: {count} problem{'s' if count != 1 else ''} found", err=True)
        raise click.exceptions.Exit(SpecError.exit_code)
    click.echo(
        f"OK: {check.openapi_file} (OpenAPI {check.openapi_version})"
        f" and {check.asyncapi_file} (AsyncAPI {check.asyncapi_version})"
        f" match their meta-schemas, {check.refs_checked} $refs resolve, and they agree on"
        f" {len(check.sse_message_types)} SSE message types ({', '.join(check.sse_message_types)})"
        f" and {len(check.stage_names)} stage names"
    )
