"""The mock server against a bare Starlette endpoint that streams the same bytes, under
uvicorn and under Granian, side by side in one run.

Five processes: the mock under each server (`python -m stagecheck.mock_server --server ...`),
the bare endpoint under each (this script with `--bare --server ...`), and the load client
(this script with `--client`, one process per measurement), so that server and client never
share a core's event loop. The client is raw asyncio protocols (no HTTP or WebSocket
library) so that it is not the bottleneck.

Figures, for SSE and WebSocket, for each server, mock and bare:
- throughput: SSE events/s and WebSocket messages/s over 100 concurrent streams that
  each carry 200 tokens with no delay, streams restarted as they end, for 3 s; three
  rounds, each round going through every server and target in turn (so that a burst of
  other work on the machine does not land on one side only); the best round counts and
  every round is kept (`rounds_messages_per_s`: the spread). Server CPU seconds are
  measured too (messages per server CPU second: the efficiency, less sensitive to other
  work on the machine than messages/s).
- capacity at 2 and at 10 tokens/s per stream (`RATES`): N concurrent streams (2/s: 12
  tokens; 10/s: 40 tokens). The streams are opened at 1,000/s and ask (`first-delay-ms`)
  for their first token at a common moment 3 s after the ramp (spread over one interval
  so that they do not all tick at the same instant), so that all N stream at once. Token
  lateness = arrival of token i - (arrival of token 0 + i x interval): how far behind its
  schedule a token arrives. The steady window is the tokens due while all N streams are
  open (2/s: tokens 1-8; 10/s: 1-29); the last ones come while the first streams end and
  close, reported as `lateness_whole_ms`. "Holds N" = every stream complete (nothing
  lost), p99 lateness in the steady window under 50 ms, and all N streaming at once
  (`all_concurrent`: the last stream's first token came before the steady window's end;
  a server that queues requests, as Granian's default backpressure of 2,048 did, would
  otherwise stream them one batch after another, each on time). N steps down through the
  rate's levels until it holds; a level missed on lateness alone gets a second try while
  the run is under `RETRY_BUDGET_S` old (every try is kept in the JSON).

Every client run also reports its own CPU seconds against its wall time and its garbage
collector's pauses (`client_cpu_s`, `client_wall_s`, `client_gc`), and the parent the
server's CPU seconds (`server_cpu_s`) and the machine's idle share (`machine_cpu`): they
show which side is the bottleneck and how loaded the machine was. The same client code
drives every target.

The mock's WebSocket stream is what a client does: open the socket, POST the task
(202), read the task's tokens; the bare endpoint just sends them on connect.
Writes benchmarks/results/mock_server.json. A full run takes about 7 to 8 minutes;
`--quick` is a smoke run of about a minute and a half that writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

RESULTS = Path(__file__).resolve().parent / "results" / "mock_server.json"
# --quick (or STAGECHECK_BENCH_QUICK=1): a smoke run in seconds that writes nothing (figures meaningless).
QUICK = os.environ.get("STAGECHECK_BENCH_QUICK") == "1" or "--quick" in sys.argv
SERVERS = ("uvicorn", "granian")
THROUGHPUT_STREAMS = 100
THROUGHPUT_TOKENS = 200
THROUGHPUT_SECONDS = 1.0 if QUICK else 3.0
THROUGHPUT_ROUNDS = 1 if QUICK else 3
LATENESS_BOUND_MS = 50.0
OPEN_RATE_PER_S = 1000.0  # streams opened per second during the ramp
START_MARGIN_S = 1.0 if QUICK else 3.0  # after the ramp, before the common start of every stream's tokens
# A level that misses on lateness alone gets a second try while the run is younger than this
# (other work on the host moves p99 by a factor of several between runs); never after it,
# so that a full run stays under about 8 minutes.
RETRY_BUDGET_S = 0.0 if QUICK else 240.0
RUN_STARTED = time.perf_counter()


@dataclass(frozen=True)
class Rate:
    """One capacity figure: streams at `per_s` tokens/s, the levels tried from the top down."""

    per_s: int
    tokens: int  # per stream
    steady_tokens: int  # tokens 1..steady_tokens-1 are due while every stream is still open
    levels: tuple[int, ...]

    @property
    def interval_ms(self) -> float:
        return 1000.0 / self.per_s


RATES = (
    (Rate(2, 6, 4, (200,)), Rate(10, 20, 15, (200,)))
    if QUICK
    else (Rate(2, 12, 9, (5000, 3000, 2000)), Rate(10, 40, 30, (3000, 2000, 1000)))
)
TEXT = "Benchmark 基准 text ✨ with some 中文 and emoji 🚀 to rewrite."
TASK_ID = "00000000-0000-4000-8000-000000000000"


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


# -- the bare endpoint ------------------------------------------------------------------


def bare_app() -> Any:
    """SSE and WebSocket endpoints streaming the mock's exact bytes, with no protocol work."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket

    from stagecheck.mock_server.broker import encode
    from stagecheck.mock_server.sse import sse_event
    from stagecheck.mock_server.textgen import stage_tokens

    cache: dict[int, tuple[list[bytes], list[str]]] = {}

    def events(count: int) -> tuple[list[bytes], list[str]]:
        if count not in cache:
            tokens = stage_tokens("rewrite", {"original_text": TEXT}, count)
            sse: list[bytes] = []
            ws: list[str] = []
            text = ""
            for number, token in enumerate(tokens, 1):
                text += token
                sse.append(sse_event(number, "token", {"content": token, "full_text": text}))
                ws.append(encode({"type": "token", "content": token, "full_text": text, "task_id": TASK_ID}))
            sse.append(sse_event(count + 1, "done", {"full_text": text}))
            ws.append(encode({"type": "done", "full_text": text, "task_id": TASK_ID}))
            cache[count] = (sse, ws)
        return cache[count]

    async def paced(items: list[Any], delay_s: float, first_s: float) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        start = loop.time() + first_s
        for index, item in enumerate(items):
            due = start + min(index, len(items) - 2) * delay_s  # done right after the last token
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            yield item

    async def sse(request: Request) -> StreamingResponse:
        await request.body()
        count = int(request.query_params.get("tokens", "12"))
        delay = float(request.query_params.get("delay-ms", "0")) / 1000
        first = float(request.query_params.get("first-delay-ms", "0")) / 1000
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        body = paced(events(count)[0], delay, first)
        return StreamingResponse(body, media_type="text/event-stream", headers=headers)

    async def ws(websocket: WebSocket) -> None:
        count = int(websocket.query_params.get("tokens", "12"))
        delay = float(websocket.query_params.get("delay-ms", "0")) / 1000
        first = float(websocket.query_params.get("first-delay-ms", "0")) / 1000
        await websocket.accept()
        await websocket.send_text(encode({"type": "connected", "project_id": 1, "stage_name": "rewrite"}))
        async for message in paced(events(count)[1], delay, first):
            await websocket.send_text(message)
        with contextlib.suppress(Exception):
            await websocket.receive()  # W7: the client closes

    return Starlette(routes=[Route("/sse", sse, methods=["POST"]), WebSocketRoute("/ws", ws)])


def serve_bare(fd: int, server: str) -> None:
    sock = socket.socket(fileno=fd)
    if server == "granian":
        from stagecheck.mock_server.granian_server import GranianMock, run_granian

        run_granian(GranianMock(bare_app(), sock), lambda: print("ready", flush=True))
        return
    import uvicorn

    config = uvicorn.Config(bare_app(), log_config=None, log_level="warning", lifespan="off", backlog=4096)
    uvicorn_server = uvicorn.Server(config)

    async def run() -> None:
        async def announce() -> None:
            while not uvicorn_server.started:
                await asyncio.sleep(0.01)
            print("ready", flush=True)

        task = asyncio.create_task(announce())
        await uvicorn_server.serve(sockets=[sock])
        task.cancel()

    from uvicorn._compat import asyncio_run

    asyncio_run(run(), loop_factory=config.get_loop_factory())


# -- the load client (raw protocols) ----------------------------------------------------


class StreamResult:
    __slots__ = ("error", "first_at", "started", "times")

    def __init__(self, started: float) -> None:
        self.started = started
        self.times: list[float] = []
        self.first_at: float | None = None
        self.error: str | None = None


class SseReader(asyncio.Protocol):
    """Counts SSE events (each ends with a blank line) until the server closes."""

    def __init__(self, request: bytes, result: StreamResult, keep_times: bool) -> None:
        self.request = request
        self.result = result
        self.keep_times = keep_times
        self.head = b""
        self.in_body = False
        self.tail = b""
        self.count = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.in_body:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.head.startswith(b"HTTP/1.1 200"):
                self.result.error = self.head[:40].decode(errors="replace")
            data = self.head[end + 4 :]
            self.in_body = True
        found = (self.tail + data).count(b"\n\n")
        self.tail = data[-1:]
        if found:
            self.count += found
            if self.result.first_at is None:
                self.result.first_at = now
            if self.keep_times:
                self.result.times.extend([now] * found)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class WsReader(asyncio.Protocol):
    """A minimal WebSocket client: handshake, count text messages, answer pings, close on done."""

    def __init__(self, path: str, host: str, result: StreamResult, keep_times: bool) -> None:
        self.path = path
        self.host = host
        self.result = result
        self.keep_times = keep_times
        self.buffer = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def _send(self, opcode: int, payload: bytes) -> None:
        # Client frames are masked; a zero mask keeps the payload as is.
        assert self.transport is not None and len(payload) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.result.error = self.buffer[:40].decode(errors="replace")
                self._finish()
                return
            self.buffer = self.buffer[end + 4 :]
            self.upgraded = True
        buffer = self.buffer
        position = 0
        while len(buffer) - position >= 2:
            opcode = buffer[position] & 0x0F
            length = buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if len(buffer) - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                start = position + 4
            elif length == 127:
                if len(buffer) - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                start = position + 10
            if len(buffer) < start + length:
                break
            payload = buffer[start : start + length]
            position = start + length
            if opcode == 1:
                self._message(payload, now)
            elif opcode == 9:
                self._send(10, payload)
            elif opcode == 8:
                self._finish()
        self.buffer = buffer[position:]

    def _message(self, payload: bytes, now: float) -> None:
        if not self.connected.done():
            self.connected.set_result(None)  # the first message is `connected`
            return
        if payload.startswith(b'{"type":"token"'):
            self.count += 1
            if self.result.first_at is None:
                self.result.first_at = now
            if self.keep_times:
                self.result.times.append(now)
        elif payload.startswith(b'{"type":"done"') or payload.startswith(b'{"type":"error"'):
            self.count += 1
            if self.keep_times:
                self.result.times.append(now)
            self._send(8, (1000).to_bytes(2, "big"))
            self._finish()

    def _finish(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.connected.done():
            self.connected.set_result(None)
        if not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()


class Client:
    def __init__(self, target: str, base_url: str, kind: str) -> None:
        self.target = target
        self.kind = kind
        self.host_port = base_url.split("//", 1)[1]
        host, port = self.host_port.rsplit(":", 1)
        self.host, self.port = host, int(port)
        # A keep-alive connection per stream slot for the async mode's POSTs, as a browser would.
        self._posts: dict[int, tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}

    async def _post(self, slot: int, path: str, body: bytes, headers: str) -> bytes:
        connection = self._posts.get(slot)
        if connection is None or connection[1].is_closing():
            connection = self._posts[slot] = await asyncio.open_connection(self.host, self.port)
        reader, writer = connection
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host_port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        return head + await reader.readexactly(length)

    async def stream(
        self, slot: int, tokens: int, delay_ms: float, keep_times: bool, start_at: float | None = None
    ) -> tuple[StreamResult, int]:
        """One stream; `start_at` (perf_counter time): when the first token is due."""
        loop = asyncio.get_running_loop()
        result = StreamResult(time.perf_counter())
        # One project per stream, all on `rewrite` with the bare endpoint's input: the same bytes.
        project, stage = slot + 1, "rewrite"

        def first_delay_ms() -> float:
            return 0.0 if start_at is None else max(0.0, (start_at - time.perf_counter()) * 1000)

        if self.kind == "sse":
            first = first_delay_ms()
            prefer = f"Prefer: tokens={tokens}, delay-ms={delay_ms:g}, first-delay-ms={first:.0f}\r\n"
            if self.target == "mock":
                path = f"/api/v1/projects/projects/{project}/execute-stage/"
                body = json.dumps(
                    {"stage_name": "rewrite", "input_data": {"original_text": TEXT}, "use_streaming": True}
                )
            else:
                path, body = f"/sse?tokens={tokens}&delay-ms={delay_ms:g}&first-delay-ms={first:.0f}", "{}"
            encoded = body.encode()
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {self.host_port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(encoded)}\r\nConnection: close\r\n{prefer}\r\n"
            ).encode() + encoded
            sse = SseReader(request, result, keep_times)
            await loop.create_connection(lambda: sse, self.host, self.port)
            await sse.done
            return result, sse.count
        if self.target == "mock":
            path = f"/ws/projects/{project}/stage/{stage}/"
        else:
            path = f"/ws?tokens={tokens}&delay-ms={delay_ms:g}&first-delay-ms={first_delay_ms():.0f}"
        ws = WsReader(path, self.host_port, result, keep_times)
        await loop.create_connection(lambda: ws, self.host, self.port)
        await ws.connected
        if self.target == "mock" and result.error is None:
            task_body = json.dumps({"stage_name": stage, "input_data": {"original_text": TEXT}}).encode()
            prefer = f"Prefer: tokens={tokens}, delay-ms={delay_ms:g}, first-delay-ms={first_delay_ms():.0f}\r\n"
            answer = await self._post(slot, f"/api/v1/projects/projects/{project}/execute-stage/", task_body, prefer)
            if not answer.startswith(b"HTTP/1.1 202"):
                result.error = answer[:40].decode(errors="replace")
                ws._finish()
        await ws.done
        return result, ws.count


async def throughput(client: Client) -> dict[str, Any]:
    deadline = time.perf_counter() + THROUGHPUT_SECONDS
    counts: list[int] = []
    errors: list[str] = []

    async def worker(slot: int) -> None:
        while time.perf_counter() < deadline:
            result, count = await client.stream(slot, THROUGHPUT_TOKENS, 0, keep_times=False)
            counts.append(count)
            if result.error:
                errors.append(result.error)

    started = time.perf_counter()
    await asyncio.gather(*(worker(slot) for slot in range(THROUGHPUT_STREAMS)))
    elapsed = time.perf_counter() - started
    return {
        "concurrent_streams": THROUGHPUT_STREAMS,
        "tokens_per_stream": THROUGHPUT_TOKENS,
        "seconds": round(elapsed, 2),
        "streams_completed": len(counts),
        "messages": sum(counts),
        "messages_per_s": round(sum(counts) / elapsed),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


async def capacity(client: Client, streams: int, rate: Rate) -> dict[str, Any]:
    """N streams opened during a ramp, whose tokens all start at one moment after it."""
    interval = rate.interval_ms / 1000
    results: list[tuple[StreamResult, int]] = []
    failures: list[str] = []
    started = time.perf_counter()
    start_at = started + streams / OPEN_RATE_PER_S + START_MARGIN_S

    async def one(slot: int) -> None:
        # Phases spread over one interval, as independent tasks' tokens would be.
        phase = (slot % 100) / 100 * interval
        try:
            results.append(
                await client.stream(slot, rate.tokens, rate.interval_ms, keep_times=True, start_at=start_at + phase)
            )
        except OSError as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    tasks = []
    for slot in range(streams):
        due = started + slot / OPEN_RATE_PER_S
        if due > time.perf_counter():
            await asyncio.sleep(due - time.perf_counter())
        tasks.append(asyncio.create_task(one(slot)))
    await asyncio.gather(*tasks)
    steady: list[float] = []
    tail: list[float] = []
    start_lateness: list[float] = []
    complete = 0
    for result, _count in results:
        if result.error or not result.times:
            failures.append(result.error or "no token arrived")
            continue
        times = result.times[: rate.tokens]  # tokens only (the terminal comes right after the last)
        if len(result.times) == rate.tokens + 1:
            complete += 1
        start_lateness.append(times[0] - start_at)  # within one interval of its own start
        for index, at in enumerate(times[1:], 1):
            (steady if index < rate.steady_tokens else tail).append(at - (times[0] + index * interval))
    whole = sorted(steady + tail)
    steady.sort()
    start_lateness.sort()
    p99 = percentile(steady, 0.99) * 1000
    # A stream whose request the server took up late starts late (its first token is due
    # `first-delay-ms` after the server read it). All N overlap only if the last one starts
    # before the first ones leave their steady window.
    window_s = (rate.steady_tokens - 1) * interval
    all_concurrent = bool(start_lateness) and start_lateness[-1] < window_s
    return {
        "concurrent_streams": streams,
        "tokens_per_stream": rate.tokens,
        "token_interval_ms": rate.interval_ms,
        "complete_streams": complete,
        "failed_streams": len(failures),
        "first_failure": failures[0] if failures else None,
        "tokens_measured": len(steady),
        "lateness_ms": _spread(steady),
        "lateness_whole_ms": _spread(whole),
        # How late the first token came against the common start (all streams open by then).
        "first_token_vs_common_start_ms": {
            "p50": round(percentile(start_lateness, 0.50) * 1000, 1),
            "p99": round(percentile(start_lateness, 0.99) * 1000, 1),
        },
        # A server that queues requests (Granian's default backpressure did) starts some
        # streams late: they never all stream at once, so the level is not held.
        "all_concurrent": all_concurrent,
        "first_token_vs_common_start_max_ms": round(start_lateness[-1] * 1000, 1) if start_lateness else None,
        "holds": complete == streams and p99 < LATENESS_BOUND_MS and all_concurrent,
    }


def _spread(lateness: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of sorted lateness, in ms."""
    return {
        "p50": round(percentile(lateness, 0.50) * 1000, 2),
        "p99": round(percentile(lateness, 0.99) * 1000, 2),
        "max": round(lateness[-1] * 1000, 2) if lateness else None,
    }


class GcPauses:
    """Records the cyclic garbage collector's pauses in this process (they stall the loop)."""

    def __init__(self) -> None:
        self.began = 0.0
        self.pauses: list[float] = []
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self.began = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self.began)

    def figures(self) -> dict[str, Any]:
        return {"collections": len(self.pauses), "max_pause_ms": round(max(self.pauses, default=0.0) * 1000, 1)}


def run_client(args: argparse.Namespace) -> None:
    raise_fd_limit()
    # The client's own collector pauses (up to 22 ms seen at 2,000 sockets) would count as
    # lateness: it runs with the cyclic collector off (a run is seconds long and bounded);
    # `client_gc` shows that no collection happened.
    gc.disable()
    pauses = GcPauses()
    client = Client(args.target, args.url, args.kind)
    rate = Rate(args.rate, args.tokens, args.steady, ())
    job = throughput(client) if args.phase == "throughput" else capacity(client, args.streams, rate)
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    try:
        import uvloop

        result = uvloop.run(job)
    except ImportError:
        result = asyncio.run(job)
    after = resource.getrusage(resource.RUSAGE_SELF)
    # The client's own CPU time against its wall time: near 1.0 means the client, not the
    # server, is the bottleneck.
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["client_cpu_s"] = round(cpu, 2)
    result["client_wall_s"] = round(time.perf_counter() - began, 2)
    result["client_gc"] = pauses.figures()
    print(json.dumps(result))


# -- the orchestrating parent -----------------------------------------------------------


def client_run(
    target: str, url: str, kind: str, phase: str, streams: int = 0, server_pid: int = 0, rate: Rate | None = None
) -> dict[str, Any]:
    import psutil

    process = psutil.Process(server_pid)
    speed = cpu_probe_s()
    before = process.cpu_times()
    machine_before = psutil.cpu_times()
    command = [sys.executable, __file__, "--client", target, "--url", url, "--kind", kind, "--phase", phase]
    command += ["--streams", str(streams)]
    if rate is not None:
        command += ["--rate", str(rate.per_s), "--tokens", str(rate.tokens), "--steady", str(rate.steady_tokens)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    after = process.cpu_times()
    machine = _machine_share(machine_before, psutil.cpu_times())
    if done.returncode != 0:
        raise SystemExit(f"load client failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["server_cpu_s"] = round((after.user - before.user) + (after.system - before.system), 2)
    result["machine_cpu"] = machine
    result["cpu_probe_s"] = speed
    return result


def cpu_probe_s() -> float:
    """Seconds a fixed pure-Python loop takes right now (best of 3).

    On this virtual machine the same loop has taken anywhere from 0.6x to 1.0x of its
    slowest time within minutes, with no steal reported: the host's own load. A run's
    figures are only comparable with runs whose probe reads about the same.
    """
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for number in range(1_000_000):
            total += number
        best = min(best, time.perf_counter() - began)
    return round(best, 4)


def _machine_share(before: Any, after: Any) -> dict[str, float]:
    """The machine's idle share over a run, and the share the hypervisor took (steal): on a
    virtual machine a busy host takes CPU time away, and every figure moves with it."""
    total = sum(after) - sum(before)
    if total <= 0:
        return {"idle": 0.0, "steal": 0.0}
    return {
        "idle": round((after.idle - before.idle) / total, 3),
        "steal": round((getattr(after, "steal", 0.0) - getattr(before, "steal", 0.0)) / total, 3),
    }


def start_bare(server: str) -> tuple[subprocess.Popen[bytes], str]:
    from stagecheck.mock_server.server import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, __file__, "--bare", "--fd", str(sock.fileno()), "--server", server],
        pass_fds=[sock.fileno()],
        stdout=subprocess.PIPE,
    )
    sock.close()
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"ready":
        raise SystemExit("the bare server did not start")
    return process, f"http://127.0.0.1:{port}"


def startup_times() -> dict[str, Any]:
    """Seconds from EmbeddedMock.start() to a server that answers, per mode (median of 3)."""
    from stagecheck.mock_server.embedded import EmbeddedMock

    figures: dict[str, Any] = {}
    for server in SERVERS:
        for mode in ("thread", "process"):
            seconds = []
            for _ in range(3):
                began = time.perf_counter()
                mock = EmbeddedMock(mode=mode, server=server).start()  # type: ignore[arg-type]
                seconds.append(time.perf_counter() - began)
                mock.stop()
            figures.setdefault(server, {})[mode] = {
                "median_s": round(sorted(seconds)[1], 3),
                "runs_s": [round(x, 3) for x in seconds],
            }
    return figures


def throughput_rounds(kind: str, targets: dict[tuple[str, str], tuple[str, int]]) -> dict[str, Any]:
    """Rounds alternate every server and target, so that a burst of other work on the
    machine does not land on one side only; each side's best round counts, all are kept."""
    rounds: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in targets}
    for _round in range(THROUGHPUT_ROUNDS):
        for (server, target), (url, pid) in targets.items():
            figures = client_run(target, url, kind, "throughput", server_pid=pid)
            cpu = figures["server_cpu_s"]
            figures["messages_per_server_cpu_s"] = round(figures["messages"] / cpu) if cpu else None
            rounds[server, target].append(figures)
            print(
                f"throughput {kind} {server} {target}: {figures['messages_per_s']} messages/s "
                f"({figures['errors']} errors, server CPU {figures['server_cpu_s']} s, "
                f"client CPU {figures['client_cpu_s']}/{figures['client_wall_s']} s)",
                flush=True,
            )
    by_server: dict[str, Any] = {}
    for (server, target), runs in rounds.items():
        best = dict(max(runs, key=lambda figures: figures["messages_per_s"]))
        best["rounds_messages_per_s"] = [figures["messages_per_s"] for figures in runs]
        by_server.setdefault(server, {})[target] = best
    for pair in by_server.values():
        pair["mock_vs_bare"] = round(pair["mock"]["messages_per_s"] / pair["bare"]["messages_per_s"], 3)
        if pair["mock"]["messages_per_server_cpu_s"] and pair["bare"]["messages_per_server_cpu_s"]:
            pair["mock_vs_bare_per_cpu"] = round(
                pair["mock"]["messages_per_server_cpu_s"] / pair["bare"]["messages_per_server_cpu_s"], 3
            )
    return by_server


def capacity_search(kind: str, server: str, target: str, url: str, pid: int, rate: Rate) -> dict[str, Any]:
    """Levels from the top down until one holds; a lateness-only miss may get a second try."""
    tried = []
    for streams in rate.levels:
        figures = client_run(target, url, kind, "capacity", streams, server_pid=pid, rate=rate)
        late_only = not figures["holds"] and figures["complete_streams"] == streams
        if late_only and time.perf_counter() - RUN_STARTED < RETRY_BUDGET_S:
            tried.append(figures)
            figures = client_run(target, url, kind, "capacity", streams, server_pid=pid, rate=rate)
        tried.append(figures)
        print(
            f"capacity {rate.per_s}/s {kind} {server} {target} {streams}: "
            f"p99 lateness {figures['lateness_ms']['p99']} ms, {figures['complete_streams']} complete, "
            f"holds={figures['holds']} (client CPU {figures['client_cpu_s']}/{figures['client_wall_s']} s, "
            f"server CPU {figures['server_cpu_s']} s, idle {figures['machine_cpu']['idle']:.0%}, "
            f"cpu probe {figures['cpu_probe_s']} s)",
            flush=True,
        )
        if figures["holds"]:
            break
    held = [f["concurrent_streams"] for f in tried if f["holds"]]
    return {"streams_held": max(held) if held else 0, "levels": tried}


def main() -> None:
    from stagecheck.mock_server.config import MockConfig
    from stagecheck.mock_server.embedded import EmbeddedMock

    raise_fd_limit()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            # Other work on the machine skews every figure: the load average says how much.
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "servers": list(SERVERS),
        "definitions": {
            "throughput": f"{THROUGHPUT_STREAMS} concurrent streams of {THROUGHPUT_TOKENS} tokens, no delay, "
            f"restarted for {THROUGHPUT_SECONDS:g} s; messages = tokens + terminal; best of "
            f"{THROUGHPUT_ROUNDS} rounds alternating servers and targets",
            "lateness": "arrival of token i - (arrival of token 0 + i x interval), all streams opened "
            "before a common start of their tokens; steady window: the tokens due while every stream is open",
            "holds": f"every stream complete (nothing lost), p99 lateness in the steady window "
            f"< {LATENESS_BOUND_MS:g} ms, and the last stream's first token before the steady window's end "
            "(all streams at once)",
            "rates": [dataclasses.asdict(rate) for rate in RATES],
        },
        "throughput": {},
        "capacity": {},
    }
    report["embedded_startup"] = startup_times()
    print(f"embedded startup: {report['embedded_startup']}", flush=True)
    # Retention 0: a benchmark socket never receives an earlier stream's terminal event.
    config = MockConfig(tokens=12, token_delay_ms=0, terminal_retention_s=0, projects=range(1, 10_001))
    with contextlib.ExitStack() as stack:
        targets: dict[tuple[str, str], tuple[str, int]] = {}
        for server in SERVERS:
            mock = stack.enter_context(EmbeddedMock(config, mode="process", server=server))  # type: ignore[arg-type]
            bare, bare_url = start_bare(server)
            stack.callback(bare.wait, 10)
            stack.callback(bare.terminate)
            targets[server, "mock"] = (mock.base_url, mock.pid)
            targets[server, "bare"] = (bare_url, bare.pid)
        for kind in ("sse", "ws"):
            report["throughput"][kind] = throughput_rounds(kind, targets)
        for rate in RATES:
            per_rate: dict[str, Any] = report["capacity"].setdefault(f"{rate.per_s}_tokens_per_s", {})
            for kind in ("sse", "ws"):
                for (server, target), (url, pid) in targets.items():
                    found = capacity_search(kind, server, target, url, pid, rate)
                    per_rate.setdefault(kind, {}).setdefault(server, {})[target] = found
                for pair in per_rate[kind].values():
                    bare_held = pair["bare"]["streams_held"]
                    pair["mock_vs_bare"] = round(pair["mock"]["streams_held"] / bare_held, 3) if bare_held else None
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary = summarize(report)
    report["summary"] = summary
    if QUICK:
        print(json.dumps(report, indent=1)[:6000])
        print("\n".join(summary))
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("\n".join(summary))
    print(f"wrote {RESULTS} in {report['seconds']} s")


def summarize(report: dict[str, Any]) -> list[str]:
    """One line per figure: server, mode, mock against bare."""
    lines = []
    for kind, by_server in report["throughput"].items():
        for server, pair in by_server.items():
            lines.append(
                f"throughput {kind} {server}: mock {pair['mock']['messages_per_s']} msg/s "
                f"{pair['mock']['rounds_messages_per_s']}, bare {pair['bare']['messages_per_s']} msg/s "
                f"{pair['bare']['rounds_messages_per_s']}: {pair['mock_vs_bare']:.0%}"
            )
    for rate, by_kind in report["capacity"].items():
        for kind, by_server in by_kind.items():
            for server, pair in by_server.items():
                ratio = pair["mock_vs_bare"]
                lines.append(
                    f"capacity {rate} {kind} {server}: mock holds {pair['mock']['streams_held']}, "
                    f"bare {pair['bare']['streams_held']}" + (f": {ratio:.0%}" if ratio is not None else "")
                )
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bare", action="store_true")
    parser.add_argument("--fd", type=int)
    parser.add_argument("--client", choices=["mock", "bare"])
    parser.add_argument("--url")
    parser.add_argument("--kind", choices=["sse", "ws"])
    parser.add_argument("--phase", choices=["throughput", "capacity"])
    parser.add_argument("--streams", type=int, default=0)
    parser.add_argument("--rate", type=int, default=10, help="capacity: tokens/s per stream")
    parser.add_argument("--tokens", type=int, default=40, help="capacity: tokens per stream")
    parser.add_argument("--steady", type=int, default=30, help="capacity: end of the steady window (tokens)")
    parser.add_argument("--server", choices=SERVERS, default="uvicorn")
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds; writes nothing")
    arguments = parser.parse_args()
    if arguments.bare:
        serve_bare(arguments.fd, arguments.server)
    elif arguments.client:
        arguments.target = arguments.client
        run_client(arguments)
    else:
        main()
