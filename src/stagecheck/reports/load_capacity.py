"""The capacity search's figures for people (`--find-capacity`): knees, limits, the curve.

Shared by the HTML and Markdown reports: a table of the knee per mode with its limiting
figure, a table of every level tried, and the latency-against-users chart (TTFT p95 and
ITL p95 per tried level, SSE and WebSocket on one plot, each knee marked).
"""

from __future__ import annotations

from stagecheck.results.load_results import CapacityResult, LoadResults

from .svg_plots import Marker, XYSeries, xy_chart

MODE_COLORS = {"sse": "#1f77b4", "ws": "#e6550d"}
MODE_NAMES = {"sse": "SSE", "ws": "WS"}

CAPACITY_COLUMNS: tuple[str, ...] = (
    "mode",
    "knee (most users that held)",
    "first level that did not hold",
    "limiting figure",
    "load client the limit?",
    "levels tried",
    "stopped by",
)
STEP_COLUMNS: tuple[str, ...] = (
    "mode",
    "#",
    "users",
    "load processes",
    "phase",
    "held",
    "TTFT p95 (ms)",
    "ITL p95 (ms)",
    "client CPU % per process",
    "what broke",
)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def knee_text(found: CapacityResult) -> str:
    """One phrase for the comparison table's concurrency row."""
    text = f"knee {found.knee} users"
    if found.first_failed is None:
        return text + (f" (held every level tried; {found.stopped_by})" if found.stopped_by else "")
    if found.limiting is not None:
        text += f" (at {found.first_failed}: {found.limiting.text})"
    if found.client_limited:
        text += "; the load client was saturated: the client, not the target, was the limit"
    return text


def capacity_rows(results: LoadResults) -> list[list[str]]:
    rows = []
    for found in results.capacity:
        rows.append(
            [
                "WebSocket" if found.mode == "ws" else "SSE",
                str(found.knee),
                "–" if found.first_failed is None else str(found.first_failed),
                "none" if found.limiting is None else found.limiting.text,
                "YES: the client was saturated" if found.client_limited else "no",
                str(len(found.steps)),
                found.stopped_by or "converged",
            ]
        )
    return rows


def step_rows(results: LoadResults) -> list[list[str]]:
    rows = []
    for found in results.capacity:
        for number, step in enumerate(found.steps, start=1):
            rows.append(
                [
                    "WebSocket" if found.mode == "ws" else "SSE",
                    str(number),
                    str(step.users),
                    str(step.processes),
                    step.phase,
                    "yes" if step.held else "no",
                    _ms(step.ttft_p95_ms),
                    _ms(step.itl_p95_ms),
                    ("–" if step.client_cpu_per_process is None else f"{step.client_cpu_per_process:.0f}")
                    + (" (saturated)" if step.client_saturated else ""),
                    "; ".join(b.text for b in step.broken) or "–",
                ]
            )
    return rows


def capacity_chart(results: LoadResults) -> str:
    """TTFT p95 and ITL p95 against users, both modes on one plot, each knee marked."""
    series: list[XYSeries] = []
    markers: list[Marker] = []
    for found in results.capacity:
        color, name = MODE_COLORS[found.mode], MODE_NAMES[found.mode]
        # The last try of each level (a retry with more processes replaces the first).
        last = {step.users: step for step in found.steps}
        steps = [last[users] for users in sorted(last)]
        hollow = [not step.held for step in steps]
        series.append(XYSeries(f"{name} TTFT p95", [(s.users, s.ttft_p95_ms) for s in steps], color, "", hollow))
        series.append(XYSeries(f"{name} ITL p95", [(s.users, s.itl_p95_ms) for s in steps], color, "6 3", hollow))
        if found.knee > 0:
            markers.append(Marker(found.knee, f"{name} knee {found.knee}", color))
    return xy_chart("Capacity search: latency against users (rings: did not hold)", series, "ms", markers=markers)
