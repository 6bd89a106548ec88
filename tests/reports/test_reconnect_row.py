"""The reconnection row's cell: each figure in words, and the breakage when there is one."""

from __future__ import annotations

import dataclasses

from stagecheck.reports.reconnect_row import reconnect_text
from stagecheck.results.reconnect_results import ReconnectResult

WS = ReconnectResult(
    mode="ws",
    streams=6,
    dropped=6,
    recovered=6,
    drop_after_tokens=4,
    reference_tokens=12,
    recover_ms_p50=2.07,
    recover_ms_max=12.4,
    text_matches=6,
    final_text_matches=6,
    starts=6,
    starts_per_answer=1.0,
)


def test_a_clean_websocket_recovery() -> None:
    assert reconnect_text(WS) == (
        "6/6 recovered in 2.1 ms p50 (max 12 ms) by reopening the socket; 0 tokens twice, 0 never seen; "
        "final text equals an unbroken run; 1 task per answer"
    )


def test_sse_pays_a_new_generation() -> None:
    sse = dataclasses.replace(WS, mode="sse", tokens_seen_twice=24, starts=12, starts_per_answer=2.0)
    text = reconnect_text(sse)
    assert "by a new POST" in text
    assert "24 tokens twice" in text
    assert text.endswith("2 streams per answer")


def test_a_missing_snapshot_shows_as_text_never_seen_and_the_rule() -> None:
    broken = dataclasses.replace(WS, tokens_never_seen=12, text_matches=0, violations={"W5": 6})
    text = reconnect_text(broken)
    assert "12 never seen" in text
    assert "final text equals an unbroken run in 0/6 (done's text alone in 6/6" in text
    assert text.endswith("rules broken: W5 x6")


def test_a_reconnect_that_is_never_answered() -> None:
    hung = dataclasses.replace(
        WS,
        recovered=0,
        recover_ms_p50=None,
        recover_ms_max=None,
        text_matches=0,
        final_text_matches=0,
        starts_per_answer=None,
        tokens_never_seen=48,
    )
    text = reconnect_text(hung)
    assert text.startswith("0/6 recovered by reopening the socket;")
    assert "final text equals an unbroken run in 0/6" in text and "per answer" not in text


def test_cpu_and_not_run() -> None:
    assert "1.5 ms target CPU per answer" in reconnect_text(dataclasses.replace(WS, cpu_ms_per_answer=1.5))
    assert reconnect_text(ReconnectResult(mode="sse", not_run="the target is down")) == "not run: the target is down"
