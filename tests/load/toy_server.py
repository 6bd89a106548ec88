"""A tiny stage-execution server for the load tests, with faults that only load shows.

Run as a script (`python toy_server.py --port P --fault F --limit N`); conftest.py starts
it in a subprocess. It speaks just enough of docs/protocol.md for the load users: the SSE
answer, the 202 + task and the task's WebSocket (with the W5 snapshot for a socket that
opens after the task began). Pacing honours `Prefer: tokens=N, delay-ms=D,
first-delay-ms=F`, like the mock. Faults, each active only beyond `--limit` concurrent
streams:
- `drop`: a token goes missing (Q2 breaks);
- `slow`: every gap grows by `--slow-ms` per stream beyond the limit;
- `refuse`: SSE answers 503, a WebSocket is closed with 1013 (try again later).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


@dataclass
class Task:
    started: float
    tokens: int
    delay_s: float
    first_delay_s: float
    origin: float | None = None  # the client's send time, when it said

    @property
    def ttft_origin(self) -> float:
        return self.started if self.origin is None else self.origin

    def due(self, index: int) -> float:
        return self.started + self.first_delay_s + index * self.delay_s


class Toy:
    def __init__(self, fault: str, limit: int, slow_ms: float) -> None:
        self.fault = fault
        self.limit = limit
        self.slow_s = slow_ms / 1000.0
        self.active = 0
        self.tasks: dict[str, Task] = {}
        # What the server really did, on the same monotonic clock as the client: when each
        # stream's first token left (from the request's arrival) and every gap between tokens.
        self.sent_ttft: list[float] = []
        self.sent_gaps: list[float] = []
        self.request_lag: list[float] = []

    def note_sent(self, task: Task, last: list[float]) -> None:
        """A token left the server just now; `last` holds the stream's previous send time."""
        now = time.monotonic()
        if last:
            self.sent_gaps.append(now - last[0])
            last[0] = now
        else:
            self.sent_ttft.append(now - task.ttft_origin)
            last.append(now)

    def over_limit(self) -> int:
        return max(0, self.active - self.limit) if self.fault != "none" else 0

    def task_from(self, request: Request) -> Task:
        prefs: dict[str, float] = {}
        for part in request.headers.get("prefer", "").split(","):
            name, _, value = part.strip().partition("=")
            try:
                prefs[name.strip().lower()] = float(value)
            except ValueError:
                continue
        return Task(
            started=time.monotonic(),
            tokens=int(prefs.get("tokens", 12)),
            delay_s=prefs.get("delay-ms", 20.0) / 1000.0,
            first_delay_s=prefs.get("first-delay-ms", 0.0) / 1000.0,
        )

    async def produce(self, task: Task, task_id: str, skip_first: int = 0):  # type: ignore[no-untyped-def]
        """(kind, payload) pairs at their due times; the faults act here."""
        full_text = ""
        dropped = False
        slow_extra = 0.0
        for index in range(task.tokens):
            content = f"tok{index} "
            full_text += content
            if index < skip_first:
                continue
            if self.fault == "slow":
                slow_extra += self.slow_s * self.over_limit()
            wait = task.due(index) + slow_extra - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.fault == "drop" and not dropped and index == 2 and self.over_limit():
                dropped = True
                continue
            yield "token", {"type": "token", "content": content, "full_text": full_text, "task_id": task_id}
        yield "done", {"type": "done", "full_text": full_text, "task_id": task_id}


def build_app(toy: Toy) -> Starlette:
    async def execute(request: Request) -> Response:
        body = await request.json()
        project_id = int(request.path_params["project_id"])
        task = toy.task_from(request)
        task_id = str(uuid.uuid4())
        if "x-stagecheck-sent-at" in request.headers:
            # The client's send time (same machine, same monotonic clock): TTFT is measured from it.
            sent_at = float(request.headers["x-stagecheck-sent-at"])
            toy.request_lag.append(task.started - sent_at)
            task.origin = sent_at
        if not body.get("use_streaming"):
            toy.tasks[task_id] = task
            return JSONResponse(
                {
                    "task_id": task_id,
                    "channel": f"p{project_id}",
                    "stage_name": body["stage_name"],
                    "status": "PENDING",
                },
                status_code=202,
            )
        toy.active += 1
        if toy.fault == "refuse" and toy.over_limit():
            toy.active -= 1
            return JSONResponse({"error": "too many streams", "code": "overloaded"}, status_code=503)

        async def events():  # type: ignore[no-untyped-def]
            number = 0
            last: list[float] = []
            try:
                async for kind, payload in toy.produce(task, task_id):
                    number += 1
                    if kind == "token":
                        toy.note_sent(task, last)
                    yield f"id: {number}\nevent: {kind}\ndata: {json.dumps(payload)}\n\n"
            finally:
                toy.active -= 1

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def socket(websocket: WebSocket) -> None:
        task_id = websocket.query_params.get("task_id", "")
        task = toy.tasks.get(task_id)
        await websocket.accept()
        toy.active += 1
        try:
            if task is None or (toy.fault == "refuse" and toy.over_limit()):
                await websocket.close(1013, "try again later")
                return
            project_id = int(websocket.path_params["project_id"])
            stage = websocket.path_params["stage"]
            await websocket.send_text(json.dumps({"type": "connected", "project_id": project_id, "stage_name": stage}))
            last: list[float] = []
            # W5: tokens already produced arrive as one snapshot token.
            produced = sum(1 for i in range(task.tokens) if task.due(i) <= time.monotonic())
            if 0 < produced < task.tokens:
                text = "".join(f"tok{i} " for i in range(produced))
                snapshot = {"type": "token", "content": text, "full_text": text, "task_id": task_id}
                await websocket.send_text(json.dumps(snapshot))
                toy.note_sent(task, last)
            skip = produced if produced < task.tokens else task.tokens
            async for kind, payload in toy.produce(task, task_id, skip_first=skip):
                await websocket.send_text(json.dumps(payload))
                if kind == "token":
                    toy.note_sent(task, last)
            await websocket.receive_text()  # the client closes (W7: the server keeps it open)
        except WebSocketDisconnect:
            pass
        finally:
            toy.active -= 1

    async def stats(request: Request) -> Response:
        """Medians of what was sent (ms); DELETE forgets the samples (between modes)."""
        if request.method == "DELETE":
            toy.sent_ttft.clear()
            toy.sent_gaps.clear()
            return JSONResponse({})
        return JSONResponse(
            {
                "ttft_p50_ms": 1000 * statistics.median(toy.sent_ttft) if toy.sent_ttft else None,
                "gap_p50_ms": 1000 * statistics.median(toy.sent_gaps) if toy.sent_gaps else None,
                "streams": len(toy.sent_ttft),
                "request_lag_p50_ms": 1000 * statistics.median(toy.request_lag) if toy.request_lag else None,
            }
        )

    return Starlette(
        routes=[
            Route("/api/v1/projects/projects/{project_id:int}/execute-stage/", execute, methods=["POST"]),
            WebSocketRoute("/ws/projects/{project_id:int}/stage/{stage}/", socket),
            Route("/", lambda request: JSONResponse({"toy": True})),
            Route("/stats", stats, methods=["GET", "DELETE"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fault", choices=["none", "drop", "slow", "refuse"], default="none")
    parser.add_argument("--limit", type=int, default=1_000_000)
    parser.add_argument("--slow-ms", type=float, default=5.0)
    args = parser.parse_args()
    toy = Toy(args.fault, args.limit, args.slow_ms)
    uvicorn.run(build_app(toy), host="127.0.0.1", port=args.port, log_level="warning", backlog=4096)


if __name__ == "__main__":
    main()
