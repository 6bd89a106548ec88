"""results.json round trip, JUnit (one case per rule and transport), HTML (self-contained), terminal summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from stagecheck.contracts.rule_catalog import RULES
from stagecheck.reports.contract_html import render_html, write_html
from stagecheck.reports.junit import junit_xml
from stagecheck.reports.terminal import progress_line, summary
from stagecheck.results.contract_results import (
    CheckOutcome,
    CheckSummary,
    ContractResults,
    Finding,
    RequestRecord,
    TimelineEntry,
    fold_cells,
)


def sample(strict: bool = False) -> ContractResults:
    s2 = Finding(
        rule="S2",
        transport="sse",
        check="sse.stages",
        message="event id does not count up by one from 1",
        received="id: 5",
        expected="id: 2",
        index=2,
        at=0.031,
        request=RequestRecord("POST", "http://h/x/", {"Content-Type": "application/json"}, "{}"),
        timeline=(TimelineEntry(0.0, "head", "200 <b>"), TimelineEntry(0.031, "event", "id: 5")),
        reproduce="curl -N http://h/x/",
    )
    s6 = Finding(rule="S6", transport="sse", check="sse.stages", message="may be buffered", severity="warning")
    outcome = CheckOutcome("sse.stages", findings=[s2, s6])
    outcome.exercise("sse", "S1", "S2", "S6")
    other = CheckOutcome("ws.ping")
    other.exercise("ws", "W3")
    other.skip("ws", "needs auth", "E2")
    cells = fold_cells([outcome, other], None, {("L3", "http"): "legacy phase is not removed"})
    return ContractResults(
        target={"base_url": "http://h"},
        options={"profile": "quick"},
        started_at="2026-11-28T17:00:00+00:00",
        wall_s=1.5,
        cells=cells,
        findings=[s2, s6],
        checks=[CheckSummary("sse.stages", 1.0, 2), CheckSummary("ws.ping", 0.1, 0)],
        strict=strict,
    )


def test_cells_and_exit_codes() -> None:
    results = sample()
    cells = {(c.rule, c.transport): c for c in results.cells}
    assert len(cells) == sum(len(rule.transports) for rule in RULES)
    assert cells[("S2", "sse")].status == "failed" and cells[("S2", "sse")].failures == 1
    assert cells[("S6", "sse")].status == "warning"
    assert cells[("S1", "sse")].status == "passed" and cells[("W3", "ws")].status == "passed"
    assert cells[("E2", "ws")].status == "not-run" and cells[("E2", "ws")].reason == "needs auth"
    assert cells[("L3", "http")].reason == "legacy phase is not removed"
    assert results.exit_code == 1
    s6_only = ContractResults({}, {}, "t", cells=[c for c in results.cells if c.rule != "S2"], strict=True)
    assert s6_only.exit_code == 1 and ContractResults({}, {}, "t", cells=s6_only.cells).exit_code == 0
    assert ContractResults({}, {}, "t", error="cannot connect").exit_code == 2


def test_a_violation_of_an_unselected_rule_is_still_reported() -> None:
    outcome = CheckOutcome("x", findings=[Finding(rule="Q1", transport="sse", check="x", message="m")])
    cells = {(c.rule, c.transport): c for c in fold_cells([outcome], frozenset({"S2"}), {})}
    assert cells[("Q1", "sse")].status == "failed"
    assert cells[("S2", "sse")].reason == "not selected (--rules)" or cells[("S2", "sse")].status == "not-run"


def test_results_json_round_trips() -> None:
    results = sample()
    data = json.loads(json.dumps(results.to_dict()))
    again = ContractResults.from_dict(data)
    assert again.to_dict() == results.to_dict()
    assert data["counts"] == {"passed": 2, "failed": 1, "warning": 1, "not-run": len(results.cells) - 4, "findings": 2}
    assert data["findings"][0]["timeline"][1] == {"at": 0.031, "kind": "event", "text": "id: 5"}


def test_junit_has_one_case_per_rule_and_transport() -> None:
    results = sample()
    root = ET.fromstring(junit_xml(results))
    cases = {
        case.get("name", "").split(" ")[0] + " " + case.get("name", "").split(" ")[1]: case
        for case in root.iter("testcase")
    }
    assert len(cases) == len(results.cells)
    s2 = cases["S2 [sse]"]
    failure = s2.find("failure")
    assert failure is not None and failure.get("message", "").startswith("S2: event id")
    assert "Reproduce: curl -N http://h/x/" in (failure.text or "")
    assert cases["S6 [sse]"].find("failure") is None and cases["E2 [ws]"].find("skipped") is not None
    assert (
        ET.fromstring(junit_xml(sample(strict=True))).find(
            ".//testcase[@name='S6 [sse] " + next(r.title for r in RULES if r.id == "S6") + "']/failure"
        )
        is not None
    )


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    html = render_html(sample())
    assert "<script" not in html and "http://cdn" not in html and "https://" not in html
    assert "200 &lt;b&gt;" in html and "200 <b>" not in html  # wire text is escaped
    assert 'id="S2-sse"' in html and 'href="#S2-sse"' in html
    assert "curl -N http://h/x/" in html and "31.0 ms" in html
    path = write_html(sample(), tmp_path / "out" / "index.html")
    assert path.read_text(encoding="utf-8") == html


def test_terminal_summary_and_progress() -> None:
    lines: list[str] = []
    summary(sample(), lines.append, {"results": "r.json"})
    text = "\n".join(lines)
    assert "FAIL S2 [sse] event id does not count up by one from 1" in text
    assert "violations found (exit 1) in 1.5 s wall time" in text and "results: r.json" in text
    outcome = CheckOutcome("sse.stages", findings=sample().findings, duration_s=0.5)
    assert "1 violation(s), 1 warning(s): S2, S6" in (progress_line("end", "sse.stages", outcome) or "")
    assert progress_line("start", "sse.stages", None) is None


def test_every_finding_and_rule_links_to_its_section_of_the_reference() -> None:
    data = sample().to_dict()
    assert [f["rule_doc"] for f in data["findings"]] == ["docs/protocol.md#s2", "docs/protocol.md#s6"]
    assert all(cell["rule_doc"] == f"docs/protocol.md#{cell['rule'].lower()}" for cell in data["rules"])


def test_html_explains_every_rule_of_its_matrix() -> None:
    page = render_html(sample())
    for rule in RULES:
        assert f'id="rule-{rule.id}"' in page and f'href="#rule-{rule.id}"' in page
    assert 'href="#rule-S2">S2</a> [sse]' in page


def clean_sample(**changes: object) -> ContractResults:
    """Three checked cells that held, one not run with a reason; nothing else in the matrix."""
    cells = [c for c in sample().cells if (c.rule, c.transport) in {("S1", "sse"), ("W3", "ws"), ("E2", "ws")}]
    base = ContractResults({"base_url": "http://h"}, {"profile": "quick"}, "t", wall_s=1.0, cells=cells)
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_the_coverage_line_names_what_was_not_run_and_why() -> None:
    results = clean_sample()
    assert results.exit_code == 0 and results.verdict == "conforms"
    assert results.coverage() == "2 of 3 rule checks held, 1 not run (E2/ws: needs auth)"
    lines: list[str] = []
    summary(results, lines.append)
    assert "conforms: 2 of 3 rule checks held, 1 not run (E2/ws: needs auth); 0 findings" in lines
    assert "1 not run (E2/ws: needs auth)" in render_html(results)
    assert results.to_dict()["coverage"] == results.coverage()


def test_require_all_fails_a_run_that_left_rules_unchecked() -> None:
    results = clean_sample(require_all=True)
    assert results.exit_code == 1 and results.verdict == "rules not run (--require-all)"
    every_cell_ran = clean_sample(require_all=True, cells=[c for c in results.cells if c.status != "not-run"])
    assert every_cell_ran.exit_code == 0
    again = ContractResults.from_dict(json.loads(json.dumps(results.to_dict())))
    assert again.require_all is True and again.exit_code == 1


def test_summary_markdown_states_verdict_coverage_and_findings() -> None:
    from stagecheck.reports.contract_markdown import render_markdown

    text = render_markdown(sample())
    assert text.startswith("# stagecheck contract: violations found (exit 1)")
    assert "rule checks held, 1 failed (1 with warnings)" in text
    assert "| [S2](docs/protocol.md#s2) | sse | `sse.stages` | event id does not count up by one from 1 |" in text
    assert render_markdown(clean_sample()).startswith("# stagecheck contract: conforms (exit 0)")
