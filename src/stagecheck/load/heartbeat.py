"""The heartbeat probe: the server's signs of life on an idle connection, measured per mode.

The migration guide's table says "heartbeat: none" for SSE and "yes" for WebSocket. What
the probe does, within a bounded window (`window_s`, default 6 s):

- WebSocket: open `/ws/projects/{p}/stage/{s}/` with no task running and hold it for the
  window; send `PINGS` pings spread over it (every window / (PINGS + 1) s, the client's ping
  period). Heartbeat intervals: between consecutive `heartbeat` messages, the first counted
  from `connected` (the server's previous word); pong round trip: each ping to the pong that
  answers it (pongs matched to pings in order). Every message goes through the rules core (a
  malformed heartbeat is M1); W3 (a pong within 1 s) is judged here, since a ping the client
  sends is no event of the core's.
- SSE: no connection is idle without a task. One ordinary stream (POST, `use_streaming`
  true), then, when the target's `Preference-Applied` confirms `first-delay-ms`, one with a
  long first-token wait (half the window, at most 3 s); a target that does not confirm it
  gets its answer dropped after the head, and the reason is recorded. A comment line is a
  keep-alive when it ends at least 50 ms of silence (one right after the head is not); its
  interval is that silence. Longest silence: between any two lines received (head included).

How long a client needs to notice a silent server, derived from these figures (stated as
derived, `notice_how`), with a margin of a quarter (at least 0.25 s):
- WebSocket with heartbeats: the longest heartbeat interval seen (the end of the window
  after the last heartbeat included);
- WebSocket without: the client's ping period plus the longest pong round trip (none when a
  ping went unanswered: then nothing tells a silent server from a quiet one);
- SSE with keep-alives: the longest keep-alive interval (or the longest silence, if longer);
- SSE without: only the client's own idle bound (`read_timeout_s`), no signal from the server.
`heartbeat_watch.watch_for_silence` is the client-side detector that uses this bound.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable

import httpx

from stagecheck.contracts.events import ResponseHead
from stagecheck.contracts.violations import Violation
from stagecheck.errors import ConfigError, TargetUnreachable
from stagecheck.results.heartbeat_results import HeartbeatResult, NoticeBasis
from stagecheck.results.load_results import MODES, Mode
from stagecheck.transports.sse_reading import is_event_stream

from .config import StreamSettings
from .heartbeat_legs import SocketHold, SseRead, hold_socket, read_sse

PINGS = 3
LONG_WAIT_MAX_S = 3.0
NOTICE_MARGIN = 0.25  # of the measured bound
NOTICE_MARGIN_MIN_S = 0.25
MAX_EXAMPLES = 5


def run_heartbeat(
    settings: StreamSettings,
    mode: Mode,
    *,
    window_s: float = 6.0,
    clock: Callable[[], float] = time.perf_counter,
) -> HeartbeatResult:
    """Watch `mode` for heartbeats for about `window_s` seconds; `not_run` set when it cannot measure."""
    if mode not in MODES:
        raise ConfigError(f"heartbeat: unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if not window_s > 0:
        raise ConfigError(f"heartbeat: the window must be more than 0 s, got {window_s:g}")
    started = clock()
    try:
        result = _websocket(settings, window_s, clock) if mode == "ws" else _sse(settings, window_s, clock)
    except TargetUnreachable as exc:  # nothing answered: refused, or no connection in time
        result = HeartbeatResult(mode=mode, window_s=window_s, not_run=str(exc))
    return dataclasses.replace(result, elapsed_s=round(clock() - started, 3))


def channel_url(settings: StreamSettings) -> str:
    """The project and stage's socket, with no `?task_id=`: every task of the stage, none running."""
    url = f"{settings.ws_url.rstrip('/')}/ws/projects/{settings.project_id}/stage/{settings.stage}/"
    return url + (f"?token={settings.token}" if settings.token else "")


def with_margin(seconds: float) -> float:
    return seconds + max(NOTICE_MARGIN * seconds, NOTICE_MARGIN_MIN_S)


def _margin_text() -> str:
    return f"plus {NOTICE_MARGIN:.0%} (at least {NOTICE_MARGIN_MIN_S:g} s)"


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _p50(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _rules(found: Iterable[Violation]) -> tuple[dict[str, int], dict[str, int], tuple[str, ...]]:
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    examples: list[str] = []
    for violation in found:
        (errors if violation.severity == "error" else warnings)[violation.rule] += 1
        if violation.severity == "error":
            examples.append(str(violation).splitlines()[0])
    return dict(sorted(errors.items())), dict(sorted(warnings.items())), tuple(dict.fromkeys(examples))[:MAX_EXAMPLES]


# -- WebSocket ------------------------------------------------------------------------------


def _websocket(settings: StreamSettings, window_s: float, clock: Callable[[], float]) -> HeartbeatResult:
    period = window_s / (PINGS + 1)
    hold = hold_socket(settings, channel_url(settings), window_s, [period * (i + 1) for i in range(PINGS)], clock)
    assert hold.validator is not None
    errors, warnings, examples = _rules([*hold.validator.violations, *hold.late])
    anchor = hold.connected_at if hold.connected_at is not None else hold.opened_at
    beats = [anchor, *hold.heartbeats] if anchor is not None else hold.heartbeats
    intervals = [b - a for a, b in itertools.pairwise(beats)]
    marks = [t for t in (hold.opened_at, *hold.received, hold.ended_at) if t is not None]
    silences = [b - a for a, b in itertools.pairwise(marks)]
    rtts = hold.pong_rtts()
    notice, basis, how = _ws_notice(hold, intervals, period, rtts)
    return HeartbeatResult(
        mode="ws",
        window_s=round(hold.hold_s, 3),
        heartbeats=len(hold.heartbeats),
        interval_s_p50=_rounded(_p50(intervals) if hold.heartbeats else None),
        interval_s_max=_rounded(max(intervals) if hold.heartbeats and intervals else None),
        pings=len(hold.ping_times),
        pongs=len(rtts),
        ping_period_s=round(period, 3),
        pong_rtt_ms_p50=_rounded(statistics.median(rtts) * 1000.0 if rtts else None, 2),
        pong_rtt_ms_max=_rounded(max(rtts) * 1000.0 if rtts else None, 2),
        longest_silence_s=_rounded(max(silences) if silences and hold.opened_at is not None else None),
        notice_silent_s=_rounded(notice),
        notice_basis=basis,
        notice_how=how,
        violations=errors,
        warnings=warnings,
        examples=examples,
        not_run=_ws_not_run(hold),
    )


def _ws_not_run(hold: SocketHold) -> str | None:
    closed = hold.closed
    if hold.opened_at is None:
        return f"the socket was not opened: {closed.error if closed and closed.error else 'no handshake answer'}"
    if hold.ended_early and closed is not None:
        how = closed.error or f"close {closed.code} {closed.reason!r}".strip()
        return f"the server ended the idle socket {closed.at - hold.opened_at:.2f} s after it opened ({how})"
    return None


def _ws_notice(
    hold: SocketHold, intervals: list[float], period: float, rtts: list[float]
) -> tuple[float | None, NoticeBasis, str]:
    if hold.heartbeats:
        base = max([*intervals, hold.ended_at - hold.heartbeats[-1]])
        return (
            with_margin(base),
            "heartbeat",
            f"derived: the longest heartbeat interval seen ({base:.2f} s) {_margin_text()}",
        )
    if hold.ping_times and len(rtts) == len(hold.ping_times):
        base = period + max(rtts)
        return (
            with_margin(base),
            "ping",
            f"derived: no heartbeat, so the client's ping period ({period:.2f} s) plus the longest pong "
            f"round trip ({max(rtts) * 1000:.1f} ms), {_margin_text()}",
        )
    return None, "none", "no heartbeat and a ping went unanswered: nothing tells a silent server from a quiet one"


# -- SSE ------------------------------------------------------------------------------------


def _with_first_delay(prefer: str | None, delay_ms: int) -> str:
    """`prefer` with its first-delay-ms (if any) replaced by `delay_ms`."""
    parts = [p.strip() for p in (prefer or "").split(",") if p.strip()]
    kept = [p for p in parts if p.split("=", 1)[0].strip().lower() != "first-delay-ms"]
    return ", ".join([*kept, f"first-delay-ms={delay_ms}"])


def _confirmed_delay(head: ResponseHead, delay_ms: int) -> bool:
    for part in (head.header("preference-applied") or "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "first-delay-ms":
            try:
                return float(value.strip().strip('"')) == delay_ms
            except ValueError:
                return False
    return False


def _sse(settings: StreamSettings, window_s: float, clock: Callable[[], float]) -> HeartbeatResult:
    long_wait_s = min(LONG_WAIT_MAX_S, window_s / 2)
    delay_ms = round(long_wait_s * 1000)
    reads: list[SseRead] = []
    skipped: str | None = None
    with httpx.Client(timeout=httpx.Timeout(settings.read_timeout_s), trust_env=False) as client:
        ordinary = read_sse(
            client,
            settings,
            prefer=settings.prefer,
            idle_timeout_s=settings.read_timeout_s,
            total_timeout_s=min(settings.stream_timeout_s, window_s),
            clock=clock,
        )
        reads.append(ordinary)
        head = ordinary.head
        if head is None or head.status != 200 or not is_event_stream(head.header("content-type")):
            return _sse_result(reads, window_s, settings, None, None, _no_stream(ordinary))
        if delay_ms < 1:
            skipped = f"a {window_s:g} s window leaves no time for a long first wait"
        else:
            waited = read_sse(
                client,
                settings,
                prefer=_with_first_delay(settings.prefer, delay_ms),
                idle_timeout_s=long_wait_s + settings.read_timeout_s,
                total_timeout_s=long_wait_s + window_s / 2,
                clock=clock,
                keep_reading=lambda h: _confirmed_delay(h, delay_ms),
            )
            if waited.stopped_at_head:
                applied = waited.head.header("preference-applied") if waited.head is not None else None
                skipped = (
                    f"the target did not confirm first-delay-ms={delay_ms} "
                    f"(Preference-Applied: {applied or 'absent'}): no long first wait was observed"
                )
            else:
                reads.append(waited)
    return _sse_result(reads, window_s, settings, None if skipped else long_wait_s, skipped, None)


def _no_stream(read: SseRead) -> str:
    if read.head is None:
        why = read.closed.error if read.closed is not None and read.closed.error else "no answer"
        return f"the streaming POST got no answer: {why}"
    content_type = read.head.header("content-type") or "no content type"
    return f"the streaming POST was answered {read.head.status} {content_type}, not 200 text/event-stream"


def _sse_result(
    reads: list[SseRead],
    window_s: float,
    settings: StreamSettings,
    long_wait_s: float | None,
    skipped: str | None,
    not_run: str | None,
) -> HeartbeatResult:
    gaps = [g for r in reads for g in r.keepalive_gaps]
    silences = [s for s in (r.longest_silence for r in reads) if s is not None]
    longest = max(silences) if silences else None
    errors, warnings, examples = _rules(v for r in reads for v in r.violations())
    notice: float | None
    basis: NoticeBasis
    if not_run is not None:
        notice, basis, how = None, "none", ""
    elif gaps:
        base = max(gaps)
        what = f"the longest keep-alive interval ({base:.2f} s)"
        if longest is not None and longest > base:
            base = longest
            what = f"the longest silence on a stream with keep-alives ({base:.2f} s)"
        notice, basis, how = with_margin(base), "keep-alive", f"derived: {what} {_margin_text()}"
    else:
        seen = f"the longest silence was {longest:.2f} s" if longest is not None else "nothing was received"
        notice, basis = settings.read_timeout_s, "client-idle-bound"
        how = (
            f"no keep-alive comment ({seen}): only the client's own idle bound "
            f"({settings.read_timeout_s:g} s) notices a silent server"
        )
    return HeartbeatResult(
        mode="sse",
        window_s=window_s,
        heartbeats=len(gaps),
        comments=sum(len(r.comments) for r in reads),
        interval_s_p50=_rounded(_p50(gaps)),
        interval_s_max=_rounded(max(gaps) if gaps else None),
        longest_silence_s=_rounded(longest),
        long_wait_s=long_wait_s,
        long_wait_skipped=skipped,
        notice_silent_s=_rounded(notice),
        notice_basis=basis,
        notice_how=how,
        violations=errors,
        warnings=warnings,
        examples=examples,
        not_run=not_run,
    )
