"""index.html of a contract run: self-contained (inline CSS, no scripts from anywhere).

A rule-by-transport matrix, then every finding with its event timeline and a command
that reproduces it.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from stagecheck.contracts.rule_catalog import RULES_BY_ID
from stagecheck.results.contract_results import Cell, ContractResults, Finding, rule_title

TRANSPORTS = ("http", "sse", "ws")
INTERRUPTED = "<p><b>Interrupted:</b> this report holds what was measured before the run stopped.</p>"
MAX_FINDINGS_SHOWN = 200

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:80rem}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
.passed{background:#d9f2d9}.failed{background:#f8d0d0;font-weight:bold}.warning{background:#fcefc7}
.not-run{background:#eee;color:#666}.na{background:#fff}
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.finding{border-left:4px solid #c33;padding-left:1rem;margin:1.5rem 0}.finding.warning{border-color:#d9a400}
.tl td:first-child{text-align:right;font-family:monospace;white-space:nowrap}
.tl td{font-family:monospace;font-size:.85rem}
"""


def _cell(cell: Cell | None, anchor: str) -> str:
    if cell is None:
        return '<td class="na"></td>'
    label = {"passed": "passed", "failed": f"failed ({cell.failures})", "warning": f"warning ({cell.warnings})"}.get(
        cell.status, "not run"
    )
    title = escape(cell.reason or ", ".join(cell.checks), quote=True)
    if cell.status in ("failed", "warning"):
        label = f'<a href="#{anchor}">{label}</a>'
    return f'<td class="{cell.status}" title="{title}">{label}</td>'


def _matrix(results: ContractResults) -> str:
    cells = {(c.rule, c.transport): c for c in results.cells}
    rules = list(dict.fromkeys(c.rule for c in results.cells))
    rows = [
        "<tr><th>rule</th><th>title</th>" + "".join(f"<th>{t}</th>" for t in TRANSPORTS) + "<th>why not run</th></tr>"
    ]
    for rule in rules:
        reasons = sorted(
            {c.reason for t in TRANSPORTS if (c := cells.get((rule, t))) and c.status == "not-run" and c.reason}
        )
        rows.append(
            f'<tr><td><b><a href="#rule-{rule}">{rule}</a></b></td><td>{escape(rule_title(rule))}</td>'
            + "".join(_cell(cells.get((rule, t)), f"{rule}-{t}") for t in TRANSPORTS)
            + f"<td>{escape('; '.join(reasons))}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _finding(finding: Finding, anchor: str | None) -> str:
    ident = f' id="{anchor}"' if anchor else ""
    timeline = "".join(
        f"<tr><td>{e.at * 1000:.1f} ms</td><td>{escape(e.kind)}</td><td><pre>{escape(e.text)}</pre></td></tr>"
        for e in finding.timeline
    )
    request = ""
    if finding.request is not None:
        req = finding.request
        headers = "\n".join(f"{k}: {v}" for k, v in req.headers.items())
        shown = f"{req.method} {req.url}\n{headers}\n\n{req.body or ''}"
        request = f"<p>Request</p><pre>{escape(shown)}</pre>"
    where = f" event #{finding.index}" if finding.index is not None else ""
    where += f" at {finding.at * 1000:.1f} ms" if finding.at is not None else ""
    return (
        f'<div class="finding {finding.severity}"{ident}><h3><a href="#rule-{finding.rule}">{finding.rule}</a> '
        f"[{finding.transport}] "
        f"{escape(finding.message)}</h3>"
        f"<p>check <code>{escape(finding.check)}</code>{escape(where)}"
        f"{' task ' + escape(finding.task_id) if finding.task_id else ''}</p>"
        f"<p>Received</p><pre>{escape(finding.received)}</pre><p>Contract</p><pre>{escape(finding.expected)}</pre>"
        f"{request}"
        + (f"<p>Reproduce</p><pre>{escape(finding.reproduce)}</pre>" if finding.reproduce else "")
        + (
            f"<details><summary>timeline ({len(finding.timeline)} entries)</summary>"
            f'<table class="tl">{timeline}</table></details>'
            if timeline
            else ""
        )
        + "</div>"
    )


def _rule_reference(rule_ids: list[str]) -> str:
    """What each rule of the matrix asks of a backend, so that a reader of "S5 failed" can look it up here."""
    parts = []
    for rule_id in rule_ids:
        rule = RULES_BY_ID.get(rule_id)
        if rule is None:
            continue
        parts.append(
            f'<div class="rule" id="rule-{rule.id}"><h3>{rule.id}: {escape(rule.title)}</h3>'
            f"<p><b>A backend must:</b> {escape(rule.must)}</p>"
            f"<p><b>How stagecheck judges it:</b> {escape(rule.judged)}</p>"
            f"<p>More: <code>{escape(rule.anchor)}</code> in stagecheck's repository, "
            f"or <code>stagecheck rules {rule.id}</code>.</p></div>"
        )
    return "".join(parts)


def render_html(results: ContractResults) -> str:
    counts = results.counts
    verdict = results.verdict
    anchors: set[str] = set()
    parts = []
    for finding in results.findings[:MAX_FINDINGS_SHOWN]:
        key = f"{finding.rule}-{finding.transport}"
        parts.append(_finding(finding, None if key in anchors else key))
        anchors.add(key)
    more = len(results.findings) - MAX_FINDINGS_SHOWN
    if more > 0:
        parts.append(f"<p>{more} more findings in results.json</p>")
    checks = "".join(
        f"<tr><td>{escape(c.name)}</td><td>{c.duration_s:.2f} s</td><td>{c.findings}</td>"
        f"<td>{escape(c.error or '')}</td></tr>"
        for c in results.checks
    )
    target = escape(str(results.target.get("base_url", "")))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>stagecheck contract: {target}</title><style>{CSS}</style></head>
<body><h1>stagecheck contract: {escape(verdict)} (exit {results.exit_code})</h1>
<p>Target {target} (WebSocket {escape(str(results.target.get("ws_url", "")))}), profile
{escape(str(results.options.get("profile")))}, started {escape(results.started_at)}, wall time {results.wall_s:.1f} s.
{counts["passed"]} passed, {counts["failed"]} failed, {counts["warning"]} warnings, {counts["not-run"]} not run.</p>
<p class="coverage"><b>{escape(verdict)}:</b> {escape(results.coverage())}</p>
{f"<p><b>Error:</b> {escape(results.error)}</p>" if results.error else ""}
{INTERRUPTED if results.interrupted else ""}
<h2>Rules by transport</h2>{_matrix(results)}
<h2>Findings ({len(results.findings)})</h2>{"".join(parts) or "<p>None.</p>"}
<h2>Checks</h2><table><tr><th>check</th><th>time</th><th>findings</th><th>error</th></tr>{checks}</table>
<h2>The rules</h2>{_rule_reference(list(dict.fromkeys(c.rule for c in results.cells)))}
</body></html>
"""


def write_html(results: ContractResults, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(results), encoding="utf-8")
    return path
