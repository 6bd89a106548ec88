"""The reconnection probe: what a dropped connection costs in each mode, measured.

The migration guide calls reconnection "manual" in SSE mode and "automatic" with
WebSocket. Its frontend renders `outputText = data.full_text` on every token and on
done; recovery as that frontend would do it:

- SSE: the client drops the HTTP answer after k tokens and re-POSTs the same request
  (`use_streaming: true`): a new generation from the start;
- WebSocket: POST (202 + task_id), open the socket with `?task_id=`, drop it after k
  tokens (cut, no close frame), reopen it with the same `?task_id=`: by W5 it gets
  `connected`, a snapshot token (all text so far), live tokens and the terminal event,
  or the terminal event right after `connected` when the task ended meanwhile.

First one unbroken stream per mode (the reference): it gives the text to compare with,
the number of tokens (k is about a third of them, at least 1; fewer than 2 tokens and
the probe does not run) and the token pacing (the outage, the wait between the drop
and the reconnect, is two token gaps unless given, at most 1 s, so that the task moves
on while the client is away and a missing snapshot shows). Then `streams` streams are
dropped and recovered, concurrently, all inside `time_budget_s`.

Figures, per mode:
- time to recover: the reconnect (end of the outage) to the first token or terminal
  event on the new connection; p50 and max in ms, over recovered streams;
- tokens seen twice: tokens after the reconnect whose `full_text` is no longer than the
  longest text already shown (SSE's new generation repeats the first k; a W5 snapshot
  restates the text by design and is not counted);
- tokens never seen: text positions of the final text (done's `full_text`, or the
  unbroken run's when no done came) that no event delivered before the final text. A
  token delivers its `content`, a snapshot all of its `full_text`, an ended task's done
  replayed right after `connected` all of its text; an event whose `full_text` is not a
  prefix of the final text (a wrong snapshot) delivers nothing. Counted as the tokens of
  the unbroken run that hold an undelivered position;
- text matches: the final text equals the unbroken run's and nothing was left
  undelivered (the user read it as it came); final text matches: done's text alone;
- starts per answer: streams (SSE) or tasks (WS) the target started per recovered
  answer; with `target_pid`, the target's CPU (process tree) per recovered answer over
  the dropped streams' window (on a target in this process, the client's CPU counts too);
- rules: every connection is fed to the rules core; a connection the client cut is not
  asked for completeness (S4/Q1), a resumed socket is a late join (W5).
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from stagecheck.contracts.violations import Violation
from stagecheck.errors import ConfigError
from stagecheck.results.load_results import MODES, Mode
from stagecheck.results.reconnect_results import ReconnectResult

from .config import StreamSettings
from .process_sampler import ProcessSampler
from .reconnect_account import TextAccount, account
from .reconnect_legs import Leg, Plan, Run, dropped_and_resumed, unbroken

MAX_OUTAGE_S = 1.0
MAX_EXAMPLES = 5
MAX_THREADS = 8


def run_reconnect(
    settings: StreamSettings,
    mode: Mode,
    *,
    streams: int = 6,
    time_budget_s: float = 30.0,
    target_pid: int | None = None,
    outage_s: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ReconnectResult:
    """Drop and recover `streams` streams of `mode`; a result with `not_run` set when it cannot measure."""
    if mode not in MODES:
        raise ConfigError(f"reconnect: unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if streams < 1:
        raise ConfigError(f"reconnect: streams must be 1 or more, got {streams}")
    if time_budget_s <= 0:
        raise ConfigError(f"reconnect: the time budget must be more than 0 s, got {time_budget_s:g}")
    if outage_s is not None and outage_s < 0:
        raise ConfigError(f"reconnect: the outage must be 0 s or more, got {outage_s:g}")
    started = clock()
    plan = Plan(settings, mode, started + time_budget_s, clock)
    sampler = ProcessSampler(target_pid) if target_pid is not None else None  # a bad pid: ConfigError now
    timeout = httpx.Timeout(min(settings.read_timeout_s, time_budget_s))
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        reference = unbroken(client, plan)
        why = _not_runnable(reference, mode)
        if why is not None:
            return _not_run(mode, why, reference, clock() - started)
        drop_after = max(1, round(reference.tokens / 3))
        outage = outage_s if outage_s is not None else _outage(reference)
        if sampler is not None:
            sampler.start()
        with ThreadPoolExecutor(max_workers=min(streams, MAX_THREADS), thread_name_prefix="reconnect") as pool:
            runs = list(pool.map(lambda _: dropped_and_resumed(client, plan, drop_after, outage), range(streams)))
        cpu = sampler.stop() if sampler is not None else None
    result = _summarise(mode, reference, runs, drop_after, outage, clock() - started)
    if cpu is not None and result.recovered:
        result = _with_cpu(result, cpu.cpu_seconds * 1000.0 / result.recovered)
    return result


def _not_runnable(reference: Leg, mode: Mode) -> str | None:
    name = "SSE" if mode == "sse" else "WebSocket"
    if reference.terminal != "done":
        how = reference.failure or f"it ended with {reference.terminal}"
        return f"the unbroken {name} stream did not complete: {how}"
    if reference.tokens < 2:
        return f"the unbroken {name} stream showed {reference.tokens} token(s); a drop mid-way needs at least 2" + (
            " (the task ran ahead of the socket)" if mode == "ws" else ""
        )
    return None


def _outage(reference: Leg) -> float:
    times = reference.token_times
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return min(MAX_OUTAGE_S, 2.0 * statistics.median(gaps)) if gaps else 0.0


def _rules(legs: list[tuple[str, Leg]]) -> tuple[Counter[str], Counter[str], list[str]]:
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    examples: list[str] = []
    for where, leg in legs:
        if leg.failure:  # the measured reason first: the rules' view of it follows
            examples.append(f"{where}: {leg.failure}")
        found: list[Violation] = leg.validator.violations
        for violation in found:
            (errors if violation.severity == "error" else warnings)[violation.rule] += 1
            if violation.severity == "error":
                examples.append(f"{where}: {str(violation).splitlines()[0]}")
    return errors, warnings, examples


def _not_run(mode: Mode, why: str, reference: Leg, elapsed: float) -> ReconnectResult:
    errors, warnings, examples = _rules([("unbroken stream", reference)])
    return ReconnectResult(
        mode=mode,
        reference_tokens=reference.tokens,
        violations=dict(errors),
        warnings=dict(warnings),
        examples=tuple(dict.fromkeys(examples))[:MAX_EXAMPLES],
        not_run=why,
        elapsed_s=round(elapsed, 3),
    )


def _summarise(
    mode: Mode, reference: Leg, runs: list[Run], drop_after: int, outage: float, elapsed: float
) -> ReconnectResult:
    legs: list[tuple[str, Leg]] = [("unbroken stream", reference)]
    for number, run in enumerate(runs, 1):
        legs.append((f"stream {number}, before the drop", run.first))
        if run.second is not None:
            legs.append((f"stream {number}, after the reconnect", run.second))
    errors, warnings, examples = _rules(legs)
    texts = [e.full_text for e in reference.events if e.kind == "token"]
    dropped = [run for run in runs if run.second is not None]
    accounts: list[TextAccount] = [
        account(run.first.events, run.second.events if run.second else [], texts, resumed_socket=mode == "ws")
        for run in dropped
    ]
    recovered = [run for run in dropped if run.second is not None and run.second.terminal == "done"]
    waits = [
        (run.second.first_at - run.reconnect_at) * 1000.0
        for run in recovered
        if run.second is not None and run.second.first_at is not None and run.reconnect_at is not None
    ]
    starts = sum(run.starts for run in runs)
    not_run = None
    if not dropped:
        ended = [run.first.failure or f"ended with {run.first.terminal}" for run in runs]
        not_run = f"no stream lasted {drop_after} token(s) to be dropped ({ended[0]})"
    return ReconnectResult(
        mode=mode,
        streams=len(runs),
        dropped=len(dropped),
        recovered=len(recovered),
        drop_after_tokens=drop_after,
        reference_tokens=reference.tokens,
        outage_ms=round(outage * 1000.0, 1),
        recover_ms_p50=round(statistics.median(waits), 2) if waits else None,
        recover_ms_max=round(max(waits), 2) if waits else None,
        tokens_seen_twice=sum(a.seen_twice for a in accounts),
        tokens_never_seen=sum(a.never_seen for a in accounts),
        text_matches=sum(a.text_matches for a in accounts),
        final_text_matches=sum(a.final_matches for a in accounts),
        starts=starts,
        starts_per_answer=round(starts / len(recovered), 3) if recovered else None,
        violations=dict(sorted(errors.items())),
        warnings=dict(sorted(warnings.items())),
        examples=tuple(dict.fromkeys(examples))[:MAX_EXAMPLES],
        not_run=not_run,
        elapsed_s=round(elapsed, 3),
    )


def _with_cpu(result: ReconnectResult, cpu_ms: float) -> ReconnectResult:
    return dataclasses.replace(result, cpu_ms_per_answer=round(cpu_ms, 3))
