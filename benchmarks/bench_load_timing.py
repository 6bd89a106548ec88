"""Timing at 100 users: measured p50 TTFT and inter-token gap against the truth, 1 and 2 processes.

Two servers, both pacing tasks as `Prefer` asks (first token after `first-delay-ms`, then
one per `delay-ms`, on absolute times):
- the test suite's toy server, which also records when each token really left it and when
  each request was sent (`X-Stagecheck-Sent-At`, same machine, same monotonic clock): the
  truth is what the server did, so a busy machine's lateness is not blamed on the client;
- the embedded mock, where the truth can only be the nominal pacing (the difference then
  includes the mock's own lateness).
Each runs with `--processes 1` and `--processes 2` (Locust's distributed mode, histograms
merged on the master).

Run: .venv/bin/python benchmarks/bench_load_timing.py [--users 100] [--seconds 10]
Writes benchmarks/results/load_timing.json.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from _common import command_of, parse_pacing, prefer_of, write_results

from stagecheck.load.config import StreamSettings, SweepConfig, ws_url_for
from stagecheck.load.sweep import run_sweep
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock
from stagecheck.results.load_results import LevelResult

RESULTS = Path(__file__).parent / "results" / "load_timing.json"
TOY_SERVER = Path(__file__).parent.parent / "tests" / "load" / "toy_server.py"
# The options, in the order --help and the report's command line show them, with their defaults.
OPTIONS: dict[str, int | float] = {
    "--users": 100,
    "--seconds": 10.0,
    "--first-delay-ms": 300.0,
    "--delay-ms": 100.0,
    "--tokens": 10,
}


def _start_toy() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, str(TOY_SERVER), "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/", trust_env=False)
            return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the toy server did not start")


def _row(server: str, level: LevelResult, first_ms: float, delay_ms: float) -> dict[str, float | int | str | None]:
    ttft = level.ttft.percentile_ms(50.0)
    itl = level.itl.percentile_ms(50.0)
    return {
        "server": server,
        "truth_ttft_p50_ms": first_ms,
        "truth_gap_p50_ms": delay_ms,
        "mode": level.mode,
        "users": level.users,
        "processes": level.processes,
        "streams": level.streams,
        "streams_per_s": round(level.streams_per_s, 1),
        "ttft_p50_ms": ttft,
        "ttft_p95_ms": level.ttft.percentile_ms(95.0),
        "itl_p50_ms": itl,
        "itl_p95_ms": level.itl.percentile_ms(95.0),
        "ttft_p50_minus_truth_ms": None if ttft is None else round(ttft - first_ms, 3),
        "itl_p50_minus_truth_ms": None if itl is None else round(itl - delay_ms, 3),
        "error_rate": level.error_rate,
        "violations": level.violation_count,
        "server_cpu_percent": None if level.server is None else level.server.cpu_percent_mean,
        "client_cpu_percent": None if level.client is None else level.client.cpu_percent_mean,
    }


def main() -> None:
    args = parse_pacing(__doc__, OPTIONS)
    load_before = list(os.getloadavg())
    prefer = prefer_of(args)
    rows = []

    def sweep(base_url: str, pid: int, mode: str, processes: int) -> LevelResult:
        stream = StreamSettings(base_url=base_url, ws_url=ws_url_for(base_url), prefer=prefer, send_timestamp=True)
        config = SweepConfig(
            stream=stream,
            modes=(mode,),  # type: ignore[arg-type]
            levels=(args.users,),
            duration_s=args.seconds,
            spawn_rate=args.users / 2.0,
            processes=processes,
            target_pid=pid,
        )
        (level,) = run_sweep(config).levels
        return level

    toy, toy_url = _start_toy()
    try:
        for processes in (1, 2):
            for mode in ("sse", "ws"):
                httpx.delete(toy_url + "/stats", trust_env=False)
                level = sweep(toy_url, toy.pid, mode, processes)
                truth = httpx.get(toy_url + "/stats", trust_env=False).json()
                rows.append(_row("toy (sent times)", level, truth["ttft_p50_ms"], truth["gap_p50_ms"]))
    finally:
        toy.terminate()
        toy.wait()
    with EmbeddedMock(MockConfig(), mode="process") as mock:
        for processes in (1, 2):
            for mode in ("sse", "ws"):
                level = sweep(mock.base_url, mock.pid, mode, processes)
                rows.append(_row("mock (nominal)", level, args.first_delay_ms, args.delay_ms))
    print(f"pacing asked: first token after {args.first_delay_ms:g} ms, then one every {args.delay_ms:g} ms")
    header = (
        f"{'server':17} {'mode':4} {'proc':>4} {'streams':>7} {'TTFT p50':>9} {'truth':>7} {'Δ':>6} "
        f"{'ITL p50':>8} {'truth':>6} {'Δ':>6} {'err':>5} {'viol':>4}"
    )
    print(header + f" {'srv CPU%':>8} {'cli CPU%':>8}")
    for r in rows:
        print(
            f"{r['server']:17} {r['mode']:4} {r['processes']:>4} {r['streams']:>7} {r['ttft_p50_ms']:>9.2f} "
            f"{r['truth_ttft_p50_ms']:>7.2f} "
            f"{r['ttft_p50_minus_truth_ms']:>+6.2f} {r['itl_p50_ms']:>8.2f} {r['truth_gap_p50_ms']:>6.2f} "
            f"{r['itl_p50_minus_truth_ms']:>+6.2f} "
            f"{r['error_rate']:>5.1%} {r['violations']:>4} {r['server_cpu_percent'] or 0:>8.0f} "
            f"{r['client_cpu_percent'] or 0:>8.0f}"
        )
    report = {
        "what": "p50 TTFT / inter-token gap against the truth (toy: sent times; mock: nominal), 1 vs 2 processes",
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "command": command_of(__file__, args, OPTIONS),
        "prefer": prefer,
        "rows": rows,
    }
    write_results(RESULTS, report)


if __name__ == "__main__":
    main()
