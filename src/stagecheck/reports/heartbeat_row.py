"""One cell of the comparison table's "heartbeat" row: the server's signs of life on an idle connection, in words."""

from __future__ import annotations

from stagecheck.results.heartbeat_results import HeartbeatResult


def _s(value: float) -> str:
    return f"{value:.1f} s" if value >= 1 else f"{value:.2f} s"


def _ms(value: float) -> str:
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def heartbeat_text(result: HeartbeatResult) -> str:
    """E.g. "heartbeat every 5.0 s (max 5.1 s, 2 in 12 s); pong in 2.0 ms p50 (max 3.0 ms); a silent server
    is noticed in about 6.4 s"."""
    if result.not_run is not None:
        return f"not run: {result.not_run}"
    parts: list[str] = []
    window = f"{result.window_s:g} s"
    if result.mode == "ws":
        if result.seen and result.interval_s_p50 is not None and result.interval_s_max is not None:
            parts.append(
                f"heartbeat every {_s(result.interval_s_p50)} (max {_s(result.interval_s_max)}, "
                f"{result.heartbeats} in {window})"
            )
        else:
            parts.append(f"no heartbeat in {window}")
        if result.pong_rtt_ms_p50 is not None and result.pong_rtt_ms_max is not None:
            pong = f"pong in {_ms(result.pong_rtt_ms_p50)} p50 (max {_ms(result.pong_rtt_ms_max)})"
            if result.pongs < result.pings:
                pong += f", {result.pings - result.pongs} of {result.pings} pings unanswered"
            parts.append(pong)
        elif result.pings:
            parts.append(f"no pong to {_plural(result.pings, 'ping')}")
    else:
        if result.seen and result.interval_s_p50 is not None and result.interval_s_max is not None:
            parts.append(
                f"keep-alive comment every {_s(result.interval_s_p50)} (max {_s(result.interval_s_max)}, "
                f"{result.heartbeats} seen)"
            )
        else:
            parts.append("no keep-alive comment")
        if result.long_wait_s is not None:
            parts.append(f"watched over a {_s(result.long_wait_s)} first-token wait")
        elif result.long_wait_skipped:
            parts.append("no long first wait observed (the target did not confirm first-delay-ms)")
        if result.longest_silence_s is not None:
            parts.append(f"longest silence {_s(result.longest_silence_s)}")
    if result.notice_silent_s is not None:
        about = f"a silent server is noticed in about {_s(result.notice_silent_s)}"
        if result.notice_basis == "ping":
            about += f" by pinging every {_s(result.ping_period_s or 0.0)}"
        elif result.notice_basis == "client-idle-bound":
            about += " (the client's own idle bound: no signal from the server)"
        parts.append(about)
    else:
        parts.append("a silent server cannot be told from a quiet one")
    if result.violations:
        broken = ", ".join(f"{rule} x{count}" for rule, count in sorted(result.violations.items()))
        parts.append(f"rules broken: {broken}")
    return "; ".join(parts)
