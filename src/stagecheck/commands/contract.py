"""`stagecheck contract`: the contract gate (exit 0 conforms, 1 violations, 2 could not run)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import click

from stagecheck.commands.option_decorators import with_options
from stagecheck.errors import ConfigError
from stagecheck.reports.contract_html import write_html
from stagecheck.reports.contract_markdown import render_markdown
from stagecheck.reports.junit import write_junit
from stagecheck.reports.terminal import progress_line, summary
from stagecheck.results.contract_results import CheckOutcome, ContractResults
from stagecheck.suites.option_table import GATE_OPTIONS, GateOption
from stagecheck.suites.options import build_options, parse_header
from stagecheck.suites.redact import Redactor
from stagecheck.suites.registry import Check
from stagecheck.suites.runner import RunState, run_checks

FC = TypeVar("FC", bound=Callable[..., Any])


def write_reports(results: ContractResults, report_dir: Path, junit: Path | None, redactor: Redactor) -> dict[str, str]:
    """results.json, junit.xml, index.html and summary.md; every text passes the redactor once more."""
    report_dir.mkdir(parents=True, exist_ok=True)
    data = results.to_dict()
    text = redactor.text(json.dumps(data, ensure_ascii=False, indent=2))
    (report_dir / "results.json").write_text(text + "\n", encoding="utf-8")
    clean = ContractResults.from_dict(json.loads(text))
    paths = {"results": str(report_dir / "results.json")}
    for path in {report_dir / "junit.xml", *([junit] if junit else [])}:
        write_junit(clean, path)
    paths["junit"] = str(junit or report_dir / "junit.xml")
    paths["html"] = str(write_html(clean, report_dir / "index.html"))
    summary_md = report_dir / "summary.md"
    summary_md.write_text(render_markdown(clean), encoding="utf-8")
    paths["summary"] = str(summary_md)
    return paths


def start_embedded(stack: ExitStack, raw: dict[str, Any]) -> tuple[str, str]:
    # Only the CLI may reach the mock server (suites never import it).
    from stagecheck.mock_server.config import MockConfig
    from stagecheck.mock_server.embedded import EmbeddedMock

    token = None
    if raw["auth_required"]:
        headers = dict(parse_header(h) for h in raw["header"])
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        if not auth.lower().startswith("bearer "):
            raise ConfigError(
                "--auth-required against the embedded mock needs --header 'Authorization: Bearer <token>'"
            )
        token = auth[7:].strip()
    config = MockConfig(legacy_phase=raw["legacy_phase"] or "compat", auth_token=token)
    mock = stack.enter_context(EmbeddedMock(config, mode="thread"))
    # Schemathesis sends deliberately malformed requests; uvicorn's warning for each is noise here
    # (set after the start: uvicorn sets its own level when it starts).
    logging.getLogger("uvicorn.error").setLevel(logging.ERROR)
    return mock.base_url, mock.ws_url


_CLICK_TYPES: dict[str, click.ParamType] = {
    "str": click.STRING,
    "int": click.INT,
    "float": click.FLOAT,
    "dir": click.Path(file_okay=False, path_type=Path),
    "file": click.Path(dir_okay=False, path_type=Path),
}


def click_option(option: GateOption) -> Callable[[FC], FC]:
    """The click option for one entry of the gate's option table."""
    kwargs: dict[str, Any] = {"help": option.help}
    if option.flag:
        kwargs["is_flag"] = True
    else:
        kwargs["type"] = click.Choice(option.choices) if option.choices else _CLICK_TYPES[option.kind]
        if option.multiple:
            kwargs["multiple"] = True
        elif option.default is not None:
            kwargs.update(default=option.default, show_default=True)
    if option.metavar:
        kwargs["metavar"] = option.metavar
    return click.option(option.name, option.dest, **kwargs)


# Every option of the table (suites/option_table.py), in its order.
gate_options = with_options(GATE_OPTIONS, click_option)


@click.command("contract")
@gate_options
def command(**raw: Any) -> None:
    """Check a target against the wire contract (docs/protocol.md) over HTTP, SSE and WebSocket."""
    started = time.perf_counter()
    # Every option is checked before anything starts (the embedded mock's URLs stand in here).
    build_options(raw, None if raw["base_url"] else ("http://127.0.0.1", "ws://127.0.0.1"))
    with ExitStack() as stack:
        embedded = None if raw["base_url"] else start_embedded(stack, raw)
        options = build_options(raw, embedded)
        target = {"base_url": options.base_url, "ws_url": options.ws_url, "embedded_mock": embedded is not None}
        state = RunState(options, target, started=started)
        click.echo(f"stagecheck contract: {options.base_url} (profile {options.profile.name})", err=True)

        def progress(event: str, check: Check, outcome: CheckOutcome | None) -> None:
            if event == "start" and check.background:
                click.echo(f"  {check.name:<28} started, runs beside the other checks", err=True)
            line = progress_line(event, check.name, outcome)
            if line:
                click.echo(line, err=True)

        try:
            asyncio.run(run_checks(state, progress))
        except KeyboardInterrupt:
            state.interrupted = True
        results = state.results(strict=raw["strict"], require_all=raw["require_all"])
    redactor = Redactor(options.secrets)
    paths = write_reports(results, raw["report_dir"], raw["junit"], redactor)
    summary(results, lambda line: click.echo(redactor.text(line), err=True), paths)
    raise SystemExit(results.exit_code)
