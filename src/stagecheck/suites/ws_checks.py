"""WebSocket flow (W1-W7, Q5): the seed's client sequence and the channel's edge cases."""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio
import orjson

from stagecheck.contracts import http_rules as rules
from stagecheck.contracts.events import StreamClosed, WsMessage, WsOpened
from stagecheck.contracts.violations import Violation
from stagecheck.results.contract_results import CheckOutcome
from stagecheck.transports.ws_async import WsSubscription

from .context import Exchange, SocketRun, SuiteContext, TaskTiming, close_detail, is_message, is_terminal_of
from .http_checks import start_task
from .inputs import CORPUS
from .options import STAGES

WS_STREAM_RULES = ("M1", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "W2", "W6")
PONG_WITHIN_S = 1.0  # W3
STAYS_OPEN_S = 1.0  # W7: how long after the terminal event the socket is watched
QUIET_S = 0.3  # isolation: how long an unrelated socket is watched for stray messages
# W5's snapshot: a late join aims at the middle of the measured production window (first token
# to terminal); the window must exceed the socket's measured connect time by this much.
LATE_JOIN_MARGIN_S = 0.010


def _task_id(ctx: SuiteContext, outcome: CheckOutcome, exchange: Exchange) -> str | None:
    return ctx.accepted_task_id(outcome, exchange, _stage_of(exchange))


def _stage_of(exchange: Exchange) -> str:
    body = orjson.loads(exchange.request.body or "{}")
    return str(body.get("stage_name", "rewrite"))


async def _ping(ctx: SuiteContext, sub: WsSubscription, run: SocketRun) -> list[Violation]:
    """W3: a ping is answered by a pong within 1 s (other messages may come in between)."""
    sent_at = ctx.clock()
    run.sent.append('{"type":"ping"}')
    await sub.send_json({"type": "ping"})

    def is_pong(event: object) -> bool:
        return isinstance(event, WsMessage) and event.text is not None and '"pong"' in event.text

    await ctx.read(
        sub,
        run,
        until=lambda e: is_pong(e) or isinstance(e, StreamClosed),
        idle_timeout_s=PONG_WITHIN_S + 1,
        total_s=PONG_WITHIN_S + 1,
    )
    pong = next((e for e in run.events if is_pong(e) and e.at >= sent_at), None)
    if pong is None:
        return [
            Violation(
                "W3", "no pong to a ping", f"nothing in {PONG_WITHIN_S + 1:g} s", "pong within 1 s", at=ctx.clock()
            )
        ]
    if pong.at - sent_at > PONG_WITHIN_S:
        return [Violation("W3", "pong too late", f"{pong.at - sent_at:.3f} s", "pong within 1 s", at=pong.at)]
    return []


def ended_before_connected(run: SocketRun) -> list[Violation]:
    """W2 (or Q6 for silence): a socket that ended before its `connected` message, the rules core silent on it.

    The rules core reports a subscription whose messages lack `connected`; a socket that closed
    (or said nothing) before any message is the check's to name, since nothing arrived to judge.
    """
    if any(m.get("type") == "connected" for m in run.messages()):
        return []
    if any(v.rule in ("W2", "Q6") for v in run.validator.violations):
        return []
    closed = run.closed
    if closed is None:
        return []
    opened = any(isinstance(e, WsOpened) for e in run.events)
    if not opened:
        return [
            Violation(
                "W2",
                "the socket of an existing project and stage was not accepted",
                closed.error or "handshake rejected",
                "the socket accepted, then connected as the first message",
                at=closed.at,
            )
        ]
    if not closed.by_client:
        return [
            Violation(
                "W2",
                "the server closed the socket before sending connected",
                f"close {closed.code} {closed.reason!r}".strip() if closed.code is not None else close_detail(closed),
                "connected as the first message after the socket is accepted",
                at=closed.at,
            )
        ]
    if closed.error:
        return [
            Violation(
                "Q6",
                "the socket stayed silent: connected never arrived",
                closed.error,
                "connected as the first message, within the bounds",
                at=closed.at,
            )
        ]
    return []


async def check_ws_subscribe_first(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """Socket open before the POST: the whole task from its start (Q1-Q5, M1, W2), W3, then W7."""
    project = ctx.options.project_ids[0]
    for number, stage in enumerate(STAGES[: ctx.options.profile.stages]):
        text = CORPUS[number % len(CORPUS)]
        url = ctx.options.socket_url(project, stage)
        async with ctx.subscribe(url) as sub:
            run = ctx.socket_run(url, ctx.ws_expectation(project, stage, input_text=text))
            await ctx.read(sub, run, until=is_message)
            if sub.ended is not None:
                run.validator.finish(ctx.clock())
                ctx.report_socket(outcome, run, run.validator.violations + ended_before_connected(run))
                outcome.exercise("ws", "W2", "Q6")
                break  # every socket of this target would end the same way
            task_id = _task_id(ctx, outcome, await start_task(ctx, project, stage, text))
            if task_id is None:
                continue
            run.validator.expect = ctx.ws_expectation(project, stage, {task_id}, input_text=text)
            await ctx.read(sub, run, until=is_terminal_of({task_id}))
            if sub.ended is None and number == 0:
                # W7: the socket stays open after the terminal event.
                await ctx.quiet_for(sub, run, STAYS_OPEN_S)
                outcome.exercise("ws", "W7")
        run.validator.finish(ctx.clock())
        ctx.report_socket(outcome, run)
        outcome.exercise("ws", *WS_STREAM_RULES)


async def check_ws_ping(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """W3: a client ping gets a pong within 1 s."""
    project = ctx.options.project_ids[0]
    url = ctx.options.socket_url(project, "rewrite")
    async with ctx.subscribe(url) as sub:
        run = ctx.socket_run(url, ctx.ws_expectation(project, "rewrite"))
        await ctx.read(sub, run, until=is_message)
        ended_early = sub.ended is not None
        found = await _ping(ctx, sub, run) if not ended_early else []
    run.validator.finish(ctx.clock())
    if ended_early:
        found = ended_before_connected(run)
        outcome.skip("ws", "the socket ended before connected: no ping could be sent", "W3")
    ctx.report_socket(outcome, run, found + run.validator.violations)
    outcome.exercise("ws", "W2", *(() if ended_early else ("W3",)))


def late_join_delay(timing: TaskTiming | None) -> tuple[float | None, str]:
    """Seconds after the 202 at which to start opening a socket so that it lands mid-task; None and why not."""
    if timing is None or timing.duration_s is None:
        return None, "the target's task length could not be measured (no task reached its end)"
    if timing.tokens < 2 or timing.producing_s < timing.connect_s + LATE_JOIN_MARGIN_S:
        return None, f"{timing.describe()}, too short to join late (a socket takes {timing.connect_s * 1000:.0f} ms)"
    assert timing.first_token_s is not None
    middle = timing.first_token_s + timing.producing_s / 2
    return max(0.0, middle - timing.connect_s), ""


def _joined_mid_task(run: SocketRun, task_id: str, produced_since: float) -> bool:
    """The socket opened after the task's first token was produced and got a token (the snapshot) first."""
    opened = next((e.at for e in run.events if isinstance(e, WsOpened)), None)
    first = next((m for m in run.messages() if m.get("task_id") == task_id), None)
    return opened is not None and opened >= produced_since and first is not None and first.get("type") == "token"


async def check_ws_seed_flow(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """The seed's client: POST, then open the socket, then follow to the terminal event (W5, Q5).

    The socket is opened in the middle of the task, timed from a measured run of the same input
    (never from a pacing asked for), so that W5's snapshot is really exercised.
    """
    project = ctx.options.project_ids[0]
    for text in CORPUS[:2]:
        timing = await ctx.task_timing(outcome, project, "rewrite", text)
        delay, why_not = late_join_delay(timing)
        exchange = await start_task(ctx, project, "rewrite", text)
        task_id = _task_id(ctx, outcome, exchange)
        if task_id is None:
            continue
        if delay is not None:
            await anyio.sleep(max(0.0, exchange.ended + delay - ctx.clock()))
        url = ctx.options.socket_url(project, "rewrite")
        async with ctx.subscribe(url) as sub:
            run = ctx.socket_run(
                url, ctx.ws_expectation(project, "rewrite", {task_id}, late_join=True, input_text=text)
            )
            await ctx.read(sub, run, until=is_terminal_of({task_id}))
        run.validator.finish(ctx.clock())
        ctx.report_socket(outcome, run)
        outcome.exercise("ws", *WS_STREAM_RULES)
        if delay is None:
            outcome.skip("ws", why_not, "W5")
        elif timing is not None and _joined_mid_task(run, task_id, exchange.ended + (timing.first_token_s or 0.0)):
            outcome.exercise("ws", "W5")
        else:
            outcome.skip("ws", f"the late join aimed at the middle of the task missed it ({why_not or 'timing'})", "W5")


async def _wait_until_ended(ctx: SuiteContext, project: int, task_id: str) -> bool:
    """Poll task-status until the task ended (bounded by the idle bound)."""
    import anyio

    deadline = ctx.clock() + ctx.options.idle_timeout_s + ctx.options.first_event_timeout_s
    while ctx.clock() < deadline:
        exchange = await ctx.http("GET", ctx.options.status_url(project), params={"task_id": task_id})
        payload = exchange.json
        if isinstance(payload, dict) and payload.get("status") in ("SUCCESS", "FAILURE", "REVOKED"):
            return True
        await anyio.sleep(0.05)
    return False


async def check_ws_late_after_end(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """W5: a socket opened after the task ended gets its terminal event right after connected."""
    project = ctx.options.project_ids[0]
    task_id = _task_id(ctx, outcome, await start_task(ctx, project, "rewrite", "late subscriber"))
    if task_id is None:
        return
    if not await _wait_until_ended(ctx, project, task_id):
        outcome.skip("ws", "task-status never reported the task ended; W5 after the end not observed", "W5")
        return
    url = ctx.options.socket_url(project, "rewrite")
    async with ctx.subscribe(url) as sub:
        run = ctx.socket_run(url, ctx.ws_expectation(project, "rewrite", {task_id}, late_join=True, task_ended=True))
        await ctx.read(sub, run, until=is_terminal_of({task_id}))
    run.validator.finish(ctx.clock())
    ctx.report_socket(outcome, run)
    outcome.exercise("ws", "W5", "W2", "M1")


async def check_ws_two_tasks(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """W6 in every direction: tasks on both projects and two stages at once, a socket on each channel.

    Every channel (project x stage) has an unfiltered socket, open before any task starts, and
    a task of its own; each socket must hear its own channel's tasks and nothing of the others'.
    The first channel gets a second task and a `?task_id=` socket (opened before that second task
    starts), which must hear only the first task. No timing is assumed: every socket is open
    before the tasks it must (or must not) hear begin.
    """
    first, second = ctx.options.project_ids
    stage, other_stage = "rewrite", "storyboard"
    channels = [(first, stage), (second, stage), (first, other_stage), (second, other_stage)]
    home = channels[0]
    async with AsyncExitStack() as stack:
        subs: dict[tuple[int, str], WsSubscription] = {}
        runs: dict[tuple[int, str], SocketRun] = {}
        for project, name in channels:
            url = ctx.options.socket_url(project, name)
            subs[project, name] = await stack.enter_async_context(ctx.subscribe(url))
            runs[project, name] = ctx.socket_run(url, ctx.ws_expectation(project, name))
            await ctx.read(subs[project, name], runs[project, name], until=is_message)
        if any(sub.ended is not None for sub in subs.values()):
            for run in runs.values():
                run.validator.finish(ctx.clock())
                ctx.report_socket(outcome, run, run.validator.violations + ended_before_connected(run))
            outcome.skip("ws", "a socket of the isolation check ended before its tasks started", "W6")
            return
        one = _task_id(ctx, outcome, await start_task(ctx, first, stage, "task one"))
        if one is None:
            return
        tasks: dict[tuple[int, str], set[str]] = {home: {one}}
        # The filtered socket opens before the other tasks start, so that their messages are live
        # while it listens, however short the target's tasks are (no pacing asked for or assumed).
        filtered_url = ctx.options.socket_url(first, stage, task_id=one)
        filtered = await stack.enter_async_context(ctx.subscribe(filtered_url))
        filtered_run = ctx.socket_run(
            filtered_url, ctx.ws_expectation(first, stage, {one}, task_filter=one, late_join=True)
        )
        await ctx.read(filtered, filtered_run, until=is_message)
        # Task two on the first channel, and one task on each other channel, all at once.
        started = [(home, "task two"), *((channel, f"task of {channel[0]}/{channel[1]}") for channel in channels[1:])]
        for (project, name), text in started:
            task_id = _task_id(ctx, outcome, await start_task(ctx, project, name, text))
            if task_id is None:
                return
            tasks.setdefault((project, name), set()).add(task_id)
        for channel, run in runs.items():
            run.validator.expect = ctx.ws_expectation(*channel, tasks[channel])
        await ctx.read(filtered, filtered_run, until=is_terminal_of({one}))
        for channel in channels:
            await ctx.read(subs[channel], runs[channel], until=is_terminal_of(set(tasks[channel])))
        # Every task has ended now (each socket saw its own terminal events): whatever leaked is
        # already on its way, and a short quiet read on every socket collects it.
        async with anyio.create_task_group() as group:
            group.start_soon(ctx.quiet_for, filtered, filtered_run, QUIET_S)
            for channel in channels:
                group.start_soon(ctx.quiet_for, subs[channel], runs[channel], QUIET_S)
    filtered_run.validator.finish(ctx.clock())
    ctx.report_socket(outcome, filtered_run)
    for channel, run in runs.items():
        run.validator.finish(ctx.clock())
        found = list(run.validator.violations)
        foreign = {task_id: where for where, ids in tasks.items() if where != channel for task_id in ids}
        stray = [m for m in run.messages() if m.get("task_id") in foreign]
        if stray:
            where = foreign[str(stray[0]["task_id"])]
            other = "project" if where[1] == channel[1] else "stage" if where[0] == channel[0] else "project and stage"
            found.append(
                Violation(
                    "W6",
                    f"the socket of project {channel[0]}, stage {channel[1]} received messages of a task of "
                    f"another {other} (project {where[0]}, stage {where[1]})",
                    f"{len(stray)} messages, first {orjson.dumps(stray[0]).decode()[:200]}",
                    "only the messages of its own project and stage",
                )
            )
        ctx.report_socket(outcome, run, found)
    outcome.exercise("ws", "W6", "Q5", "Q1", "Q2")


async def check_ws_unknown(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """W1: an unknown stage or project is closed with 4404 and a reason."""
    first = ctx.options.project_ids[0]
    cases = (
        ("unknown stage", ctx.options.socket_url(first, "no_such_stage")),
        ("unknown project", ctx.options.socket_url(ctx.options.missing_project_id, "rewrite")),
    )
    for case, url in cases:
        async with ctx.subscribe(url) as sub:
            run = ctx.socket_run(url, ctx.ws_expectation(first, "rewrite"))
            await ctx.read(sub, run, until=lambda e: isinstance(e, StreamClosed), idle_timeout_s=5, total_s=10)
        closed = run.closed
        code = None if closed is None or closed.by_client else closed.code
        ctx.report_socket(
            outcome,
            run,
            rules.check_close("W1", case, code, closed.reason if closed else "", (4404,), close_detail(closed)),
        )
    outcome.exercise("ws", "W1")


async def check_ws_bad_frames(ctx: SuiteContext, outcome: CheckOutcome) -> None:
    """W4: bad client frames close only that socket (1008/1003); the others and the task go on."""
    project = ctx.options.project_ids[0]
    url = ctx.options.socket_url(project, "rewrite")
    frames: tuple[tuple[str, str | bytes, tuple[int, ...]], ...] = (
        ("text that is not JSON", "this is not json", (1008,)),
        ("unknown message type", '{"type": "make_coffee"}', (1008,)),
        ("binary frame", b"\x00\x01binary", (1003,)),
    )
    async with ctx.subscribe(url) as watcher:
        watch = ctx.socket_run(url, ctx.ws_expectation(project, "rewrite"))
        await ctx.read(watcher, watch, until=is_message)
        # The bad sockets open first; the task starts; then every bad frame goes out at once, so
        # they land while the task runs without asking the target for a pacing.
        async with AsyncExitStack() as stack:
            bad: list[tuple[str, str | bytes, tuple[int, ...], WsSubscription, SocketRun]] = []
            for case, frame, codes in frames:
                sub = await stack.enter_async_context(ctx.subscribe(url))
                run = ctx.socket_run(url, ctx.ws_expectation(project, "rewrite"))
                await ctx.read(sub, run, until=is_message, idle_timeout_s=5, total_s=5)
                bad.append((case, frame, codes, sub, run))
            task_id = _task_id(ctx, outcome, await start_task(ctx, project, "rewrite", "keep going"))
            if task_id is None:
                return
            watch.validator.expect = ctx.ws_expectation(project, "rewrite", {task_id})
            for _, frame, _, sub, run in bad:
                run.sent.append(frame if isinstance(frame, str) else repr(frame))
                if isinstance(frame, str):
                    await sub.send_text(frame)
                else:
                    await sub.send_bytes(frame)
            for case, _, codes, sub, run in bad:
                await ctx.read(sub, run, until=lambda e: isinstance(e, StreamClosed), idle_timeout_s=3, total_s=5)
                closed = run.closed
                code = None if closed is None or closed.by_client else closed.code
                ctx.report_socket(
                    outcome,
                    run,
                    rules.check_close("W4", case, code, closed.reason if closed else "", codes, close_detail(closed)),
                )
        await ctx.read(watcher, watch, until=is_terminal_of({task_id}))
        if watcher.ended is None:
            pong = await _ping(ctx, watcher, watch)
            if pong:
                ctx.report_socket(
                    outcome,
                    watch,
                    [
                        Violation(
                            "W4",
                            "another socket stopped answering after bad frames",
                            pong[0].received,
                            "other sockets unaffected",
                        )
                    ],
                )
    watch.validator.finish(ctx.clock())
    found = list(watch.validator.violations)
    if watch.terminal(task_id) is None:
        found.append(
            Violation(
                "W4",
                "the task did not reach its terminal event after bad frames on other sockets",
                f"{len(watch.messages())} messages",
                "the task goes on",
            )
        )
    ctx.report_socket(outcome, watch, found)
    outcome.exercise("ws", "W4")
