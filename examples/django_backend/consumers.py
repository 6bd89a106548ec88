"""The WebSocket side: one Channels consumer per socket on ws/projects/{project_id}/stage/{stage_name}/.

- `connected` is the first message (W2), then what a late subscriber is owed (W5): the snapshot
  token of each running task of the channel, the terminal event of each recently ended one;
  then live messages from the channel's group (one per project and stage, W6), filtered to one
  task with `?task_id=`.
- client frames: `ping` gets `pong` (W3); text that is not JSON or not a ping closes with 1008,
  a binary frame with 1003 (W4); the socket stays open after a terminal event (W7).
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import suppress
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import state
from .views import PROJECTS, STAGES


class StageConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        raw_project, self.stage_name = kwargs["project_id"], kwargs["stage_name"]
        await self.accept()
        if not (raw_project.isascii() and raw_project.isdigit() and int(raw_project) in PROJECTS):
            await self.close(code=4404, reason=f"unknown project {raw_project[:40]}")
            return
        if self.stage_name not in STAGES:
            await self.close(code=4404, reason=f"unknown stage {self.stage_name[:40]}")
            return
        self.project_id = int(raw_project)
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.task_filter: str | None = (query.get("task_id") or [""])[0].lower() or None
        self.seen: dict[str, int] = {}  # task id -> tokens already sent (snapshot or live)
        self.ended: set[str] = set()
        # A socket for one task joins that task's group only (see state.task_group_name).
        task_group = (
            None
            if self.task_filter is None
            else state.task_group_name(self.project_id, self.stage_name, self.task_filter)
        )
        self.group = task_group or state.group_name(self.project_id, self.stage_name)
        # Join the group before reading the snapshots: a token published in between is in both,
        # and `seen` drops the live copy; one published after is live only.
        await self.channel_layer.group_add(self.group, self.channel_name)
        owed = [] if "no-snapshot" in settings.BREAKS else await self.owed()
        connected = {"type": "connected", "project_id": self.project_id, "stage_name": self.stage_name}
        if "replay-before-connected" not in settings.BREAKS:
            await self.send_json(connected)
        for message in owed:
            await self.send_json(message)
        if "replay-before-connected" in settings.BREAKS:
            await self.send_json(connected)
        self.heartbeat = asyncio.get_running_loop().create_task(self.beat())

    async def owed(self) -> list[dict[str, Any]]:
        messages = []
        for snap in await state.channel_snapshots(self.project_id, self.stage_name, self.task_filter):
            task_id = snap["task_id"]
            self.seen[task_id] = snap["seq"]
            if "terminal" in snap:
                self.ended.add(task_id)
                messages.append(snap["terminal"])
            elif snap["full_text"]:
                text = snap["full_text"]
                messages.append({"type": "token", "content": text, "full_text": text, "task_id": task_id})
        return messages

    async def beat(self) -> None:
        while True:
            await asyncio.sleep(settings.HEARTBEAT_S)
            await self.send_json({"type": "heartbeat", "ts": time.time()})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "heartbeat"):
            self.heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await self.heartbeat
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # -- client frames ---------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if "default-json-decode" in settings.BREAKS and text_data is not None:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)  # raises on bad JSON
            return
        if text_data is None:
            await self.close(code=1003, reason="binary frames are not accepted")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.close(code=1008, reason="the frame is not JSON")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.close(code=1008, reason="only ping messages are accepted")

    # -- the group's messages (published by tasks.run_stage) -------------------------------------

    async def stage_message(self, event: dict[str, Any]) -> None:
        message, seq = event["message"], event["seq"]
        task_id = message["task_id"]
        if self.task_filter is not None and task_id != self.task_filter:
            return
        if task_id in self.ended or seq <= self.seen.get(task_id, 0):
            return  # the snapshot or the replayed terminal covered it
        self.seen[task_id] = seq
        await self.send_json(message)
        if message["type"] in ("done", "error"):
            self.ended.add(task_id)
            if "close-after-done" in settings.BREAKS:
                await self.close()


class UnknownChannel(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """Any other WebSocket path: accepted, then closed 4404 with a reason (W1)."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=4404, reason="no such channel")
