"""`summary.md` of a load sweep: short enough for a CI job summary or a PR comment."""

from __future__ import annotations

from stagecheck.results.load_results import LoadResults

from .load_capacity import CAPACITY_COLUMNS, capacity_rows
from .load_comparison import DEFINITIONS, comparison_rows
from .load_tables import LEVEL_COLUMNS, failures_text, level_row


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str] | tuple[str, ...], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def verdict(results: LoadResults) -> str:
    """The gate's word; an incomplete sweep gets none (a cancelled CI job must not read as green)."""
    if results.error is not None:
        return f"could not run: {results.error}"
    if results.interrupted:
        return "interrupted: no verdict"
    if results.gate is None:
        return "not judged"
    if results.gate.passed:
        return "PASSED"
    return f"FAILED ({len(results.gate.breaches)} breach{'es' if len(results.gate.breaches) != 1 else ''})"


def render_markdown(results: LoadResults) -> str:
    config = results.config
    lines = [
        "# stagecheck load: SSE vs WebSocket",
        "",
        f"**Gate: {verdict(results)}**" + (" — the figures cover what was measured" if results.interrupted else ""),
        "",
        f"Target `{results.target}` ({results.target_kind}), started {results.started_at}; "
        f"levels {', '.join(str(u) for u in config.get('levels', []))} users, held {config.get('duration_s')} s each, "
        f"{config.get('processes', 1)} load process(es)"
        + (f", `Prefer: {config['prefer']}`" if config.get("prefer") else "")
        + ".",
        "",
    ]
    if results.gate is not None and results.gate.notes:
        lines += ["## Seen but not judged", ""]
        lines += [f"- {note}" for note in results.gate.notes]
        lines.append("")
    if results.gate is not None and results.gate.breaches:
        lines += ["## Breaches", ""]
        lines += [f"- {breach}" for breach in results.gate.breaches]
        lines.append("")
    if results.capacity:
        lines += ["## Capacity: the most users each mode held", ""]
        lines += _table(CAPACITY_COLUMNS, capacity_rows(results))
        lines.append("")
        lines += [f"- {found.note}" for found in results.capacity if found.note]
        lines.append("")
    lines += ["## The guide's comparison, measured", ""]
    rows = [
        [r.prop, r.sse, r.ws, r.guide + ("" if r.measured else " (not measured)"), r.how]
        for r in comparison_rows(results)
    ]
    lines += _table(["property", "SSE mode", "WebSocket mode", "the guide said (SSE / WS)", "measured by"], rows)
    lines += ["", "## Every level", ""]
    lines += _table(LEVEL_COLUMNS, [level_row(level) for level in results.levels])
    troubled = [level for level in results.levels if level.error_rate or level.violations]
    if troubled:
        lines += ["", "## Failures and violations", ""]
        for level in troubled:
            lines.append(f"- {level.mode} @ {level.users} users: {failures_text(level)}")
            lines += [f"  - `{example}`" for example in level.examples[:3]]
    lines += ["", f"<sub>{DEFINITIONS}</sub>", ""]
    return "\n".join(lines)
