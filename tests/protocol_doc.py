"""Generate `docs/protocol.md`, the rule reference, from the rule catalogue and the tests.

Each rule's words come from `stagecheck.contracts.rule_catalog`, the checks that judge it
from `stagecheck.suites.catalog`, and the tests that prove each check can fail from the
tests themselves (the broken-stream and broken-backend tables, read with `ast`, plus the
dedicated tests named in PROOFS). `tests/test_protocol_doc.py` fails when the file on disk
differs from what this renders, so the reference cannot drift. Regenerate with:

    .venv/bin/python -m tests.protocol_doc
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

from stagecheck.contracts.rule_catalog import REFERENCE, RULES
from stagecheck.suites.catalog import CHECKS

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / REFERENCE

STREAM_RULES_TESTS = "tests/contracts/test_stream_rules.py"
# (file holding a table of literal cases, the table's name, the test node that runs each case)
STREAM_CASES = (
    STREAM_RULES_TESTS,
    "BROKEN",
    f"{STREAM_RULES_TESTS}::test_a_stream_breaking_one_rule_reports_exactly_that_rule",
)
BACKEND_CASES = (
    "tests/commands/conftest.py",
    "BREAKS",
    "tests/commands/test_contract_cli.py::test_broken_server_is_blamed_on_its_rule",
)

# The broken variants of the independent backend (tests/backends/independent.py).
INDEPENDENT = "tests/commands/test_independent_backend.py"

# Dedicated tests (path::function) that feed a rule a break outside the two tables.
PROOFS: dict[str, tuple[str, ...]] = {
    "E1": (
        "tests/suites/test_http_rules.py::test_error_body_e1",
        f"{INDEPENDENT}::test_broken_independent_backend_is_blamed_on_its_rule[body-over-1mib-gets-a-text-413]",
    ),
    "E2": (
        "tests/suites/test_http_rules.py::test_close_codes_w1_w4_e2",
        "tests/commands/test_contract_cli.py::test_auth_not_enforced_is_blamed_on_e2_and_the_token_is_redacted",
    ),
    "E3": (
        "tests/suites/test_http_rules.py::test_server_error_e3",
        f"{INDEPENDENT}::test_broken_independent_backend_is_blamed_on_its_rule[body-over-1mib-gets-500]",
    ),
    "E4": ("tests/suites/test_http_rules.py::test_task_accepted_e4",),
    "S5": (
        "tests/contracts/test_stream_rules.py::test_s5_buffered_stream_is_reported_when_the_producer_pacing_is_known",
        f"{INDEPENDENT}::test_independent_backend_buffering_its_sse_answer_is_blamed_on_s5",
        f"{INDEPENDENT}::test_s5_is_judged_without_scenarios",
    ),
    "S6": (
        "tests/suites/test_http_rules.py::test_sse_head_s6",
        f"{STREAM_RULES_TESTS}::test_s6_missing_accel_buffering_is_a_warning_only",
        f"{INDEPENDENT}::test_broken_independent_backend_is_blamed_on_its_rule[legacy-no-cache-control]",
        "tests/suites/test_schemathesis_rules.py::test_a_missing_header_is_filed_under_the_rule_that_requires_it",
    ),
    "Q6": (f"{INDEPENDENT}::test_a_silent_socket_is_q6_not_ok",),
    "W2": (f"{INDEPENDENT}::test_broken_independent_backend_is_blamed_on_its_rule[closed-before-connected]",),
    "W5": (
        f"{INDEPENDENT}::test_broken_independent_backend_is_blamed_on_its_rule[late-join-without-snapshot]",
        f"{INDEPENDENT}::test_broken_independent_backend_is_blamed_on_its_rule[late-join-snapshot-is-a-tail]",
        "tests/load/test_reconnect.py::test_a_resumed_socket_without_a_true_snapshot_loses_text",
    ),
    "W3": ("tests/load/test_heartbeat.py::test_a_late_or_missing_pong_is_w3_within_the_window",),
    "W6": (
        f"{INDEPENDENT}::test_broken_independent_backend_is_blamed_on_its_rule[leaks-across-projects]",
        f"{INDEPENDENT}::test_broken_independent_backend_is_blamed_on_its_rule[group-ignores-the-stage]",
    ),
    "T1": ("tests/suites/test_http_rules.py::test_task_status_t1_t2_t3",),
    "T2": ("tests/suites/test_http_rules.py::test_task_status_t1_t2_t3",),
    "T3": ("tests/suites/test_http_rules.py::test_status_progression_t3",),
    "L1": ("tests/suites/test_http_rules.py::test_deprecation_headers_l1",),
    "L3": (
        "tests/suites/test_http_rules.py::test_removed_l3",
        "tests/commands/test_contract_cli.py::test_removed_phase_answering_404_is_blamed_on_l3",
    ),
    "W1": ("tests/suites/test_http_rules.py::test_close_codes_w1_w4_e2",),
    "W4": ("tests/suites/test_http_rules.py::test_close_codes_w1_w4_e2",),
}

# What is known not to be exercised yet, said where a reader of the rule looks.
GAPS: dict[str, str] = {
    "S5": (
        "The mock's `Prefer: tokens=, delay-ms=` pacing is used only when `Preference-Applied` confirms it; "
        "otherwise the same input in async mode is the witness (its WebSocket tokens come as produced), so a "
        "backend whose SSE mode paces differently from its async mode can be misjudged, and one that does not "
        "pace (or streams fewer than 3 tokens) is not judged."
    ),
}

SECTIONS = {
    "0": "Common",
    "1": "Execute a stage",
    "2": "SSE stream",
    "3": "Messages",
    "4": "Sequence rules",
    "5": "WebSocket channel",
    "6": "Task status",
    "7": "Legacy endpoint",
    "8": "Deterministic backends",
}


def _const(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant)


def _literal_cases(path: str, table: str) -> list[tuple[str, str]]:
    """(case id, rule id) pairs of a module-level table of literal test cases."""
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(target, ast.Name) and target.id == table and node.value is not None:  # type: ignore[union-attr]
            value = node.value  # type: ignore[union-attr]
            if isinstance(value, ast.Dict):
                return [
                    (key.value, val.elts[0].value)
                    for key, val in zip(value.keys, value.values, strict=True)
                    if isinstance(key, ast.Constant)
                    and isinstance(val, ast.Tuple)
                    and isinstance(val.elts[0], ast.Constant)
                ]
            if isinstance(value, ast.List):
                return [
                    (elt.elts[0].value, elt.elts[3].value)
                    for elt in value.elts
                    if isinstance(elt, ast.Tuple)
                    and isinstance(elt.elts[0], ast.Constant)
                    and isinstance(elt.elts[3], ast.Constant)
                ]
    raise LookupError(f"{path}: no literal table {table}")


def functions_in(path: str) -> set[str]:
    tree = ast.parse((REPO / path).read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def proofs() -> dict[str, list[str]]:
    """Rule id -> the test node ids that break it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path, table, node in (STREAM_CASES, BACKEND_CASES):
        for case, rule in _literal_cases(path, table):
            found[rule].append(f"{node}[{case}]")
    for rule, nodes in PROOFS.items():
        found[rule].extend(nodes)
    return found


def checks_by_rule() -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for check in CHECKS:
        for rule, _transport in check.rules:
            if check.name not in found[rule]:
                found[rule].append(check.name)
    return found


# The API in brief and section 9, hand-written: everything else comes from the catalogue.
OVERVIEW = (Path(__file__).parent / "protocol_overview.md").read_text(encoding="utf-8")


def render() -> str:
    tests = proofs()
    checks = checks_by_rule()
    out = [
        "# The wire protocol, rule by rule",
        "",
        "<!-- Generated from src/stagecheck/contracts/rule_catalog.py and the tests by tests/protocol_doc.py;",
        "     edit those, then run `.venv/bin/python -m tests.protocol_doc`. A test fails when this file drifts. -->",
        "",
        "This is what stagecheck holds a backend to: the stage execution API, wire protocol v1, in both",
        "modes (SSE in the POST answer, and async tasks followed over a WebSocket) and on the legacy",
        "`rewrite_stream` endpoint. The machine-readable form is `src/stagecheck/contracts/openapi.yaml`",
        "(HTTP, SSE events) and `asyncapi.yaml` (every message, both transports); the rules below add what",
        "those documents cannot say: order, accumulation, timing, isolation, migration.",
        "",
        "Rule ids are stable: every violation, JUnit case and report names its rule by id, and each",
        "finding in `results.json` links here (`rule_doc`). `stagecheck rules ID` prints a rule in the",
        "terminal. MUST rules fail the gate; the SHOULD half of S6 is a warning unless `--strict`.",
        "A rule that a run could not judge is reported as *not run* with the reason, never as passed.",
        "",
        OVERVIEW,
        "| rule | section | transports | checks of `stagecheck contract` | tests that break it |",
        "|---|---|---|---|---|",
    ]
    for rule in RULES:
        out.append(
            f"| [{rule.id}](#{rule.id.lower()}) | {rule.section} {SECTIONS[rule.section]} | "
            f"{', '.join(rule.transports)} | {', '.join(f'`{c}`' for c in checks.get(rule.id, [])) or '-'} | "
            f"{len(tests.get(rule.id, []))} |"
        )
    for rule in RULES:
        out += [
            "",
            f'<a id="{rule.id.lower()}"></a>',
            "",
            f"### {rule.id}: {rule.title}",
            "",
            f"Section {rule.section} ({SECTIONS[rule.section]}) · {rule.level} · {', '.join(rule.transports)}",
            "",
            f"**A backend must:** {rule.must}",
            "",
            f"**How stagecheck judges it:** {rule.judged}",
            "",
            f"**Checks:** {', '.join(f'`{c}`' for c in checks.get(rule.id, [])) or 'none'}",
            "",
            "**Tests that prove the check can fail:**",
            "",
            *[f"- `{node}`" for node in tests.get(rule.id, [])],
        ]
        if rule.id in GAPS:
            out += ["", f"**Known gap:** {GAPS[rule.id]}"]
    return "\n".join(out) + "\n"


def main() -> int:
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
