"""One cell of the comparison table's "browsers" row: what a real headless Chromium saw, in words."""

from __future__ import annotations

from stagecheck.results.browser_results import BrowserModeResult, BrowserResult
from stagecheck.results.load_results import Mode


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _streams(result: BrowserModeResult) -> str:
    asked = result.streams_asked
    if result.held:
        return f"{_plural(asked, 'stream')} held"
    return f"{result.streams_held} of {_plural(asked, 'stream')} held"


def browser_text(result: BrowserResult, mode: Mode) -> str:
    """E.g. "Chromium 156.0.8078.73 (headless): fetch stream reader, 3 streams held, 0 violations,
    TTFT 12 ms p50 (page clock)"; "not run: <reason>" when the check could not run."""
    if result.not_run is not None:
        return f"not run: {result.not_run}"
    found = result.mode(mode)
    if found is None:
        return "not measured (mode not run in the browser)"
    name = f"{result.browser} {result.version or '(version unknown)'}" + (" (headless)" if result.headless else "")
    parts = [found.client, _streams(found)]
    if found.violations:
        rules = ", ".join(f"{rule} in {count}" for rule, count in sorted(found.violations.items()))
        parts.append(f"violations: {rules}")
    else:
        parts.append("0 violations")
    if found.failures:
        parts.append(f"{_plural(len(found.failures), 'stream')} not read to the end ({found.failures[0]})")
    if found.ttft_ms_p50 is not None:
        parts.append(f"TTFT {_ms(found.ttft_ms_p50)} p50 (page clock)")
    if result.cross_origin:
        parts.append(f"page from {result.page_origin} (CORS)")
    if found.note:
        parts.append(found.note)
    return f"{name}: " + ", ".join(parts)
