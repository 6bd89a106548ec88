"""`--processes 2` (Locust's master + workers, histograms merged) gives the figures of one process.

Both are held to the toy server's record of what it sent (as in test_timing), so noise
from a busy machine, which moves both the server and the clients, is not mistaken for a
difference between one load process and two.
"""

from __future__ import annotations

import httpx
import pytest

from stagecheck.load.sweep import run_sweep

PREFER = "tokens=6, delay-ms=25, first-delay-ms=60"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sse", "ws"])
def test_two_processes_agree_with_one(toy_server, sweep_config, mode) -> None:
    server = toy_server()
    rates = {}
    for processes in (1, 2):
        httpx.delete(f"{server.base_url}/stats", trust_env=False)
        config = sweep_config(
            server.base_url, levels=(8,), modes=(mode,), duration_s=3.0, prefer=PREFER, processes=processes,
            send_timestamp=True,
        )  # fmt: skip
        (level,) = run_sweep(config).levels
        truth = httpx.get(f"{server.base_url}/stats", trust_env=False).json()
        assert level.processes == processes
        assert level.streams >= 20 and level.error_rate == 0 and not level.violations, level
        # Every stream's gaps arrived at the master: tokens - 1 per stream (a WebSocket that
        # opened after its task ended legitimately saw no token, hence the range).
        assert level.tokens - level.streams <= level.itl.count <= level.tokens
        ttft, itl = level.ttft.percentile_ms(50.0), level.itl.percentile_ms(50.0)
        assert ttft is not None and abs(ttft - truth["ttft_p50_ms"]) < 5.0, (processes, ttft, truth)
        assert itl is not None and abs(itl - truth["gap_p50_ms"]) < 5.0, (processes, itl, truth)
        rates[processes] = level.streams_per_s
    # Same users, same pacing: the same stream rate within a third.
    assert abs(rates[1] - rates[2]) < rates[1] / 3, rates
