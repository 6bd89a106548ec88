"""The WebSocket channel `/ws/projects/{project_id}/stage/{stage_name}/` (section 5).

One coroutine writes (connected, then the subscription's deliveries, heartbeats when
idle) and one task reads client frames (ping -> pong; anything else closes this socket
only, W4). Whoever ends the conversation cuts the subscription; the writer then closes
the socket with the cut's code and frees the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from .broker import Cut, Delivery, Subscription, encode
from .responses import parse_project, token_ok
from .state import MockState
from .validation import stage_names

CLIENT_LEFT = 0  # a Cut code meaning: the client is gone, send no close frame
PONG = encode({"type": "pong"})
_SEND_ERRORS = (WebSocketDisconnect, OSError, RuntimeError)  # RuntimeError: Starlette, socket already closed


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
    reader = asyncio.get_running_loop().create_task(_read_frames(websocket, subscription))
    cut: Cut | None = None
    try:
        await websocket.send_text(encode({"type": "connected", "project_id": project_id, "stage_name": stage_name}))
        cut = await _write(websocket, subscription, config.heartbeat_s)
    except _SEND_ERRORS:
        cut = None  # the client went away while we were writing
    finally:
        reader.cancel()
        state.sockets.discard(subscription)
        await subscription.close()
    if cut is not None and cut.code != CLIENT_LEFT:
        with contextlib.suppress(*_SEND_ERRORS):
            await websocket.close(cut.code, _short(cut.reason))


async def _write(websocket: WebSocket, subscription: Subscription, heartbeat_s: float | None) -> Cut:
    # Deliveries go straight to the ASGI `send` under Starlette's WebSocket wrapper (the
    # middleware still sees each one): the wrapper's state checks cost as much as the
    # broker's work per message, and only text frames are sent here while the socket is
    # open. A send error is an OSError (uvicorn's ClientDisconnected), as through the wrapper.
    send = websocket._send
    next_delivery = subscription.next
    # A subscription that can hand over what is queued at once (the in-memory one) saves
    # an await per message; any other is read one delivery at a time.
    drain: Callable[[], list[Delivery]] | None = getattr(subscription, "drain", None)
    while True:
        first = await next_delivery(heartbeat_s)
        if first is None:
            await send({"type": "websocket.send", "text": encode({"type": "heartbeat", "ts": time.time()})})
            continue
        for delivery in (first,) if drain is None else (first, *drain()):
            if isinstance(delivery, Cut):
                return delivery
            await send({"type": "websocket.send", "text": delivery})


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
    except _SEND_ERRORS:
        subscription.cut(CLIENT_LEFT, "client left")
