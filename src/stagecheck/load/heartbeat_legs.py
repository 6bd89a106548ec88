"""The heartbeat probe's observations: an idle socket held and pinged, an SSE stream read.

Each observation feeds every event to the rules core and keeps what the server sent, with
its arrival times; `heartbeat.py` turns them into figures. Plain blocking code over the sync
transports, every wait bounded.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import cast

import httpx

from stagecheck.contracts.events import ResponseHead, SseComment, SseEvent, StreamClosed, StreamEvent, WsMessage
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.contracts.violations import Violation
from stagecheck.transports import sse_sync
from stagecheck.transports.ws_follow import follow_socket

from .config import StreamSettings

Clock = Callable[[], float]

PONG_WITHIN_S = 1.0  # W3
PING = json.dumps({"type": "ping"})
# A comment line is a keep-alive when it ends a silence at least this long: one sent with
# other traffic (e.g. a ": stream open" right after the head) tells nothing of idle time.
KEEPALIVE_MIN_GAP_S = 0.05


def _message_type(text: str | None) -> str | None:
    try:
        payload = json.loads(text) if text is not None else None
    except ValueError:
        return None
    kind = payload.get("type") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None


@dataclass
class SocketHold:
    """An idle socket (no task) held open and pinged; times on the probe's clock."""

    opened_at: float | None = None
    connected_at: float | None = None
    heartbeats: list[float] = field(default_factory=list)
    received: list[float] = field(default_factory=list)  # every server message
    ping_times: list[float] = field(default_factory=list)
    pong_times: list[float] = field(default_factory=list)
    closed: StreamClosed | None = None
    ended_at: float = 0.0
    hold_s: float = 0.0
    validator: StreamValidator | None = None
    late: list[Violation] = field(default_factory=list)  # W3, judged here (a ping is no event)

    @property
    def ended_early(self) -> bool:
        """The server closed or broke the socket before the hold ended (the client ends it by its deadline)."""
        return self.closed is None or not self.closed.by_client

    def pong_rtts(self) -> list[float]:
        """Round trip of each answered ping: pongs are matched to pings in order."""
        return [pong - ping for ping, pong in zip(self.ping_times, self.pong_times, strict=False)]


def hold_socket(
    settings: StreamSettings, url: str, window_s: float, ping_offsets: Sequence[float], clock: Clock
) -> SocketHold:
    """Open `url`, ping at `ping_offsets` seconds after the handshake, read until the window (and W3) ends."""
    hold = SocketHold()
    # The last ping's W3 second fits in the hold.
    hold_s = hold.hold_s = max(window_s, (max(ping_offsets) if ping_offsets else 0.0) + PONG_WITHIN_S + 0.5)
    # Q6 has nothing to say of a socket with no task: heartbeats are optional, silence is allowed.
    bounds = Bounds(first_event_timeout_s=settings.read_timeout_s, idle_timeout_s=hold_s + settings.read_timeout_s)
    expectation = Expectation(transport="ws", project_id=settings.project_id, stage_name=settings.stage)
    validator = hold.validator = StreamValidator(expectation, bounds)
    due: list[float] = []

    def sends(now: float) -> tuple[Sequence[str], float | None]:
        if not due:
            return (), None
        count = sum(1 for at in due if at <= now)
        for _ in range(count):
            hold.ping_times.append(now)
            due.pop(0)
        return (PING,) * count, (due[0] if due else None)

    started = clock()
    for event in follow_socket(
        url,
        open_timeout=settings.read_timeout_s,
        idle_timeout_s=hold_s + settings.read_timeout_s,
        deadline=started + hold_s,  # the window starts with the connection attempt
        total_timeout_s=hold_s,
        clock=clock,
        until=lambda _event: False,
        sends=sends,
    ):
        validator.feed(event)
        if isinstance(event, StreamClosed):
            hold.closed = event
        elif isinstance(event, WsMessage):
            _take_message(hold, event)
        elif hold.opened_at is None:  # WsOpened
            hold.opened_at = event.at
            due.extend(event.at + offset for offset in sorted(ping_offsets))
    hold.ended_at = hold.closed.at if hold.closed is not None else clock()
    validator.finish(hold.ended_at)
    hold.late = _judge_pongs(hold)
    return hold


def _take_message(hold: SocketHold, event: WsMessage) -> None:
    hold.received.append(event.at)
    kind = _message_type(event.text)
    if kind == "heartbeat":
        hold.heartbeats.append(event.at)
    elif kind == "pong" and len(hold.pong_times) < len(hold.ping_times):
        hold.pong_times.append(event.at)
    elif kind == "connected" and hold.connected_at is None:
        hold.connected_at = event.at


def _judge_pongs(hold: SocketHold) -> list[Violation]:
    found: list[Violation] = []
    rtts = hold.pong_rtts()
    for number, sent_at in enumerate(hold.ping_times):
        if number < len(rtts):
            if rtts[number] > PONG_WITHIN_S:
                found.append(
                    Violation(
                        "W3",
                        "pong too late",
                        f"{rtts[number]:.3f} s after ping {number + 1}",
                        f"pong within {PONG_WITHIN_S:g} s",
                        at=hold.pong_times[number],
                    )
                )
        else:
            found.append(
                Violation(
                    "W3",
                    "no pong to a ping",
                    f"nothing in {hold.ended_at - sent_at:.3f} s after ping {number + 1}",
                    f"pong within {PONG_WITHIN_S:g} s",
                    at=hold.ended_at,
                )
            )
    return found


@dataclass
class SseRead:
    """One SSE answer as read: its head, the times of its lines, its keep-alives, the rules' view."""

    head: ResponseHead | None = None
    lines: list[float] = field(default_factory=list)  # head, events and comments, as they arrived
    comments: list[float] = field(default_factory=list)
    keepalive_gaps: list[float] = field(default_factory=list)  # silence each keep-alive ended
    first_event_at: float | None = None
    closed: StreamClosed | None = None
    validator: StreamValidator | None = None
    stopped_at_head: bool = False

    @property
    def longest_silence(self) -> float | None:
        gaps = [b - a for a, b in itertools.pairwise(self.lines)]
        return max(gaps) if gaps else None

    def violations(self) -> list[Violation]:
        """The rules' findings; a stream the client cut is not asked for completeness (S4)."""
        assert self.validator is not None
        cut = self.stopped_at_head or (self.closed is not None and self.closed.by_client)
        return [v for v in self.validator.violations if not (cut and v.rule == "S4" and "incomplete" in v.message)]


def read_sse(
    client: httpx.Client,
    settings: StreamSettings,
    *,
    prefer: str | None,
    idle_timeout_s: float,
    total_timeout_s: float,
    clock: Clock,
    keep_reading: Callable[[ResponseHead], bool] = lambda _head: True,
) -> SseRead:
    """POST with use_streaming true and read the answer; stop after the head when `keep_reading` says no."""
    read = SseRead()
    bounds = Bounds(first_event_timeout_s=idle_timeout_s, idle_timeout_s=idle_timeout_s)
    validator = read.validator = StreamValidator(Expectation(transport="sse"), bounds)
    headers = settings.headers()
    headers.pop("Prefer", None)
    if prefer:
        headers["Prefer"] = prefer
    events = cast(
        "Generator[StreamEvent, None, None]",
        sse_sync.stream_sse(
            client,
            settings.execute_url,
            json=settings.body(streaming=True),
            headers=headers,
            idle_timeout_s=idle_timeout_s,
            total_timeout=total_timeout_s,
            clock=clock,
        ),
    )
    with closing(events):
        for event in events:
            validator.feed(event)
            if _take_line(read, event) and read.head is not None and not keep_reading(read.head):
                read.stopped_at_head = True
                break
    validator.finish(read.closed.at if read.closed is not None else clock())
    return read


def _take_line(read: SseRead, event: StreamEvent) -> bool:
    """Note one event; True when it was the answer's head."""
    if isinstance(event, ResponseHead):
        read.head = event
        read.lines.append(event.at)
        return True
    if isinstance(event, SseComment):
        gap = event.at - read.lines[-1] if read.lines else 0.0
        read.comments.append(event.at)
        if gap >= KEEPALIVE_MIN_GAP_S:
            read.keepalive_gaps.append(gap)
        read.lines.append(event.at)
    elif isinstance(event, SseEvent):
        if read.first_event_at is None:
            read.first_event_at = event.at
        read.lines.append(event.at)
    elif isinstance(event, StreamClosed):
        read.closed = event
    return False
