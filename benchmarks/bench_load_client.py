"""Events/s that one Locust worker process consumes, against a raw asyncio client, same server.

Both clients run against one embedded mock (its own process) serving long, unpaced
streams (`Prefer: tokens=N, delay-ms=0`), so that the client is what limits. The Locust
side is the real thing: `run_sweep` with one level, gevent users (httpx for SSE,
websocket-client for the socket), every event fed to the rules core and timed into HDR
histograms. The raw side is the least a client can
do: httpx.AsyncClient counting SSE events in raw bytes, and the asyncio `websockets`
client counting messages, no validation. Also shown: events per CPU-second of the client
process, which does not depend on how busy the shared machine is.

Run: .venv/bin/python benchmarks/bench_load_client.py [--users 20] [--seconds 8] [--tokens 200]
Writes benchmarks/results/load_client.json.
"""

from __future__ import annotations

import asyncio
import platform
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import websockets
from _common import command_of, parse_pacing, prefer_of, write_results

from stagecheck.load.config import StreamSettings, SweepConfig, ws_url_for
from stagecheck.load.sweep import run_sweep
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock

RESULTS = Path(__file__).parent / "results" / "load_client.json"
# The options, in the order --help and the report's command line show them, with their defaults.
OPTIONS: dict[str, int | float] = {
    "--users": 20,
    "--seconds": 8.0,
    "--tokens": 200,
    "--delay-ms": 1.0,
    "--first-delay-ms": 300.0,
}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _execute(base_url: str, streaming: bool) -> tuple[str, dict[str, object]]:
    """The execute-stage URL and a task body for it."""
    body = {"stage_name": "rewrite", "input_data": {"original_text": "benchmark"}, "use_streaming": streaming}
    return f"{base_url}/api/v1/projects/projects/1/execute-stage/", body


async def _raw(
    users: int, seconds: float, one_stream: Callable[[httpx.AsyncClient], Awaitable[int]]
) -> dict[str, float]:
    """`users` raw clients, each running `one_stream` (which counts its events) until `seconds` are up."""
    events = streams = 0
    end = time.perf_counter() + seconds

    async def user(client: httpx.AsyncClient) -> None:
        nonlocal events, streams
        while time.perf_counter() < end:
            counted = await one_stream(client)  # awaited first: `events += await ...` would lose the others' counts
            events += counted
            streams += 1

    cpu, start = _cpu_s(), time.perf_counter()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=users * 2), trust_env=False) as c:
        await asyncio.gather(*(user(c) for _ in range(users)))
    wall = time.perf_counter() - start
    return {"events": events, "streams": streams, "seconds": wall, "cpu_s": _cpu_s() - cpu}


async def _raw_sse(base_url: str, prefer: str, users: int, seconds: float) -> dict[str, float]:
    url, body = _execute(base_url, streaming=True)

    async def one_stream(client: httpx.AsyncClient) -> int:
        events = 0
        async with client.stream("POST", url, json=body, headers={"Prefer": prefer}) as response:
            async for chunk in response.aiter_raw():
                events += chunk.count(b"\n\n")
        return events

    return await _raw(users, seconds, one_stream)


async def _raw_ws(base_url: str, ws_url: str, prefer: str, users: int, seconds: float) -> dict[str, float]:
    url, body = _execute(base_url, streaming=False)

    async def one_stream(client: httpx.AsyncClient) -> int:
        events = 0
        answer = await client.post(url, json=body, headers={"Prefer": prefer})
        task_id = answer.json()["task_id"]
        socket_url = f"{ws_url}/ws/projects/1/stage/rewrite/?task_id={task_id}"
        async with websockets.connect(socket_url, proxy=None) as ws:
            async for message in ws:
                events += 1
                if isinstance(message, str) and ('"done"' in message or '"error"' in message):
                    break
        return events

    return await _raw(users, seconds, one_stream)


def _locust(mock: EmbeddedMock, mode: str, prefer: str, users: int, seconds: float) -> dict[str, float]:
    stream = StreamSettings(base_url=mock.base_url, ws_url=ws_url_for(mock.base_url), prefer=prefer)
    config = SweepConfig(stream=stream, modes=(mode,), levels=(users,), duration_s=seconds, spawn_rate=users * 4.0)  # type: ignore[arg-type]
    (level,) = run_sweep(config).levels
    assert level.client is not None
    return {
        "events": level.events,
        "streams": level.streams,
        "seconds": level.window_s,
        "cpu_s": level.client.cpu_seconds,
        "violations": level.violation_count,
        "error_rate": level.error_rate,
    }


def main() -> None:
    args = parse_pacing(__doc__, OPTIONS)
    # Paced just enough that a WebSocket opened after the POST sees the tokens live (W5).
    prefer = prefer_of(args)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    with EmbeddedMock(MockConfig(), mode="process") as mock:
        for mode in ("sse", "ws"):
            if mode == "sse":
                raw = asyncio.run(_raw_sse(mock.base_url, prefer, args.users, args.seconds))
            else:
                raw = asyncio.run(_raw_ws(mock.base_url, mock.ws_url, prefer, args.users, args.seconds))
            locust = _locust(mock, mode, prefer, args.users, args.seconds)
            figures[mode] = {"raw_asyncio": raw, "locust_worker": locust}
    report: dict[str, object] = {
        "what": "events/s consumed by one Locust worker process vs a raw asyncio client, same embedded mock",
        "command": command_of(__file__, args, OPTIONS),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "prefer": prefer,
        "users": args.users,
        "modes": {},
    }
    print(f"{'mode':4} {'client':14} {'events/s':>10} {'events/CPU-s':>13} {'streams':>8}")
    for mode, pair in figures.items():
        rates = {}
        for name, f in pair.items():
            per_s = f["events"] / f["seconds"] if f["seconds"] else 0.0
            per_cpu = f["events"] / f["cpu_s"] if f["cpu_s"] else 0.0
            rates[name] = (per_s, per_cpu)
            print(f"{mode:4} {name:14} {per_s:10.0f} {per_cpu:13.0f} {int(f['streams']):8d}")
        ratio = rates["locust_worker"][0] / rates["raw_asyncio"][0] if rates["raw_asyncio"][0] else 0.0
        ratio_cpu = rates["locust_worker"][1] / rates["raw_asyncio"][1] if rates["raw_asyncio"][1] else 0.0
        print(f"{mode:4} locust/raw: {ratio:.0%} of events/s, {ratio_cpu:.0%} of events per CPU-second")
        report["modes"][mode] = {  # type: ignore[index]
            **{
                name: {**f, "events_per_s": rates[name][0], "events_per_cpu_s": rates[name][1]}
                for name, f in pair.items()
            },
            "locust_over_raw_events_per_s": ratio,
            "locust_over_raw_events_per_cpu_s": ratio_cpu,
        }
    write_results(RESULTS, report)


if __name__ == "__main__":
    main()
