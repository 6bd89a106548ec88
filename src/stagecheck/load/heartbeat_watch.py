"""The client-side detector the heartbeat probe predicts for: notice a silent server within a bound.

`watch_for_silence` opens what the probe measured (the idle socket, or an SSE stream) and
ends when the server has said nothing for `result.notice_silent_s`: heartbeats and pongs
(WebSocket) or any line (SSE) count as signs of life. Where the bound rests on the client's
own pings (`notice_basis == "ping"`), it pings at the probe's period. The watch is bounded
by `limit_s`: a server that stays alive that long was not found silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import cast

import httpx

from stagecheck.contracts.events import (
    ResponseHead,
    SseComment,
    SseEvent,
    StreamClosed,
    StreamEvent,
    WsMessage,
    WsOpened,
)
from stagecheck.errors import ConfigError
from stagecheck.results.heartbeat_results import HeartbeatResult
from stagecheck.transports import sse_sync
from stagecheck.transports.failures import idle_timeout_text, read_timeout_text
from stagecheck.transports.ws_follow import follow_socket

from .config import StreamSettings
from .heartbeat import channel_url
from .heartbeat_legs import PING


@dataclass(frozen=True, slots=True)
class SilenceWatch:
    """What the detector saw: whether it noticed silence, and how long after the last sign of life."""

    noticed: bool
    bound_s: float
    after_s: float | None = None  # the server's last sign of life -> noticed; None when not noticed
    watched_s: float = 0.0
    detail: str = ""


def watch_for_silence(
    settings: StreamSettings,
    result: HeartbeatResult,
    *,
    limit_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> SilenceWatch:
    """Watch `result.mode` with the bound `result.notice_silent_s` for at most `limit_s` seconds."""
    bound = result.notice_silent_s
    if bound is None or result.not_run is not None:
        raise ConfigError(
            f"heartbeat watch: the {result.mode} probe derived no bound to watch with ({result.notice_how})"
        )
    if not limit_s > 0:
        raise ConfigError(f"heartbeat watch: the limit must be more than 0 s, got {limit_s:g}")
    if result.mode == "ws":
        period = result.ping_period_s if result.notice_basis == "ping" else None
        return _watch_socket(settings, bound, period, limit_s, clock)
    return _watch_stream(settings, bound, limit_s, clock)


def _watch_socket(
    settings: StreamSettings, bound: float, period: float | None, limit_s: float, clock: Callable[[], float]
) -> SilenceWatch:
    started = clock()
    next_ping = [started]

    def sends(now: float) -> tuple[Sequence[str], float | None]:
        if period is None:
            return (), None
        if now < next_ping[0]:
            return (), next_ping[0]
        next_ping[0] = now + period
        return (PING,), next_ping[0]

    last: float | None = None
    closed: StreamClosed | None = None
    for event in follow_socket(
        channel_url(settings),
        open_timeout=min(settings.read_timeout_s, limit_s),
        idle_timeout_s=bound,
        deadline=started + limit_s,
        total_timeout_s=limit_s,
        clock=clock,
        until=lambda _event: False,
        sends=sends,
    ):
        if isinstance(event, (WsOpened, WsMessage)):
            last = event.at
            if isinstance(event, WsOpened):
                next_ping[0] = event.at + (period or 0.0)
        elif isinstance(event, StreamClosed):
            closed = event
    return _verdict(bound, closed, last, idle_timeout_text(bound), started, clock)


def _watch_stream(settings: StreamSettings, bound: float, limit_s: float, clock: Callable[[], float]) -> SilenceWatch:
    started = clock()
    last: float | None = None
    closed: StreamClosed | None = None
    with httpx.Client(timeout=httpx.Timeout(settings.read_timeout_s), trust_env=False) as client:
        events = cast(
            "Generator[StreamEvent, None, None]",
            sse_sync.stream_sse(
                client,
                settings.execute_url,
                json=settings.body(streaming=True),
                headers=settings.headers(),
                idle_timeout_s=bound,
                total_timeout=limit_s,
                clock=clock,
            ),
        )
        with closing(events):
            for event in events:
                if isinstance(event, (ResponseHead, SseEvent, SseComment)):
                    last = event.at
                elif isinstance(event, StreamClosed):
                    closed = event
    return _verdict(bound, closed, last, read_timeout_text(bound), started, clock)


def _verdict(
    bound: float,
    closed: StreamClosed | None,
    last: float | None,
    idle_text: str,
    started: float,
    clock: Callable[[], float],
) -> SilenceWatch:
    watched = clock() - started
    if closed is not None and closed.by_client and closed.error == idle_text and last is not None:
        after = closed.at - last
        return SilenceWatch(True, bound, round(after, 3), round(watched, 3), f"nothing for {after:.2f} s")
    if closed is not None and not closed.by_client:
        how = closed.error or f"close {closed.code} {closed.reason!r}".strip()
        return SilenceWatch(False, bound, None, round(watched, 3), f"the server ended the connection ({how})")
    return SilenceWatch(False, bound, None, round(watched, 3), "the server kept showing signs of life")
