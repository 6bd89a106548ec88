"""`summary.md` of a contract run: short enough for a CI job summary or a PR comment."""

from __future__ import annotations

from stagecheck.results.contract_results import ContractResults, rule_doc

MAX_FINDINGS = 20


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]


def render_markdown(results: ContractResults) -> str:
    counts = results.counts
    target = results.target.get("base_url", "")
    lines = [
        f"# stagecheck contract: {results.verdict} (exit {results.exit_code})",
        "",
        f"**{results.verdict}:** {results.coverage()}.",
        "",
        f"Target `{target}`, profile `{results.options.get('profile')}`, started {results.started_at}, "
        f"{results.wall_s:.1f} s wall time; {counts['findings']} findings.",
    ]
    if results.error:
        lines += ["", f"**Could not finish:** {results.error}"]
    if results.interrupted:
        lines += ["", "**Interrupted:** the figures cover what was checked before Ctrl-C."]
    shown = results.findings[:MAX_FINDINGS]
    if shown:
        lines += ["", "| rule | transport | check | finding |", "|---|---|---|---|"]
        lines += [
            f"| [{f.rule}]({rule_doc(f.rule)}) | {f.transport} | `{f.check}` | {_cell(f.message)} |" for f in shown
        ]
        if len(results.findings) > MAX_FINDINGS:
            lines.append(f"\n{len(results.findings) - MAX_FINDINGS} more findings in results.json.")
    return "\n".join(lines) + "\n"
