"""Hand-written inline SVG line charts (no plotting library, works offline).

One chart: categories along x (the concurrency levels, evenly spaced whatever their
values), a linear y axis from 0 with "nice" ticks, one polyline per series; a missing
point (None) breaks the line. Colour tells the mode, dash pattern tells the percentile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 520
HEIGHT = 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 150, 34, 44


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    color: str
    dash: str = ""  # SVG stroke-dasharray, "" for solid


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is >= value (> 0)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10 ** (exponent + 1)  # pragma: no cover - 10.0 always qualifies


def _tick_text(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def line_chart(title: str, categories: Sequence[str], series: Sequence[Series], y_label: str) -> str:
    """An <svg> element; shows 'no data' when no series has a value."""
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    values = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    top = nice_ceiling(max(values)) if values and max(values) > 0 else 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart">',
        f'<text x="{_LEFT}" y="20" class="title">{escape(title)}</text>',
        f'<text x="14" y="{_TOP + plot_h / 2:.0f}" class="axis" transform="rotate(-90 14 {_TOP + plot_h / 2:.0f})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    for i in range(5):
        tick = top * i / 4
        y = _TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_tick_text(tick)}</text>')

    def x_at(index: int) -> float:
        if len(categories) == 1:
            return _LEFT + plot_w / 2
        return _LEFT + plot_w * index / (len(categories) - 1)

    for index, category in enumerate(categories):
        parts.append(
            f'<text x="{x_at(index):.1f}" y="{_TOP + plot_h + 16}" class="tick" text-anchor="middle">'
            f"{escape(category)}</text>"
        )
    parts.append(
        f'<text x="{_LEFT + plot_w / 2:.0f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">concurrent users</text>'
    )
    if not values:
        parts.append(
            f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_TOP + plot_h / 2:.0f}" class="axis" text-anchor="middle">'
            "no data</text>"
        )
    for number, one in enumerate(series):
        dash = f' stroke-dasharray="{one.dash}"' if one.dash else ""
        run: list[str] = []
        segments: list[list[str]] = []
        for index, value in enumerate(one.values):
            if value is None or not math.isfinite(value):
                if run:
                    segments.append(run)
                run = []
                continue
            y = _TOP + plot_h - plot_h * min(value, top) / top
            run.append(f"{x_at(index):.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x_at(index):.1f}" cy="{y:.1f}" r="2.6" fill="{one.color}">'
                f"<title>{escape(one.label)} @ {escape(categories[index])}: {value:.4g}</title></circle>"
            )
        if run:
            segments.append(run)
        for segment in segments:
            if len(segment) > 1:
                parts.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="{one.color}" stroke-width="2"{dash}/>'
                )
        legend_y = _TOP + 6 + number * 16
        legend_x = WIDTH - _RIGHT + 12
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="{legend_y}" y2="{legend_y}" '
            f'stroke="{one.color}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{legend_x + 28}" y="{legend_y + 4}" class="legend">{escape(one.label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass(frozen=True)
class XYSeries:
    """Points at numeric x (users); `hollow` marks points drawn as rings (levels that did not hold)."""

    label: str
    points: Sequence[tuple[float, float | None]]
    color: str
    dash: str = ""
    hollow: Sequence[bool] = ()


@dataclass(frozen=True)
class Marker:
    """A vertical line at x, labelled (a knee)."""

    x: float
    label: str
    color: str


def _log_ticks(low: float, high: float) -> list[float]:
    ticks = []
    exponent = math.floor(math.log10(low))
    while 10**exponent <= high:
        for step in (1, 2, 5):
            value = step * 10.0**exponent
            if low <= value <= high:
                ticks.append(value)
        exponent += 1
    return ticks


def xy_chart(
    title: str,
    series: Sequence[XYSeries],
    y_label: str,
    x_label: str = "concurrent users (log scale)",
    markers: Sequence[Marker] = (),
) -> str:
    """An <svg> with a log x axis (users tried by a geometric search), a linear y axis from 0."""
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    xs = [x for s in series for x, _ in s.points if x > 0] + [m.x for m in markers if m.x > 0]
    values = [y for s in series for _, y in s.points if y is not None and math.isfinite(y)]
    top = nice_ceiling(max(values)) if values and max(values) > 0 else 1.0
    x_low, x_high = (min(xs), max(xs)) if xs else (1.0, 10.0)
    if x_high <= x_low:
        x_low, x_high = x_low / 2, x_high * 2
    span = math.log10(x_high) - math.log10(x_low)

    def x_at(x: float) -> float:
        return _LEFT + plot_w * (math.log10(max(x, x_low)) - math.log10(x_low)) / span

    def y_at(y: float) -> float:
        return _TOP + plot_h - plot_h * min(y, top) / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart">',
        f'<text x="{_LEFT}" y="20" class="title">{escape(title)}</text>',
        f'<text x="14" y="{_TOP + plot_h / 2:.0f}" class="axis" transform="rotate(-90 14 {_TOP + plot_h / 2:.0f})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
        f'<text x="{_LEFT + plot_w / 2:.0f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">'
        f"{escape(x_label)}</text>",
    ]
    for i in range(5):
        y = _TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_tick_text(top * i / 4)}</text>'
        )
    for tick in _log_ticks(x_low, x_high):
        parts.append(
            f'<text x="{x_at(tick):.1f}" y="{_TOP + plot_h + 16}" class="tick" text-anchor="middle">{tick:g}</text>'
        )
    if not values:
        parts.append(
            f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_TOP + plot_h / 2:.0f}" class="axis" text-anchor="middle">'
            "no data</text>"
        )
    for number, marker in enumerate(markers):
        x = x_at(marker.x)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP}" y2="{_TOP + plot_h}" stroke="{marker.color}" '
            f'stroke-width="1.5" stroke-dasharray="4 3" class="knee"/>'
        )
        parts.append(
            f'<text x="{x + 3:.1f}" y="{_TOP + 12 + 12 * number}" class="legend" fill="{marker.color}">'
            f"{escape(marker.label)}</text>"
        )
    for number, one in enumerate(series):
        dash = f' stroke-dasharray="{one.dash}"' if one.dash else ""
        points = sorted(
            (x, y, bool(one.hollow[i]) if i < len(one.hollow) else False)
            for i, (x, y) in enumerate(one.points)
            if y is not None and math.isfinite(y) and x > 0
        )
        if len(points) > 1:
            line = " ".join(f"{x_at(x):.1f},{y_at(y):.1f}" for x, y, _ in points)
            parts.append(f'<polyline points="{line}" fill="none" stroke="{one.color}" stroke-width="2"{dash}/>')
        for x, y, hollow in points:
            fill = "#fff" if hollow else one.color
            parts.append(
                f'<circle cx="{x_at(x):.1f}" cy="{y_at(y):.1f}" r="3" fill="{fill}" stroke="{one.color}">'
                f"<title>{escape(one.label)} @ {x:g} users: {y:.4g}{' (did not hold)' if hollow else ''}</title>"
                "</circle>"
            )
        legend_y = _TOP + 6 + number * 16
        legend_x = WIDTH - _RIGHT + 12
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 22}" y1="{legend_y}" y2="{legend_y}" '
            f'stroke="{one.color}" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{legend_x + 28}" y="{legend_y + 4}" class="legend">{escape(one.label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
