"""Per-level figures as table rows: the one place that formats a LevelResult for people."""

from __future__ import annotations

from stagecheck.results.load_results import Distribution, LevelResult

LEVEL_COLUMNS: tuple[str, ...] = (
    "mode",
    "users",
    "streams",
    "streams/s",
    "tokens/s",
    "tokens/s (streams that saw every token)",
    "chars/s",
    "late joins",
    "TTFT p50 / p95 / p99 (ms)",
    "ITL p50 / p95 / p99 (ms)",
    "TPOT p50 / p95 (ms)",
    "E2E p50 / p95 / p99 (ms)",
    "error rate",
    "violations",
    "goodput",
    "server CPU ms/stream",
    "client CPU %",
)


def _ms(dist: Distribution, *percentiles: float) -> str:
    if dist.count == 0:
        return "–"
    return " / ".join(f"{dist.percentile_ms(p) or 0:.1f}" for p in percentiles)


def violations_text(level: LevelResult) -> str:
    if not level.violations:
        return "0"
    return ", ".join(f"{rule}×{count}" for rule, count in level.violations.items())


def level_row(level: LevelResult) -> list[str]:
    server = level.server_cpu_ms_per_stream
    return [
        "WebSocket" if level.mode == "ws" else "SSE",
        str(level.users) + (" (interrupted)" if level.interrupted else ""),
        str(level.streams),
        f"{level.streams_per_s:.1f}",
        f"{level.tokens_per_s:.0f}",
        f"{level.full_tokens_per_s:.0f}",
        f"{level.chars_per_s:.0f}",
        "–" if level.mode == "sse" else f"{level.late_join_share:.1%}",
        _ms(level.ttft, 50, 95, 99),
        _ms(level.itl, 50, 95, 99),
        _ms(level.tpot, 50, 95),
        _ms(level.e2e, 50, 95, 99),
        f"{level.error_rate:.2%}",
        violations_text(level),
        f"{level.goodput:.1%}",
        "–" if server is None else f"{server:.2f}",
        "–" if level.client is None else f"{level.client.cpu_percent_mean:.0f}",
    ]


def failures_text(level: LevelResult) -> str:
    parts = [f"{level.failed} failed", f"{level.incomplete} incomplete", f"{level.task_errors} task errors"]
    parts += [f"{kind} ×{count}" for kind, count in level.failures.items()]
    return ", ".join(parts)
