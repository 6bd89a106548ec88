"""`stagecheck contract`: the contract gate (exit 0 conforms, 1 violations, 2 could not run)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from stagecheck.errors import ConfigError
from stagecheck.reports.contract_html import write_html
from stagecheck.reports.junit import write_junit
from stagecheck.reports.terminal import progress_line, summary
from stagecheck.results.contract_results import CheckOutcome, ContractResults
from stagecheck.suites.options import build_options, parse_header
from stagecheck.suites.profiles import PROFILES
from stagecheck.suites.redact import Redactor
from stagecheck.suites.registry import Check
from stagecheck.suites.runner import RunState, run_checks


def write_reports(results: ContractResults, report_dir: Path, junit: Path | None, redactor: Redactor) -> dict[str, str]:
    """results.json, junit.xml and index.html; every text passes the redactor once more."""
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


@click.command("contract")
@click.option("--base-url", help="Target API base URL; without it the embedded mock is started and tested.")
@click.option("--ws-url", help="WebSocket base URL (default: the base URL with ws:// or wss://).")
@click.option("--project-ids", default="1,2", show_default=True, help="Two project ids that exist on the target.")
@click.option(
    "--missing-project-id", type=int, default=999_999_999, show_default=True, help="A project id that does not exist."
)
@click.option(
    "--header",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="Sent with every request (credentials are redacted in reports).",
)
@click.option(
    "--auth-required", is_flag=True, help="The target requires credentials: check 401 / close 4401 without them (E2)."
)
@click.option(
    "--scenarios", is_flag=True, help="The target honours Prefer: scenario=fail-start|fail-midway (error paths, S5)."
)
@click.option(
    "--legacy-phase",
    type=click.Choice(["compat", "removed"]),
    help="Phase of the legacy rewrite_stream endpoint (L1-L4).",
)
@click.option("--deterministic", is_flag=True, help="Same input, same text in every mode (D1, L2).")
@click.option(
    "--profile", type=click.Choice(sorted(PROFILES)), default="ci", show_default=True, help="How much to test."
)
@click.option("--rules", help="Run only the checks of these rule ids, e.g. S2,Q1.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("stagecheck-report/contract"),
    show_default=True,
)
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JUnit XML here.")
@click.option("--strict", is_flag=True, help="Warnings (SHOULD rules) fail the gate too.")
@click.option(
    "--request-timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for an HTTP answer."
)
@click.option(
    "--first-event-timeout", type=float, default=10.0, show_default=True, help="Q6 first-event bound, seconds."
)
@click.option(
    "--idle-timeout", type=float, default=10.0, show_default=True, help="Q6 bound on gaps between events, seconds."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for Hypothesis inputs and Schemathesis.")
@click.option("--no-schemathesis", is_flag=True, help="Skip the Schemathesis property run (faster iteration).")
@click.option("--allow-type", multiple=True, help="A message type the target may send beyond the contract (M1).")
def command(**raw: Any) -> None:
    """Check a target against the wire contract (docs/protocol.md) over HTTP, SSE and WebSocket."""
    started = time.perf_counter()
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
        results = state.results(strict=raw["strict"])
    redactor = Redactor(options.secrets)
    paths = write_reports(results, raw["report_dir"], raw["junit"], redactor)
    summary(results, lambda line: click.echo(redactor.text(line), err=True), paths)
    raise SystemExit(results.exit_code)
