"""Property tests from openapi.yaml with Schemathesis (all phases, stateful included).

Schemathesis runs as `st run` in a subprocess: its CLI owns the phases, workers and
shrinking, and a subprocess keeps its Hypothesis settings and hooks out of ours.
stagecheck's own rule checks (E1, E3, E4, T1, T2) are registered through
SCHEMATHESIS_HOOKS=stagecheck.suites.st_hooks. The JUnit report is parsed back into
findings named by rule id; its raw files are deleted (they may hold credentials).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from stagecheck.contracts.specs import OPENAPI_PATH
from stagecheck.results.contract_results import CheckOutcome, Finding, TimelineEntry

from .context import SuiteContext
from .profiles import ST_HARD_LIMIT_S

HOOKS = "stagecheck.suites.st_hooks"
# Schemathesis streams at most this many events per SSE answer (a stalling stream costs seconds).
MAX_STREAM_EVENTS = 60
ST_TOKENS = 3
# Schemathesis' default expected statuses of negative_data_rejection (4.32).
NEGATIVE_EXPECTED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
ST_REQUEST_TIMEOUT_S = 5.0
# The rules each Schemathesis test case (named by operation) exercises.
OPERATION_RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "execute-stage": (("E1", "http"), ("E3", "http"), ("E4", "http"), ("S1", "sse"), ("M1", "sse")),
    "task-status": (("E1", "http"), ("E3", "http"), ("T1", "http"), ("T2", "http")),
    "rewrite_stream": (("E1", "http"), ("E3", "http")),
    "Stateful": (("E4", "http"), ("T1", "http"), ("T2", "http")),
}
RULE_PREFIX = re.compile(r"^\s*([A-Z][0-9])\s*:\s*(.*)$", re.MULTILINE)
CASE_SPLIT = re.compile(r"(?:^|\n)\d+\. Test Case ID: \S+\n")
REPRO = re.compile(r"Reproduce with:\s*\n\s*\n?\s*(curl .+)")


def config_toml(ctx: SuiteContext) -> str:
    """schemathesis.toml for this target: known project, bounded streams, expected statuses."""
    options = ctx.options
    lines = [
        f"max-stream-events = {MAX_STREAM_EVENTS}",
        # A silent stream costs Schemathesis a full request timeout per case: keep it short.
        f"request-timeout = {min(options.request_timeout_s, ST_REQUEST_TIMEOUT_S):g}",
        "[parameters]",
        f'"path.project_id" = {options.project_ids[0]}',
    ]
    if options.legacy_phase == "removed":
        # The legacy endpoint answers 410 to everything in the removed phase (L3): valid and invalid input alike.
        lines += [
            "[checks.positive_data_acceptance]",
            'expected-statuses = ["2xx", "401", "404", "410"]',
            "[checks.negative_data_rejection]",
            f"expected-statuses = {json.dumps([*NEGATIVE_EXPECTED, '410'])}",
        ]
    return "\n".join(lines) + "\n"


def command(ctx: SuiteContext, report_dir: Path, config: Path) -> list[str]:
    profile = ctx.options.profile
    args = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(OPENAPI_PATH),
        "--url",
        ctx.options.base_url,
        "--phases",
        ",".join(profile.st_phases),
        "--max-examples",
        str(profile.st_max_examples),
        "--seed",
        str(ctx.options.seed),
        "--checks",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        "--no-color",
    ]
    if profile.st_max_time_s is not None:
        args += ["--max-time", str(profile.st_max_time_s)]
    if ctx.options.legacy_phase is None:
        args += ["--exclude-operation-id", "rewriteStream"]
    for name, value in ctx.options.headers:
        args += ["--header", f"{name}: {value}"]
    # Short streams on scenario-capable targets: a property run makes hundreds of requests.
    for name, value in ctx.prefer(tokens=ST_TOKENS, delay_ms=0).items():
        args += ["--header", f"{name}: {value}"]
    return args


def rule_for(operation: str, title: str, text: str, legacy_rule: str = "L1") -> tuple[str, str]:
    """(rule, transport) of a Schemathesis failure: ours name their rule; built-ins are mapped."""
    own = RULE_PREFIX.search(text)
    if own and title.startswith("Custom check"):
        return own.group(1), "http"
    lowered = title.lower()
    if "server error" in lowered or re.search(r"Received: 5\d\d", text):
        return "E3", "http"
    if lowered.startswith("sse"):
        return ("M1", "sse") if "payload" in lowered else ("S1", "sse")
    legacy = "rewrite_stream" in operation
    if "header" in lowered:
        # A header is filed under the rule that requires it: L1 asks the legacy answer for
        # Deprecation and Link; Cache-Control and X-Accel-Buffering are S6 on either endpoint.
        if not legacy or re.search(r"cache-control|x-accel-buffering", text, re.IGNORECASE):
            return "S6", "sse"
        return legacy_rule, "http"
    if "task-status" in operation:
        return ("T2", "http") if "rejected" in lowered or "accepted" in lowered else ("T1", "http")
    return (legacy_rule, "http") if legacy else ("E4", "http")


def _sections(block: str) -> list[tuple[str, str]]:
    """(title, text) of each failed check in one test case block (`- ST101 Server error` ...)."""
    body = block.split("\n[", 1)[0].split("Reproduce with:", 1)[0]
    out = []
    for part in re.split(r"^- ", body, flags=re.MULTILINE)[1:]:
        title, _, text = part.partition("\n")
        out.append((re.sub(r"^[A-Z]+\d+\s+", "", title.strip()), text.strip()))
    return out


def skipped_operations(xml_text: str) -> dict[str, str]:
    """Operation -> why Schemathesis skipped it (a time limit reached, nothing to generate)."""
    root = ET.fromstring(xml_text)  # noqa: S314 - our own subprocess's report
    return {
        case.get("name", ""): (skipped.text or skipped.get("message") or "skipped").strip()
        for case in root.iter("testcase")
        if (skipped := case.find("skipped")) is not None
    }


def operations_tested(xml_text: str) -> list[str]:
    root = ET.fromstring(xml_text)  # noqa: S314 - our own subprocess's report
    return [case.get("name", "") for case in root.iter("testcase") if case.find("skipped") is None]


def rules_tested(xml_text: str) -> set[tuple[str, str]]:
    """(rule, transport) pairs of the operations Schemathesis actually tested (not skipped)."""
    found: set[tuple[str, str]] = set()
    root = ET.fromstring(xml_text)  # noqa: S314 - our own subprocess's report
    for case in root.iter("testcase"):
        if case.find("skipped") is not None:
            continue
        name = case.get("name", "")
        for key, pairs in OPERATION_RULES.items():
            if key in name:
                found.update(pairs)
    return found


def parse_junit(xml_text: str, check: str, legacy_rule: str = "L1") -> list[Finding]:
    """One finding per rule per failing test case, with Schemathesis' own curl line."""
    findings: list[Finding] = []
    root = ET.fromstring(xml_text)  # noqa: S314 - our own subprocess's report
    for case in root.iter("testcase"):
        operation = case.get("name", "")
        for failure in [*case.iter("failure"), *case.iter("error")]:
            body = failure.text or failure.get("message") or ""
            for block in CASE_SPLIT.split(body):
                block = block.strip()
                if not block:
                    continue
                repro = REPRO.search(block)
                where = repro.group(1) if repro and operation == "Stateful tests" else operation
                seen: set[str] = set()
                sections = _sections(block) or [(failure.get("message", "failure"), block)]
                # stagecheck's own checks first: their message names the rule and both sides.
                sections.sort(key=lambda section: not section[0].startswith("Custom check"))
                for title, text in sections:
                    rule, transport = rule_for(where, title, text, legacy_rule)
                    if rule in seen:
                        continue
                    seen.add(rule)
                    own = RULE_PREFIX.search(text)
                    message = own.group(2) if own and title.startswith("Custom check") else title
                    received = re.search(r"Received: (.*)", text)
                    expected = re.search(r"(?:Contract|Documented|Expected): (.*)", text)
                    findings.append(
                        Finding(
                            rule=rule,
                            transport=transport,
                            check=check,
                            message=f"{message} ({operation})",
                            received=received.group(1) if received else "",
                            expected=expected.group(1) if expected else "",
                            timeline=(TimelineEntry(0.0, "note", block[:3000]),),
                            reproduce=repro.group(1).strip() if repro else "",
                        )
                    )
    return findings


async def run_schemathesis(ctx: SuiteContext, report_dir: Path) -> tuple[int, str]:
    config = report_dir / "schemathesis.toml"
    config.write_text(config_toml(ctx), encoding="utf-8")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": HOOKS, "NO_COLOR": "1"}
    process = await asyncio.create_subprocess_exec(
        *command(ctx, report_dir, config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
        cwd=report_dir,
    )
    budget = ctx.options.profile.st_max_time_s
    limit = ST_HARD_LIMIT_S if budget is None else budget + ctx.options.request_timeout_s + 30
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"Schemathesis did not finish within {limit:g} s; stopped") from None
    except asyncio.CancelledError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, output.decode("utf-8", "replace")


async def check_schemathesis(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    with tempfile.TemporaryDirectory(prefix="stagecheck-st-") as folder:
        report_dir = Path(folder)
        code, output = await run_schemathesis(ctx, report_dir)
        reports = sorted(report_dir.glob("junit*.xml"))
        # st exits 0 (no failure) or 1 (failures); anything else means it could not test.
        if code not in (0, 1) or not reports:
            raise RuntimeError(f"Schemathesis could not run (exit {code}): {_problem(ctx, output)}")
        text = reports[-1].read_text(encoding="utf-8")
        # The legacy endpoint answers like execute-stage in compat (L1), and 410 when removed (L3).
        findings = parse_junit(text, outcome.name, "L3" if ctx.options.legacy_phase == "removed" else "L1")
        tested = rules_tested(text)
        tested_operations = operations_tested(text)
        skipped = skipped_operations(text)
    outcome.findings.extend(ctx.redactor.finding(f) for f in findings)
    if any("rewrite_stream" in name for name in tested_operations):
        tested.add(("L3" if ctx.options.legacy_phase == "removed" else "L1", "http"))
    outcome.exercised |= tested
    for operation, why in skipped.items():
        for key, pairs in OPERATION_RULES.items():
            if key in operation:
                for rule, transport in pairs:
                    outcome.skip(transport, f"Schemathesis skipped {operation}: {why}", rule)
    if not tested:
        # Nothing ran (time budget too small for this target): claim nothing.
        for rule, transport in {pair for pairs in OPERATION_RULES.values() for pair in pairs}:
            outcome.skip(transport, "Schemathesis tested no operation (see its skipped reasons)", rule)


def _problem(ctx: SuiteContext, output: str) -> str:
    """The lines of Schemathesis' output that say what went wrong, credentials masked."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    marked = [i for i, line in enumerate(lines) if "❌" in line or "Error" in line]
    start = marked[0] if marked else max(0, len(lines) - 6)
    return ctx.redactor.text(" / ".join(lines[start : start + 6]))[:600]
