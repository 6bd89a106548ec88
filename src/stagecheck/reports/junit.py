"""JUnit XML of a contract run: one test case per rule and transport, named by rule id."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from stagecheck.results.contract_results import ContractResults, rule_title


def junit_xml(results: ContractResults) -> str:
    counts = results.counts
    suite = ET.Element(
        "testsuite",
        name="stagecheck.contract",
        tests=str(len(results.cells)),
        failures=str(counts["failed"] + (counts["warning"] if results.strict else 0)),
        errors="1" if results.error else "0",
        skipped=str(counts["not-run"]),
        time=f"{results.wall_s:.3f}",
    )
    for cell in results.cells:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"stagecheck.contract.{cell.transport}",
            name=f"{cell.rule} [{cell.transport}] {rule_title(cell.rule)}",
        )
        mine = [f for f in results.findings if (f.rule, f.transport) == (cell.rule, cell.transport)]
        text = "\n\n".join(
            f"{f.rule}: {f.message}\n  Received: {f.received}\n  Contract: {f.expected}\n  Check: {f.check}"
            + (f"\n  Reproduce: {f.reproduce}" if f.reproduce else "")
            for f in mine[:20]
        )
        if cell.status == "failed" or (cell.status == "warning" and results.strict):
            first = mine[0].message if mine else cell.status
            failure = ET.SubElement(case, "failure", message=f"{cell.rule}: {first}", type=cell.status)
            failure.text = text
        elif cell.status == "warning":
            ET.SubElement(case, "system-out").text = "warning (SHOULD):\n" + text
        elif cell.status == "not-run":
            ET.SubElement(case, "skipped", message=cell.reason or "not run")
    if results.error:
        case = ET.SubElement(suite, "testcase", classname="stagecheck.contract", name="stagecheck run")
        ET.SubElement(case, "error", message=results.error, type="stagecheck")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(results: ContractResults, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(results), encoding="utf-8")
    return path
