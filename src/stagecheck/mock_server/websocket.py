"""The WebSocket channel `/ws/projects/{project_id}/stage/{stage_name}/` (section 5).

The handler sends `connected`, then a SocketWriter (socket_writer.py) sends the
subscription's deliveries as they arrive, and heartbeats when idle; one task reads
client frames (ping -> pong; anything else closes this socket only, W4). Whoever ends
the conversation cuts the subscription; the handler then closes the socket with the
cut's code and frees the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from starlette.websockets import WebSocket

from .broker import Cut, Subscription, encode
from .responses import parse_project, token_ok
from .socket_writer import SEND_ERRORS, SocketWriter, pump
from .state import SERVER_SEND, MockState
from .validation import stage_names

CLIENT_LEFT = 0  # a Cut code meaning: the client is gone, send no close frame
PONG = encode({"type": "pong"})


def _short(reason: str) -> str:
    # A close frame's reason holds at most 123 bytes of UTF-8.
    return reason.encode()[:120].decode(errors="ignore")


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    # Accept first, so that the client sees the close code and reason (W1, E2).
    await websocket.accept()
    await websocket.close(code, _short(reason))


async def stage_socket(websocket: WebSocket) -> None:
    state: MockState = websocket.app.state.mock
    config = state.config
    if not token_ok(config, websocket.query_params.get("token")):
        await _refuse(websocket, 4401, "missing or invalid token")
        return
    raw_project = websocket.path_params["project_id"]
    stage_name = websocket.path_params["stage_name"]
    project_id = parse_project(raw_project, config)
    if project_id is None:
        await _refuse(websocket, 4404, f"unknown project {raw_project[:40]}")
        return
    if stage_name not in stage_names():
        await _refuse(websocket, 4404, f"unknown stage {stage_name[:40]}")
        return
    if state.shutting_down:
        await _refuse(websocket, 1001, "server shutting down")
        return

    await websocket.accept()
    subscription = await state.broker.subscribe(project_id, stage_name, websocket.query_params.get("task_id"))
    state.sockets.add(subscription)
    loop = asyncio.get_running_loop()
    reader = loop.create_task(_read_frames(websocket, subscription))
    writer: SocketWriter | None = None
    feeder: asyncio.Task[None] | None = None
    cut: Cut | None = None
    try:
        await websocket.send_text(encode({"type": "connected", "project_id": project_id, "stage_name": stage_name}))
        # Deliveries go straight to the server's send (app.MockApp), as they arrive.
        writer = SocketWriter(websocket.scope.get(SERVER_SEND, websocket._send), config.heartbeat_s)
        if not subscription.push_to(writer.deliver):
            feeder = loop.create_task(pump(subscription, writer))
        cut = await writer.ended
    except SEND_ERRORS:
        cut = None  # the client went away while we were writing
    finally:
        if writer is not None:
            writer.close()
        reader.cancel()
        if feeder is not None:
            feeder.cancel()
        state.sockets.discard(subscription)
        await subscription.close()
    if cut is not None and cut.code != CLIENT_LEFT:
        with contextlib.suppress(*SEND_ERRORS):
            await websocket.close(cut.code, _short(cut.reason))


async def _read_frames(websocket: WebSocket, subscription: Subscription) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                subscription.cut(CLIENT_LEFT, "client left")
                return
            text = message.get("text")
            if text is None:
                subscription.cut(1003, "binary frames are not accepted: send JSON text")
                return
            try:
                payload = orjson.loads(text)
            except orjson.JSONDecodeError:
                subscription.cut(1008, "frame is not JSON")
                return
            kind = payload.get("type") if isinstance(payload, dict) else None
            if kind != "ping":
                shown = kind if isinstance(kind, str) else type(kind).__name__
                subscription.cut(1008, f"unknown message type {shown[:40]!r}: only ping is accepted")
                return
            await websocket.send_text(PONG)
    except SEND_ERRORS:
        subscription.cut(CLIENT_LEFT, "client left")
