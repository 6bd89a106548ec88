"""Timing is right: measured TTFT and inter-token gaps match what the server really did.

The toy server paces tokens as `Prefer` asks (first after `first-delay-ms`, then one per
`delay-ms`, on absolute times) and notes, on the same monotonic clock, when each token
actually left it; the client says when it sent the request (`X-Stagecheck-Sent-At`), so
the truth of TTFT includes the request's way in. That is what the client is held to: on
a busy machine the server itself runs late, and a client that stamps events on arrival
must see that lateness, not the nominal pacing. p50s must agree within 5 ms, in both modes, through the whole
Locust path (gevent users, HDR histograms, the level's results file).
"""

from __future__ import annotations

import time

import httpx
import pytest

from stagecheck.load.stream_runs import run_sse_stream, run_ws_stream
from stagecheck.load.sweep import run_sweep

FIRST_MS, DELAY_MS = 60.0, 25.0
PREFER = f"tokens=6, delay-ms={DELAY_MS:g}, first-delay-ms={FIRST_MS:g}"
TOLERANCE_MS = 5.0


def server_truth(base_url: str) -> dict[str, float]:
    return httpx.get(f"{base_url}/stats", trust_env=False).json()  # type: ignore[no-any-return]


def forget_truth(base_url: str) -> None:
    httpx.delete(f"{base_url}/stats", trust_env=False)


@pytest.mark.parametrize("run", [run_sse_stream, run_ws_stream], ids=["sse", "ws"])
def test_one_stream_sees_the_servers_pacing(toy_server, sweep_config, run) -> None:
    server = toy_server()
    settings = sweep_config(server.base_url, prefer=PREFER, send_timestamp=True).stream
    with httpx.Client(trust_env=False) as client:
        run(client, settings, time.perf_counter)  # warm up: imports, first connection
        forget_truth(server.base_url)
        outcomes = [run(client, settings, time.perf_counter) for _ in range(7)]
    truth = server_truth(server.base_url)
    for outcome in outcomes:
        # A socket that opened late gets the W5 snapshot: fewer, merged tokens, still correct.
        assert outcome.terminal == "done" and outcome.tokens >= 1 and not outcome.violations
    ttfts = sorted(o.ttft_s * 1000 for o in outcomes if o.ttft_s is not None)
    gaps = sorted(gap * 1000 for o in outcomes for gap in o.gaps_s)
    assert abs(ttfts[len(ttfts) // 2] - truth["ttft_p50_ms"]) < TOLERANCE_MS, (ttfts, truth)
    assert abs(gaps[len(gaps) // 2] - truth["gap_p50_ms"]) < TOLERANCE_MS, (gaps, truth)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sse", "ws"])
def test_locust_level_figures_match_the_truth_at_p50(toy_server, sweep_config, mode) -> None:
    server = toy_server()
    config = sweep_config(
        server.base_url, levels=(10,), modes=(mode,), duration_s=3.0, prefer=PREFER, send_timestamp=True
    )
    (level,) = run_sweep(config).levels
    truth = server_truth(server.base_url)
    assert level.streams >= 20 and level.error_rate == 0 and not level.violations, level
    ttft, itl = level.ttft.percentile_ms(50.0), level.itl.percentile_ms(50.0)
    assert ttft is not None and abs(ttft - truth["ttft_p50_ms"]) < TOLERANCE_MS, (ttft, truth)
    assert itl is not None and abs(itl - truth["gap_p50_ms"]) < TOLERANCE_MS, (itl, truth)
    # Every gap is sampled: tokens - 1 per stream (a WebSocket that opened after its task
    # ended legitimately saw no token, hence the range).
    assert level.tokens - level.streams <= level.itl.count <= level.tokens
