"""The connections of the reconnection probe, each fed to the rules core: a `Leg` per connection.

`unbroken` reads one whole stream of a mode (the reference). `dropped_and_resumed` cuts a
stream after k tokens and recovers as the guide's frontend would: SSE re-POSTs the same
request, WebSocket reopens the socket with the same `?task_id=` (PROTOCOL W5). The
validator of a connection the client cut is never `finish`ed: the client ended it on
purpose, so S4/Q1 (incomplete stream) are not asked; every event it did get is judged.
Every wait is bounded by the settings' read timeout and by the probe's deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

from stagecheck.contracts.events import ResponseHead, SseEvent, StreamEvent, WsMessage
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.errors import StagecheckError
from stagecheck.results.load_results import Mode
from stagecheck.transports import http_sync, sse_sync
from stagecheck.transports.ws_follow import follow_socket

from .config import StreamSettings
from .reconnect_account import TextEvent

Clock = Callable[[], float]


@dataclass
class Leg:
    """One connection: what it showed, how the rules core judged it, how it ended."""

    validator: StreamValidator
    events: list[TextEvent] = field(default_factory=list)
    token_times: list[float] = field(default_factory=list)
    first_at: float | None = None  # first token or terminal event of the task
    terminal: str | None = None
    failure: str | None = None
    cut: bool = False  # the client cut it on purpose (its validator is not finished)
    accepted: bool = False  # SSE: the POST was answered 200 (the target started a stream)
    reached: bool = True  # False: nothing answered the connection (no stream to judge)

    @property
    def tokens(self) -> int:
        return len(self.token_times)

    def feed(self, event: StreamEvent, task_id: str | None) -> None:
        self.validator.feed(event)
        if isinstance(event, ResponseHead):
            self.accepted = event.status == 200
            if not self.accepted and self.failure is None:
                self.failure = f"execute-stage answered {event.status}, not an event stream"
        raw = event.data if isinstance(event, SseEvent) else event.text if isinstance(event, WsMessage) else None
        if raw is None or self.terminal is not None:
            return
        try:
            payload = json.loads(raw)
        except ValueError:
            return
        if not isinstance(payload, dict) or (task_id is not None and payload.get("task_id") != task_id):
            return
        kind, full_text, content = payload.get("type"), payload.get("full_text"), payload.get("content")
        if kind in ("token", "done", "error") and self.first_at is None:
            self.first_at = event.at
        if kind == "token" and isinstance(full_text, str) and isinstance(content, str):
            self.events.append(TextEvent("token", full_text, content))
            self.token_times.append(event.at)
        elif kind == "done" and isinstance(full_text, str):
            self.events.append(TextEvent("done", full_text))
            self.terminal = "done"
        elif kind in ("done", "error"):
            self.terminal = str(kind)


@dataclass
class Run:
    """A dropped stream and its recovery (`second` is None when there was nothing to drop)."""

    first: Leg
    second: Leg | None = None
    starts: int = 0  # POSTs the target accepted (SSE streams or WS tasks started)
    reconnect_at: float | None = None


@dataclass(frozen=True)
class Plan:
    settings: StreamSettings
    mode: Mode
    deadline: float
    clock: Clock = time.perf_counter


def _left(plan: Plan, wait: float) -> float:
    """`wait` capped by the time the probe has left (at least a millisecond, so a read can fail)."""
    return max(0.001, min(wait, plan.deadline - plan.clock()))


def _bounds(settings: StreamSettings) -> Bounds:
    return Bounds(first_event_timeout_s=settings.read_timeout_s, idle_timeout_s=settings.read_timeout_s)


def _sse_leg(client: httpx.Client, plan: Plan, stop_after: int | None) -> Leg:
    leg = Leg(StreamValidator(Expectation(transport="sse"), _bounds(plan.settings)))
    settings = plan.settings
    try:
        events = sse_sync.stream_sse(
            client,
            settings.execute_url,
            json=settings.body(streaming=True),
            headers=settings.headers(),
            idle_timeout_s=_left(plan, settings.read_timeout_s),
            total_timeout=_left(plan, settings.stream_timeout_s),
            clock=plan.clock,
        )
        try:
            for event in events:
                leg.feed(event, None)
                if stop_after is not None and leg.terminal is None and leg.tokens >= stop_after:
                    leg.cut = True
                    break
        finally:
            _close(events)  # closing the generator closes the response: the drop
    except StagecheckError as exc:  # refused, or no answer in time: nothing to judge
        leg.failure = str(exc)
        leg.reached = False
    return _finish(leg, plan)


def _close(events: Iterator[StreamEvent]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        close()


def _post_task(client: httpx.Client, plan: Plan) -> tuple[str | None, str | None]:
    """POST without streaming: (task_id, None), or (None, why not)."""
    settings = plan.settings
    try:
        answer = http_sync.request_json(
            client,
            "POST",
            settings.execute_url,
            json=settings.body(streaming=False),
            headers=settings.headers(),
            timeout=_left(plan, settings.read_timeout_s),
            clock=plan.clock,
        )
    except StagecheckError as exc:
        return None, str(exc)
    body = answer.json
    task_id = body.get("task_id") if isinstance(body, dict) else None
    if answer.status != 202 or not isinstance(task_id, str):
        return None, f"execute-stage answered {answer.status or answer.error}, expected 202 with a task_id"
    return task_id, None


def _ws_leg(plan: Plan, task_id: str, stop_after: int | None) -> Leg:
    settings = plan.settings
    expectation = Expectation(
        transport="ws",
        task_ids=frozenset({task_id}),
        project_id=settings.project_id,
        stage_name=settings.stage,
        task_filter=task_id,
        late_join=True,  # opened after the POST returned, or reopened: a W5 snapshot may come first
    )
    leg = Leg(StreamValidator(expectation, _bounds(settings)))

    def stop(_event: StreamEvent) -> bool:
        if leg.terminal is not None:
            return True
        if stop_after is not None and leg.tokens >= stop_after:
            leg.cut = True
            return True
        return False

    try:
        for event in follow_socket(
            settings.socket_url(task_id),
            open_timeout=_left(plan, settings.read_timeout_s),
            idle_timeout_s=_left(plan, settings.read_timeout_s),
            deadline=plan.deadline,
            total_timeout_s=_left(plan, settings.stream_timeout_s),
            clock=plan.clock,
            until=stop,  # checked after this loop has fed the event
            drop=stop_after is not None,
        ):
            leg.feed(event, task_id)
    except StagecheckError as exc:  # refused, or no answer in time: nothing to judge
        leg.failure = str(exc)
        leg.reached = False
    return _finish(leg, plan)


def _finish(leg: Leg, plan: Plan) -> Leg:
    if not leg.cut and leg.reached:
        leg.validator.finish(plan.clock())
        if leg.terminal is None and leg.failure is None:
            errors = leg.validator.errors
            leg.failure = str(errors[0]).splitlines()[0] if errors else "the connection ended without a terminal event"
    return leg


def unbroken(client: httpx.Client, plan: Plan) -> Leg:
    """One whole stream of the plan's mode, read to its terminal event."""
    if plan.mode == "sse":
        return _sse_leg(client, plan, None)
    task_id, why = _post_task(client, plan)
    if task_id is None:
        return Leg(StreamValidator(Expectation(transport="ws"), _bounds(plan.settings)), failure=why)
    return _ws_leg(plan, task_id, None)


def dropped_and_resumed(client: httpx.Client, plan: Plan, drop_after: int, outage_s: float) -> Run:
    """Cut a stream after `drop_after` tokens, wait `outage_s`, and recover as the guide's frontend would."""
    if plan.mode == "sse":
        first = _sse_leg(client, plan, drop_after)
        run = Run(first, starts=int(first.accepted))
        if first.cut:
            _outage(plan, outage_s, run)
            run.second = _sse_leg(client, plan, None)  # a new generation, from the start
            run.starts += int(run.second.accepted)
        return run
    task_id, why = _post_task(client, plan)
    if task_id is None:
        return Run(Leg(StreamValidator(Expectation(transport="ws"), _bounds(plan.settings)), failure=why))
    run = Run(_ws_leg(plan, task_id, drop_after), starts=1)
    if run.first.cut:  # else it ended (or failed) before k tokens: nothing to recover from
        _outage(plan, outage_s, run)
        run.second = _ws_leg(plan, task_id, None)  # the same task, resumed
    return run


def _outage(plan: Plan, outage_s: float, run: Run) -> None:
    """The client is away for `outage_s` (within the probe's time), then reconnects."""
    time.sleep(max(0.0, min(outage_s, plan.deadline - plan.clock())))
    run.reconnect_at = plan.clock()
