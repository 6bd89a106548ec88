"""The async mode's Celery task: produce the stage's tokens and publish them to the Channels group.

Order matters, and is what the protocol's rules ask of it:
- each token is written to the W5 snapshot in Redis *before* it is published, so a socket that
  joins between the two sees it once (the consumer drops live tokens the snapshot covered);
- the terminal state is stored in the result backend *before* the terminal event is published, so
  a client that polls task-status on `done` gets SUCCESS with the same text (T3).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from celery import Task
from celery.exceptions import Ignore
from channels.layers import get_channel_layer
from django.conf import settings

from . import state
from .celery_app import app
from .model import FIRST_TOKEN_S, TOKEN_GAP_S, StageFailed, plan

_threads = threading.local()


def publish(project_id: int, stage_name: str, message: dict[str, Any], seq: int) -> None:
    """One message to the channel's group; `seq` (the token count) lets consumers skip what a snapshot held.

    Not `async_to_sync(layer.group_send)(...)`, the pattern Channels' docs show: from a worker thread
    that runs a fresh event loop per call, and channels_redis opens a fresh Redis connection
    per loop, so each message paid a connection (measured: 5 streams/s at 10 users, ITL 166 ms).
    One long-lived loop per worker thread keeps its connections.
    """
    layer = get_channel_layer()
    event = {"type": "stage.message", "message": message, "seq": seq, "stage_name": stage_name}
    loop = getattr(_threads, "loop", None)
    if loop is None:
        loop = _threads.loop = asyncio.new_event_loop()
    groups = [
        state.group_name(project_id, stage_name),
        state.task_group_name(project_id, stage_name, message["task_id"]),
    ]
    for group in filter(None, groups):  # the channel's sockets, then those following this task only
        loop.run_until_complete(layer.group_send(group, event))


@app.task(bind=True, name="examples.run_stage")  # type: ignore[untyped-decorator]
def run_stage(
    self: Task, project_id: int, stage_name: str, input_data: dict[str, Any], scenario: str | None
) -> dict[str, str]:
    task_id = self.request.id
    lagging = "result-lag" in settings.BREAKS
    pieces, failure = plan(stage_name, input_data, scenario)
    state.task_began(task_id, project_id, stage_name)
    time.sleep(FIRST_TOKEN_S)
    full_text = ""
    for seq, piece in enumerate(pieces, start=1):
        if seq > 1:
            time.sleep(TOKEN_GAP_S)
        full_text += piece
        state.token_produced(task_id, seq, full_text)
        self.update_state(state="PROGRESS", meta={"full_text": full_text})
        token = {"type": "token", "content": piece, "full_text": full_text, "task_id": task_id}
        publish(project_id, stage_name, token, seq)
    seq = len(pieces) + 1
    if failure is not None:
        terminal: dict[str, Any] = {"type": "error", "error": failure, "code": scenario or "failed", "task_id": task_id}
        if not lagging:
            self.backend.mark_as_failure(task_id, StageFailed(failure))
    else:
        terminal = {"type": "done", "full_text": full_text, "task_id": task_id}
        if not lagging:
            self.backend.mark_as_done(task_id, {"full_text": full_text})
    state.task_ended(task_id, terminal)
    publish(project_id, stage_name, terminal, seq)
    if lagging:
        # "then post-process the output (upload it, save it to the database)": the result backend
        # learns the outcome only when the task returns
        time.sleep(float(os.environ.get("STAGECHECK_EXAMPLE_RESULT_LAG_S", "3")))
        if failure is not None:
            raise StageFailed(failure)
        return {"full_text": full_text}
    raise Ignore()  # the result is stored already; Celery must not store it again
