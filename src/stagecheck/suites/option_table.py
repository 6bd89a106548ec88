"""The contract gate's options, declared once: `stagecheck contract` and the pytest plugin are built from this.

Each entry's `dest` is the key `build_options(raw)` reads. The CLI turns the table into
click options (`stagecheck.commands.contract`), the plugin into `parser.addoption` calls
(`pytest_plugin.py`), under the same option names; entries with `cli_only` are not offered
under pytest, for the reason given. No framework is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .profiles import PROFILES

Kind = Literal["str", "int", "float", "flag", "dir", "file"]


@dataclass(frozen=True)
class GateOption:
    """One option of the contract gate."""

    name: str  # the long option, e.g. "--base-url"
    kind: Kind
    help: str
    default: str | int | float | Path | None = None
    choices: tuple[str, ...] | None = None
    multiple: bool = False  # repeatable; the value is every occurrence, in order
    metavar: str | None = None
    cli_only: str | None = None  # why the pytest plugin does not offer it (None: it does)
    pytest_help: str | None = None  # the plugin's help, where it differs from the CLI's

    @property
    def dest(self) -> str:
        """The raw-dict key (click's and argparse's destination name)."""
        return self.name.removeprefix("--").replace("-", "_")

    @property
    def flag(self) -> bool:
        return self.kind == "flag"

    @property
    def empty(self) -> tuple[str, ...] | bool | str | int | float | Path | None:
        """The value when the option is not given: () for repeatable options, False for flags."""
        if self.multiple:
            return ()
        if self.flag:
            return False
        return self.default


GATE_OPTIONS: tuple[GateOption, ...] = (
    GateOption(
        "--base-url",
        "str",
        "Target API base URL, http(s)://host:port[/prefix]; without it the embedded mock is started and tested.",
        metavar="URL",
        pytest_help="Target API base URL, http(s)://host:port[/prefix] (required).",
    ),
    GateOption(
        "--ws-url",
        "str",
        "WebSocket base URL, ws(s)://host:port (default: the base URL with ws:// or wss://).",
        metavar="URL",
    ),
    GateOption(
        "--project-ids", "str", "Two project ids that exist on the target, e.g. 1,2.", default="1,2", metavar="A,B"
    ),
    GateOption(
        "--missing-project-id", "int", "A project id that does not exist (E4 404, W1 4404).", default=999_999_999
    ),
    GateOption(
        "--header",
        "str",
        "Sent with every request; repeatable (credentials are redacted in reports).",
        multiple=True,
        metavar="'NAME: VALUE'",
    ),
    GateOption("--auth-required", "flag", "The target requires credentials: check 401 / close 4401 without them (E2)."),
    GateOption("--scenarios", "flag", "The target honours Prefer: scenario=fail-start|fail-midway (error paths, S5)."),
    GateOption(
        "--legacy-phase",
        "str",
        "Phase of the legacy rewrite_stream endpoint (L1-L4); default: not tested (compat for the embedded mock).",
        choices=("compat", "removed"),
        pytest_help="Phase of the legacy rewrite_stream endpoint (L1-L4); default: not tested.",
    ),
    GateOption("--deterministic", "flag", "Same input, same text in every mode (D1, L2)."),
    GateOption("--profile", "str", "How much to test.", default="ci", choices=tuple(sorted(PROFILES))),
    GateOption("--rules", "str", "Run only the checks of these rule ids, e.g. S2,Q1 (default: all).", metavar="IDS"),
    GateOption(
        "--report-dir",
        "dir",
        "Directory for results.json, junit.xml and index.html.",
        default=Path("stagecheck-report/contract"),
        cli_only="pytest writes its own reports (--junit-xml)",
    ),
    GateOption(
        "--junit",
        "file",
        "Also write the JUnit XML here (default: only in --report-dir).",
        cli_only="pytest writes its own JUnit XML (--junit-xml)",
    ),
    GateOption(
        "--strict",
        "flag",
        "Warnings (SHOULD rules) fail the gate too.",
        cli_only="pytest owns --strict, and the plugin's items fail on MUST violations only",
    ),
    GateOption(
        "--require-all",
        "flag",
        "A rule that could not be checked (not run, with its reason) fails the gate too (exit 1).",
        cli_only="under pytest a check that cannot run is reported as a skipped item",
    ),
    GateOption("--request-timeout", "float", "Seconds to wait for an HTTP answer.", default=10.0),
    GateOption("--first-event-timeout", "float", "Q6 bound on the first event, seconds.", default=10.0),
    GateOption("--idle-timeout", "float", "Q6 bound on gaps between events, seconds.", default=10.0),
    GateOption(
        "--max-time",
        "float",
        "Seconds the whole run may take (default: quick 60, ci 180, deep 600); checks not reached are not run, "
        "and a run stopped by it exits 1 with violations, else 2.",
        metavar="SECONDS",
    ),
    GateOption("--seed", "int", "Seed for Hypothesis inputs and Schemathesis.", default=0),
    GateOption("--no-schemathesis", "flag", "Skip the Schemathesis property run (faster iteration)."),
    GateOption(
        "--allow-type",
        "str",
        "A message type the target may send beyond the contract (M1); repeatable.",
        multiple=True,
        metavar="NAME",
    ),
)

GATE_OPTIONS_BY_DEST: dict[str, GateOption] = {option.dest: option for option in GATE_OPTIONS}
PYTEST_OPTIONS: tuple[GateOption, ...] = tuple(option for option in GATE_OPTIONS if option.cli_only is None)
