"""The front page of `stagecheck run`: one verdict, linking the contract and load reports.

It reads the two results.json files the runs wrote (never the runs themselves) and
renders a small self-contained page: the gate's verdict per part, the headline figures,
and links to each part's own report.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from stagecheck.results.contract_results import ContractResults
from stagecheck.results.load_results import LoadResults


@dataclass(frozen=True, slots=True)
class Part:
    """One part of the main job, as the front page shows it."""

    title: str
    link: str  # relative to the front page
    exit_code: int | None  # None when the part did not run
    lines: tuple[str, ...]


def contract_part(results_file: Path, link: str) -> Part:
    if not results_file.is_file():
        return Part("Contract gate", link, None, ("did not run (no results.json)",))
    results = ContractResults.from_dict(json.loads(results_file.read_text(encoding="utf-8")))
    counts = results.counts
    lines = [
        f"{results.verdict}: {results.coverage()}",
        f"{counts['findings']} findings in {results.wall_s:.1f} s",
    ]
    failed = sorted({f"{c.rule}/{c.transport}" for c in results.cells if c.status == "failed"})
    if failed:
        lines.append("failed: " + ", ".join(failed))
    if results.error:
        lines.append(f"could not finish: {results.error}")
    return Part("Contract gate", link, results.exit_code, tuple(lines))


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def load_part(results_file: Path, link: str) -> Part:
    if not results_file.is_file():
        return Part("SSE against WebSocket under load", link, None, ("did not run (no results.json)",))
    results = LoadResults.from_json(json.loads(results_file.read_text(encoding="utf-8")))
    lines = []
    for level in results.levels:
        lines.append(
            f"{level.mode.upper()} at {level.users} users: {level.streams} streams, "
            f"TTFT p50 {_ms(level.ttft.percentile_ms(50.0))} / p95 {_ms(level.ttft.percentile_ms(95.0))}, "
            f"ITL p50 {_ms(level.itl.percentile_ms(50.0))}, errors {level.error_rate:.1%}, "
            f"violations {level.violation_count}"
        )
    gate = results.gate
    if gate is not None:
        lines += [f"breach: {breach}" for breach in gate.breaches]
    if results.interrupted:
        lines.append("interrupted: the figures cover what was measured")
    if results.error:
        lines.append(f"could not run: {results.error}")
    return Part("SSE against WebSocket under load", link, results.exit_code, tuple(lines))


def _verdict(code: int | None) -> tuple[str, str]:
    if code is None:
        return "not run", "skip"
    if code == 0:
        return "passed", "pass"
    if code == 1:
        return "FAILED", "fail"
    if code == 130:
        return "interrupted: no verdict", "skip"
    return "could not run", "fail"


_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} .sub{color:#57606a;margin-top:0}
section{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.2rem;margin:1rem 0}
h2{font-size:1.15rem;margin:0 0 .5rem} ul{margin:.3rem 0 .6rem;padding-left:1.2rem}
.badge{display:inline-block;border-radius:1rem;padding:0 .7rem;font-size:.85rem;font-weight:600;margin-left:.5rem}
.pass{background:#dafbe1;color:#116329} .fail{background:#ffebe9;color:#a40e26} .skip{background:#eaeef2;color:#57606a}
a{color:#0969da}
"""


def overall_code(parts: list[Part], interrupted: bool = False) -> int | None:
    """The main job's code: 130 when interrupted (no verdict), else the worst part's (2 > 1 > 0)."""
    codes = [p.exit_code for p in parts if p.exit_code is not None]
    if interrupted or 130 in codes:
        return 130
    return max(codes, default=None)


def render(parts: list[Part], target: str, wall_s: float, interrupted: bool = False) -> str:
    overall = overall_code(parts, interrupted)
    verdict, css = _verdict(overall)
    sections = []
    for part in parts:
        word, part_css = _verdict(part.exit_code)
        items = "".join(f"<li>{html.escape(line)}</li>" for line in part.lines)
        link = f'<a href="{html.escape(part.link)}">Open the full report</a>' if part.exit_code is not None else ""
        sections.append(
            f'<section><h2>{html.escape(part.title)}<span class="badge {part_css}">{word}</span></h2>'
            f"<ul>{items}</ul>{link}</section>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>stagecheck report</title>"
        f"<style>{_STYLE}</style></head><body>"
        f'<h1>stagecheck<span class="badge {css}">{verdict}</span></h1>'
        f'<p class="sub">Target {html.escape(target)}; the main job took {wall_s:.0f} s.</p>'
        + "".join(sections)
        + "</body></html>\n"
    )


def read_parts(report_dir: Path) -> list[Part]:
    """Both parts, from `contract/results.json` and `load/results.json` below `report_dir`."""
    return [
        contract_part(report_dir / "contract" / "results.json", "contract/index.html"),
        load_part(report_dir / "load" / "results.json", "load/index.html"),
    ]


def write_front_page(
    parts: list[Part], report_dir: Path, target: str, wall_s: float, interrupted: bool = False
) -> Path:
    """index.html in `report_dir`, linking each part's own report."""
    path = report_dir / "index.html"
    path.write_text(render(parts, target, wall_s, interrupted), encoding="utf-8")
    return path


def summary_lines(parts: list[Part]) -> list[str]:
    """The same verdicts as plain lines, for the terminal."""
    out: list[str] = []
    for part in parts:
        word, _ = _verdict(part.exit_code)
        out.append(f"{part.title}: {word}")
        out += [f"  {line}" for line in part.lines]
    return out
