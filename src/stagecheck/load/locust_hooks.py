"""Locust event hooks: every stream into Locust's stats and into our HDR recorder.

Each stream is one Locust request entry (E2E as its response time, tokens as its
length, a failure naming the broken rule ids), so Locust's web UI and distributed mode
see the streams. The token-level figures stay in a `LevelRecorder` per process: workers
attach theirs, encoded, to every report to the master (`report_to_master`), the master
merges them (`worker_report`), and at quit the master (or the single local process)
writes the merged recorder to the `LevelOutput` file its `ChildEnvironment` names. Progress
goes to stdout as `wire` progress lines for the parent process to show.

Workers on other hosts (`stagecheck load-worker`, `ChildEnvironment.external` set on the
master) get the stream settings from the master in a `SETTINGS_MESSAGE` when they connect
(nothing of the master's environment reaches them). At the end of the level the master
sends `LEVEL_END_MESSAGE` (`sweep_over`: whether another level follows); each worker then
stops its users (in-flight streams finish), sends its final
report and quits, and the master waits for every worker's "quit" before it quits itself
(Locust's own `stop` would make a worker sleep through --stop-timeout, deaf to messages).
A worker that reaches a master already ending its level is told `GO_AWAY_MESSAGE`,
and one that hears no heartbeat from its master for `MASTER_GONE_S` quits: either way
`load-worker` starts a fresh one for the next level's master.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from typing import Any

import gevent
import locust.runners
from locust import events
from locust.runners import STATE_STOPPED, WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from stagecheck.results.load_results import Slo

from .metrics import LevelRecorder, StreamOutcome
from .wire import (
    GO_AWAY_MESSAGE,
    LEVEL_END_MESSAGE,
    SETTINGS_MESSAGE,
    ChildEnvironment,
    Connected,
    Done,
    GoAway,
    LevelEnd,
    LevelOutput,
    MasterGone,
    Message,
    ProgressReport,
    WindowEnd,
    WindowStart,
    Written,
    encode,
    sweep_over_marked,
)

PROGRESS_INTERVAL_S = 1.0
MASTER_GONE_S = 10.0  # a worker without a heartbeat from its master for this long quits

# What the parent process said, read once: the environment does not change while we run.
CHILD = ChildEnvironment.from_env()


class StreamProblem(Exception):
    """A stream that failed or broke rules, as Locust's failure table shows it (grouped by text)."""


RECORDER = LevelRecorder(CHILD.settings.slo if CHILD.settings is not None else Slo())
_window: dict[str, float | None] = {"start": None, "end": None}
_process: dict[str, Any] = {"worker": False, "environment": None, "streams": 0}
# External workers: the master is ending its level / has told its workers; a worker is quitting.
_process.update(ending=False, told=False, quitting=False)
_per_worker: Counter[str] = Counter()  # master: streams counted per worker (client id)
_remote: dict[str, Any] = {"settings": None, "heartbeat": 0.0}  # worker: what the master sent


def remote_settings() -> dict[str, Any] | None:
    """The stream settings an external worker received from its master (None elsewhere)."""
    return _remote["settings"]


if CHILD.connect_timeout_s is not None:
    # Locust sends client_ready every CONNECT_TIMEOUT (5) s and gives up after
    # CONNECT_RETRY_COUNT + 1 tries (5 min); the worker then exits without connecting.
    _tries = math.ceil(CHILD.connect_timeout_s / locust.runners.CONNECT_TIMEOUT)
    locust.runners.CONNECT_RETRY_COUNT = max(0, _tries - 1)


def emit(message: Message) -> None:
    """One progress line for the parent process (the master, a local process, or an external worker)."""
    sys.stdout.write(encode(message) + "\n")
    sys.stdout.flush()


def _is_worker(environment: Any) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def report_stream(environment: Any, mode: str, outcome: StreamOutcome, now: float) -> None:
    """Pool one finished stream and fire its Locust request entry."""
    if RECORDER.record(outcome):
        _process["streams"] += 1
    end = outcome.terminal_at if outcome.terminal_at is not None else now
    problems = list(outcome.violations)
    if outcome.terminal is None and outcome.failure:
        problems.append(outcome.failure)
    elif outcome.terminal is None:
        problems.append("incomplete")
    if outcome.terminal == "error":
        problems.append("task error")
    environment.events.request.fire(
        request_type=mode.upper(),
        name="execute-stage stream",
        response_time=(end - outcome.started_at) * 1000.0,
        response_length=outcome.tokens,
        exception=StreamProblem(", ".join(problems)) if problems else None,
        context={"mode": mode},
    )


def _external() -> bool:
    return CHILD.external


def _on_init(environment: Any, **_: Any) -> None:
    _process["worker"] = _is_worker(environment)
    _process["environment"] = environment
    runner = environment.runner
    if not _process["worker"]:
        gevent.spawn(_progress_loop, environment)
        if isinstance(runner, MasterRunner) and _external():
            environment.events.worker_connect.add_listener(_on_worker_connect)
            # Added after the MasterRunner's own quitting listener, so (fired in reverse) it runs first.
            environment.events.quitting.add_listener(_on_master_quitting)
        return
    # An external worker (`stagecheck load-worker`): it says it is connected, takes its
    # settings and the end of the level from the master, and watches the master's heartbeat.
    runner.register_message(SETTINGS_MESSAGE, _on_settings)
    runner.register_message(LEVEL_END_MESSAGE, _on_level_end)
    runner.register_message(GO_AWAY_MESSAGE, _on_go_away)
    environment.events.heartbeat_received.add_listener(_on_heartbeat)
    _remote["heartbeat"] = time.monotonic()
    emit(Connected(index=getattr(runner, "worker_index", None), client_id=runner.client_id))
    gevent.spawn(_worker_loop, environment)


# -- external workers: the master's side ------------------------------------------------


def _on_worker_connect(client_id: str, **_: Any) -> None:
    runner = _process["environment"].runner
    if _process["ending"]:
        runner.send_message(GO_AWAY_MESSAGE, None, client_id)  # this level is ending: try the next master
        return
    settings = CHILD.settings.to_json() if CHILD.settings is not None else None
    runner.send_message(SETTINGS_MESSAGE, {"settings": settings}, client_id)


def _sweep_over() -> bool:
    return CHILD.last is True or sweep_over_marked(CHILD.control)


def _tell_level_end(runner: Any) -> None:
    """Send every worker seen the end of the level (once)."""
    if _process["told"]:
        return
    _process["told"] = True
    _process["ending"] = True
    ids = {client.id for client in runner.clients.all} | set(_per_worker)
    for client_id in ids:
        runner.send_message(LEVEL_END_MESSAGE, {"sweep_over": _sweep_over()}, client_id)


def _end_level_external(runner: Any, quit_runner: bool = True) -> None:
    _mark_window_end()
    _tell_level_end(runner)
    # Each worker stops its users (streams in flight finish), reports, and quits.
    deadline = time.monotonic() + runner.environment.stop_timeout + 15
    while runner.worker_count > 0 and time.monotonic() < deadline:
        gevent.sleep(0.2)
    gevent.sleep(0.3)  # the last reports are handled before "quit" (same socket), but be generous
    if quit_runner:
        runner.quit()


def _on_master_quitting(environment: Any, **_: Any) -> None:
    # Stopped early (SIGTERM, --run-time): the workers still end their streams, report,
    # and learn whether to come back, before the MasterRunner's quit() sends them away.
    if not _process["told"]:
        _end_level_external(environment.runner, quit_runner=False)


# -- external workers: the worker's side ------------------------------------------------


def _on_settings(environment: Any, msg: Any, **_: Any) -> None:
    settings = msg.data["settings"]
    if settings:
        _remote["settings"] = settings
        RECORDER.slo = Slo(**settings["slo"])


def _on_level_end(environment: Any, msg: Any, **_: Any) -> None:
    emit(LevelEnd(sweep_over=bool(msg.data.get("sweep_over")), streams=_process["streams"]))
    gevent.spawn(_quit_worker, environment.runner)


def _on_go_away(environment: Any, msg: Any, **_: Any) -> None:
    emit(GoAway())
    gevent.spawn(_quit_worker, environment.runner)


def _on_heartbeat(**_: Any) -> None:
    _remote["heartbeat"] = time.monotonic()


def _quit_worker(runner: Any) -> None:
    # As Locust's own "quit" message does: stop the users (in-flight streams may finish
    # within --stop-timeout), send the final report, end the runner (the process exits).
    if _process["quitting"]:
        return
    _process["quitting"] = True
    runner.stop()
    runner._send_stats()
    runner.greenlet.kill(block=True)


def _worker_loop(environment: Any) -> None:
    while True:  # ends with the process (a daemon greenlet)
        gevent.sleep(PROGRESS_INTERVAL_S)
        runner = environment.runner
        if time.monotonic() - _remote["heartbeat"] > MASTER_GONE_S and not _process["quitting"]:
            emit(MasterGone())
            _quit_worker(runner)
            return
        emit(ProgressReport(users=runner.user_count, streams=_process["streams"]))


def _progress_loop(environment: Any) -> None:
    while True:  # ends with the process (a daemon greenlet)
        gevent.sleep(PROGRESS_INTERVAL_S)
        runner = environment.runner
        if runner is None:
            continue
        total = runner.stats.total
        emit(
            ProgressReport(
                state=runner.state,
                users=runner.user_count,
                streams=total.num_requests,
                failures=total.num_failures,
                workers=runner.worker_count if isinstance(runner, MasterRunner) else 0,
            )
        )


def _on_spawning_complete(user_count: int, **_: Any) -> None:
    # Streams are counted once every user runs: the level is held from here.
    now = time.perf_counter()
    RECORDER.window_start = now
    if _window["start"] is None and not _process["worker"]:
        _window["start"] = now
        emit(WindowStart(users=user_count))
        if CHILD.hold_s is not None:
            # The level is held for exactly this long after its ramp, however long the ramp took.
            gevent.spawn_later(CHILD.hold_s, _end_level)


def _end_level() -> None:
    environment = _process["environment"]
    runner = environment.runner if environment is not None else None
    if runner is None:
        return
    if isinstance(runner, MasterRunner) and _external():
        _end_level_external(runner)
        return
    if isinstance(runner, MasterRunner):
        # MasterRunner.quit() alone kills the workers' users mid-stream; stop() first lets
        # in-flight streams finish (--stop-timeout), as a local runner's quit() does.
        runner.stop()
        # A stopped worker sleeps through --stop-timeout before it reads "quit" (and sends its
        # final report), so wait for one more periodic report instead.
        gevent.sleep(WORKER_REPORT_INTERVAL + 0.5)
    runner.quit()


def _mark_window_end() -> None:
    if _window["end"] is None:
        _window["end"] = time.perf_counter()
        emit(WindowEnd())


def _on_test_stopping(environment: Any, **_: Any) -> None:
    if not _is_worker(environment):
        _mark_window_end()


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["stagecheck"] = RECORDER.take_wire()


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    wire = data.get("stagecheck")
    if wire:
        RECORDER.merge_wire(wire)
        _per_worker[client_id] += int(wire["counters"].get("streams", 0))


def _on_quitting(environment: Any, **_: Any) -> None:
    if _is_worker(environment):
        if _external():
            emit(Done(streams=_process["streams"]))
        return
    interrupted = _window["end"] is None
    runner = environment.runner
    if isinstance(runner, MasterRunner) and runner.state != STATE_STOPPED:
        # Interrupted (SIGTERM): stop the workers; quit() waits for their final reports.
        runner.quit()
    start, end = _window["start"], _window["end"] or time.perf_counter()
    result = LevelOutput(
        wire=RECORDER.to_wire(),
        window_s=0.0 if start is None else end - start,
        window_opened=start is not None,
        interrupted=interrupted,
        workers=len(runner.clients) if isinstance(runner, MasterRunner) else 0,
        per_worker=dict(_per_worker),
    )
    if CHILD.out is not None:
        with open(CHILD.out, "w", encoding="utf-8") as out:
            json.dump(result.to_json(), out)
    # The parent judges the level from the file; Locust's own failure exit code would only blur that.
    environment.process_exit_code = 0
    emit(Written(path=None if CHILD.out is None else str(CHILD.out)))


def _listen(name: str, listener: Any) -> None:
    hook: Any = getattr(events, name)
    hook.add_listener(listener)


# Registered at import: the locustfile imports this module before Locust builds its Environment.
_listen("init", _on_init)
_listen("spawning_complete", _on_spawning_complete)
_listen("test_stopping", _on_test_stopping)
_listen("report_to_master", _on_report_to_master)
_listen("worker_report", _on_worker_report)
_listen("quitting", _on_quitting)
