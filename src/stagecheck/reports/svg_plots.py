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
