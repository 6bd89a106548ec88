"""Every check of `stagecheck contract`, in the order the runner takes them (cheap first)."""

from __future__ import annotations

from . import agreement, auth, http_checks, migration, scenarios, schemathesis_suite, sse_checks, ws_checks
from .options import SuiteOptions
from .registry import Check, needs_auth, needs_deterministic, needs_scenarios, pairs


def _compat(options: SuiteOptions) -> str | None:
    return None if options.legacy_phase == "compat" else "the legacy phase is not compat (--legacy-phase compat)"


def _removed(options: SuiteOptions) -> str | None:
    return None if options.legacy_phase == "removed" else "the legacy phase is not removed (--legacy-phase removed)"


SSE = ("S1", "S2", "S3", "S4", "S6", "M1", "Q1", "Q2", "Q3", "Q4", "Q6")
WS = ("M1", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "W2", "W6")

CHECKS: tuple[Check, ...] = (
    Check("http.execute-stage-answers", pairs("http", "E1", "E3", "E4"), http_checks.check_execute_stage_answers),
    Check("http.task-status", pairs("http", "T1", "T2", "E1", "E3", "E4"), http_checks.check_task_status),
    Check("sse.stages", pairs("sse", *SSE) + pairs("http", "E3", "E4"), sse_checks.check_sse_stages),
    Check("sse.flushing", pairs("sse", "S5"), sse_checks.check_sse_flushing),
    Check("ws.subscribe-first", pairs("ws", *WS, "W7"), ws_checks.check_ws_subscribe_first),
    Check("ws.ping", pairs("ws", "W3", "W2"), ws_checks.check_ws_ping),
    Check("ws.seed-flow", pairs("ws", *WS, "W5"), ws_checks.check_ws_seed_flow),
    Check("ws.late-after-end", pairs("ws", "W5", "W2", "M1"), ws_checks.check_ws_late_after_end),
    Check("ws.two-tasks", pairs("ws", "W6", "Q5", "Q1", "Q2"), ws_checks.check_ws_two_tasks),
    Check("ws.unknown-channel", pairs("ws", "W1"), ws_checks.check_ws_unknown),
    Check("ws.bad-frames", pairs("ws", "W4"), ws_checks.check_ws_bad_frames),
    Check(
        "agree.task-status",
        pairs("http", "T3") + pairs("ws", *WS) + pairs("sse", *SSE),
        agreement.check_status_agreement,
    ),
    Check(
        "agree.deterministic",
        pairs("sse", "D1", "L2") + pairs("ws", "D1"),
        agreement.check_deterministic,
        needs_deterministic,
    ),
    Check(
        "legacy.compat",
        pairs("http", "L1", "L4", "E4", "E1", "E3") + pairs("sse", *SSE),
        migration.check_compat,
        _compat,
    ),
    Check("legacy.removed", pairs("http", "L3", "L4"), migration.check_removed, _removed),
    Check(
        "scenarios.error-paths",
        pairs("sse", "Q1") + pairs("ws", "Q1") + pairs("http", "T3"),
        scenarios.check_error_paths,
        needs_scenarios,
    ),
    Check("auth.no-credentials", pairs("http", "E2", "E1") + pairs("ws", "E2"), auth.check_auth, needs_auth),
    Check(
        "http.schemathesis",
        pairs("http", "E1", "E3", "E4", "T1", "T2", "L1", "L3") + pairs("sse", "S1", "S6", "M1"),
        schemathesis_suite.check_schemathesis,
        background=True,
    ),
)
