"""The WebSocket subscription's own rules: connected first (W2), late joins (W5), filtering (W6),
the task the POST returned (Q5), who closes (W7); pong and heartbeat count as activity only.

A subscription may carry several tasks, kept by task id in `tasks`.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..events import StreamClosed, WsMessage
from .base import TERMINAL_TYPES, StreamValidator, TaskState, _parse_json_leniently


class WsStreamValidator(StreamValidator, transport="ws"):
    """Validates one WebSocket subscription (`StreamValidator(Expectation("ws", ...))` builds one)."""

    _message_kind = WsMessage

    def __post_init__(self) -> None:
        super().__post_init__()
        self._connected_seen = False

    # -- messages -----------------------------------------------------------------------

    def _message(self, message: WsMessage) -> None:
        index = self.events
        first = index == 1
        assert self.schemas is not None
        if message.text is None:
            self._report(
                "M1",
                "binary frame: messages are JSON text",
                received=f"{len(message.binary or b'')} bytes",
                expected="a JSON text frame",
                at=message.at,
                index=index,
            )
            return
        try:
            payload = orjson.loads(message.text)
        except orjson.JSONDecodeError:
            payload = _parse_json_leniently(message.text)
        if not isinstance(payload, dict):
            self._report(
                "M1",
                "message is not a JSON object",
                received=message.text,
                expected="a JSON object with a type field",
                at=message.at,
                index=index,
            )
            return
        kind = payload.get("type")
        if first and kind != "connected":
            self._report(
                "W2",
                "the first message is not connected",
                received=f"type {kind!r}",
                expected="type 'connected' first",
                at=message.at,
                index=index,
            )
        message_type = self._types.get(kind) if isinstance(kind, str) else None
        if message_type is None:
            if kind not in self.expect.allowed_types:
                self._report(
                    "M1",
                    "unknown message type",
                    received=f"type {kind!r}",
                    expected="type " + " | ".join(self.schemas.types),
                    at=message.at,
                    index=index,
                )
            return
        problem = None if message_type.validator.is_valid(payload) else message_type.first_error(payload)
        if problem is not None:
            task_id = payload.get("task_id")
            if isinstance(task_id, str) and task_id in self.tasks:
                self._malformed(self.tasks[task_id], kind, kind, message.at)
            elif not isinstance(task_id, str) and len(self.expect.task_ids) == 1:
                # A message without its task_id: most likely about the task we follow.
                self._malformed(self._task(next(iter(self.expect.task_ids))), kind, kind, message.at)
            self._report(
                "M1",
                f"{kind} message does not match its schema: {problem}",
                received=message.text,
                expected=f"asyncapi.yaml {message_type.pointer}",
                at=message.at,
                index=index,
            )
            if kind in ("token", "done", "error") and not isinstance(task_id, str):
                # Q5 asks for the task_id on every message about a task: name it, not only the schema.
                self._report(
                    "Q5",
                    f"a {kind} message carries no task_id",
                    received=message.text,
                    expected=f"task_id {' or '.join(sorted(self.expect.task_ids)) or 'of the task'}",
                    at=message.at,
                    index=index,
                )
            return
        if kind == "connected":
            self._connected(payload, message.at, index, first)
            return
        if kind not in ("token", "done", "error"):
            return  # pong, heartbeat: activity only
        task_id = payload["task_id"]
        if self.expect.task_filter is not None and task_id != self.expect.task_filter:
            self._report(
                "W6",
                "a message of another task on a socket filtered by task_id",
                received=f"task_id {task_id}",
                expected=f"only task_id {self.expect.task_filter}",
                at=message.at,
                index=index,
                task_id=task_id,
            )
            return
        state = self.tasks.get(task_id) or self._task(task_id)
        if self.expect.late_join and self.expect.task_ended and task_id in self.expect.task_ids:
            self._check_ended_task_replay(state, kind, message.at, index, task_id)
        self._task_message(state, task_id, kind, payload, message.at, index)

    def _connected(self, payload: dict[str, Any], at: float, index: int, first: bool) -> None:
        if self._connected_seen or not first:
            self._report(
                "Q1",
                "connected arrived again or late: it opens the subscription once",
                received=f"connected as message #{index}",
                expected="connected once, as the first message",
                at=at,
                index=index,
            )
        self._connected_seen = True
        wanted = (self.expect.project_id, self.expect.stage_name)
        got = (payload.get("project_id"), payload.get("stage_name"))
        if (wanted[0] is not None and got[0] != wanted[0]) or (wanted[1] is not None and got[1] != wanted[1]):
            self._report(
                "W6",
                "connected names another project or stage than the socket's",
                received=f"project_id {got[0]}, stage_name {got[1]}",
                expected=f"project_id {wanted[0]}, stage_name {wanted[1]}",
                at=at,
                index=index,
            )

    def _check_ended_task_replay(self, state: TaskState, kind: str, at: float, index: int, task_id: str) -> None:
        # W5: after the task ended, its terminal event comes right after connected.
        if state.messages == 0 and kind not in TERMINAL_TYPES:
            self._report(
                "W5",
                "late subscriber to an ended task got a token instead of the terminal event",
                received=f"{kind} first",
                expected="the task's done/error right after connected",
                at=at,
                index=index,
                task_id=task_id,
            )
            state.resync = True

    # -- close and end of subscription --------------------------------------------------

    def _closed_by_server(self, event: StreamClosed) -> None:
        primary = self.primary
        if primary.terminal is not None:
            self._report(
                "W7",
                "the server closed the socket after a terminal event",
                received=f"close {event.code} {event.reason!r}".strip(),
                expected="the socket stays open; the client closes it",
                at=event.at,
            )

    def _finish_stream(self, at: float) -> None:
        if self.events and not self._connected_seen and not any(v.rule == "W2" for v in self.violations):
            self._report("W2", "connected never arrived", expected="type 'connected' first", at=at)
        foreign = sorted(t for t in self.tasks if t not in self.expect.task_ids)
        for task_id in sorted(self.expect.task_ids):
            state = self.tasks.get(task_id)
            if state is not None and state.terminal is not None:
                continue
            end = self.closed_at if self.closed_at is not None else at
            if state is None and foreign and self.expect.task_filter is None:
                self._report(
                    "Q5",
                    "no message named the task the POST returned",
                    received=f"messages for task_id {', '.join(foreign[:3])}",
                    expected=f"task_id {task_id} on every message about the task",
                    at=end,
                    task_id=task_id,
                )
            elif self.expect.late_join:
                self._report(
                    "W5",
                    "late subscriber never reached the task's terminal event",
                    received=f"{state.tokens if state else 0} tokens, no done/error",
                    expected="snapshot then live tokens, or the terminal event of an ended task",
                    at=end,
                    task_id=task_id,
                )
            else:
                how = "the socket closed" if self.closed_at is not None else "the client stopped reading"
                self._report(
                    "Q1",
                    f"incomplete stream: {how} before the task's terminal event",
                    received=f"{state.tokens if state else 0} tokens, no done/error",
                    expected="token* then exactly one done or error",
                    at=end,
                    task_id=task_id,
                )
