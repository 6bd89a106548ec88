"""One cell of the comparison table's "reconnection" row: what a dropped connection cost, in words."""

from __future__ import annotations

from stagecheck.results.reconnect_results import ReconnectResult


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _plural(count: float, word: str) -> str:
    return f"{count:g} {word}" + ("" if count == 1 else "s")


def reconnect_text(result: ReconnectResult) -> str:
    """E.g. "6/6 recovered in 2.1 ms p50 (max 3.3 ms); 0 tokens twice, 0 never seen; final text
    equals an unbroken run; 1 task per answer"."""
    if result.not_run is not None:
        return f"not run: {result.not_run}"
    dropped = result.dropped
    parts = [f"{result.recovered}/{dropped} recovered"]
    if result.recover_ms_p50 is not None and result.recover_ms_max is not None:
        parts[0] += f" in {_ms(result.recover_ms_p50)} p50 (max {_ms(result.recover_ms_max)})"
    parts[0] += " by a new POST" if result.mode == "sse" else " by reopening the socket"
    parts.append(f"{_plural(result.tokens_seen_twice, 'token')} twice, {result.tokens_never_seen} never seen")
    if result.text_matches == dropped:
        parts.append("final text equals an unbroken run")
    else:
        text = f"final text equals an unbroken run in {result.text_matches}/{dropped}"
        if result.final_text_matches != result.text_matches:
            text += (
                f" (done's text alone in {result.final_text_matches}/{dropped}: the rest was never shown as it came)"
            )
        parts.append(text)
    if result.starts_per_answer is not None:
        unit = "stream" if result.mode == "sse" else "task"
        parts.append(f"{_plural(result.starts_per_answer, unit)} per answer")
    if result.cpu_ms_per_answer is not None:
        parts.append(f"{_ms(result.cpu_ms_per_answer)} target CPU per answer")
    if result.violations:
        broken = ", ".join(f"{rule} x{count}" for rule, count in sorted(result.violations.items()))
        parts.append(f"rules broken: {broken}")
    return "; ".join(parts)
