"""Locust event hooks: every stream into Locust's stats and into our HDR recorder.

Each stream is one Locust request entry (E2E as its response time, tokens as its
length, a failure naming the broken rule ids), so Locust's web UI and distributed mode
see the streams. The token-level figures stay in a `LevelRecorder` per process: workers
attach theirs, encoded, to every report to the master (`report_to_master`), the master
merges them (`worker_report`), and at quit the master (or the single local process)
writes the merged recorder to the file named by `STAGECHECK_LOAD_OUT`. Progress goes to
stdout as `@@stagecheck {json}` lines for the parent process to show.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import gevent
from locust import events
from locust.runners import STATE_STOPPED, WORKER_REPORT_INTERVAL, MasterRunner, WorkerRunner

from stagecheck.contracts.load_results import Slo

from .metrics import LevelRecorder, StreamOutcome

OUT_ENV = "STAGECHECK_LOAD_OUT"
SLO_ENV = "STAGECHECK_LOAD_SLO"
HOLD_ENV = "STAGECHECK_LOAD_HOLD_S"  # hold the level this long after the ramp, then quit
PROGRESS_PREFIX = "@@stagecheck "
PROGRESS_INTERVAL_S = 1.0


class StreamProblem(Exception):
    """A stream that failed or broke rules, as Locust's failure table shows it (grouped by text)."""


def _slo() -> Slo:
    raw = os.environ.get(SLO_ENV)
    return Slo(**json.loads(raw)) if raw else Slo()


RECORDER = LevelRecorder(_slo())
_window: dict[str, float | None] = {"start": None, "end": None}
_process: dict[str, Any] = {"worker": False, "environment": None}


def emit(event: str, **fields: Any) -> None:
    """One progress line for the parent process (only the master or local process calls it)."""
    sys.stdout.write(PROGRESS_PREFIX + json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


def _is_worker(environment: Any) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def report_stream(environment: Any, mode: str, outcome: StreamOutcome, now: float) -> None:
    """Pool one finished stream and fire its Locust request entry."""
    RECORDER.record(outcome)
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


def _on_init(environment: Any, **_: Any) -> None:
    _process["worker"] = _is_worker(environment)
    _process["environment"] = environment
    if not _process["worker"]:
        gevent.spawn(_progress_loop, environment)


def _progress_loop(environment: Any) -> None:
    while True:  # ends with the process (a daemon greenlet)
        gevent.sleep(PROGRESS_INTERVAL_S)
        runner = environment.runner
        if runner is None:
            continue
        total = runner.stats.total
        emit(
            "progress",
            state=runner.state,
            users=runner.user_count,
            streams=total.num_requests,
            failures=total.num_failures,
        )


def _on_spawning_complete(user_count: int, **_: Any) -> None:
    # Streams are counted once every user runs: the level is held from here.
    now = time.perf_counter()
    RECORDER.window_start = now
    if _window["start"] is None and not _process["worker"]:
        _window["start"] = now
        emit("window_start", users=user_count)
        hold = os.environ.get(HOLD_ENV)
        if hold:
            # The level is held for exactly this long after its ramp, however long the ramp took.
            gevent.spawn_later(float(hold), _end_level)


def _end_level() -> None:
    environment = _process["environment"]
    runner = environment.runner if environment is not None else None
    if runner is None:
        return
    if isinstance(runner, MasterRunner):
        # MasterRunner.quit() alone kills the workers' users mid-stream; stop() first lets
        # in-flight streams finish (--stop-timeout), as a local runner's quit() does.
        runner.stop()
        # A stopped worker sleeps through --stop-timeout before it reads "quit" (and sends its
        # final report), so wait for one more periodic report instead.
        gevent.sleep(WORKER_REPORT_INTERVAL + 0.5)
    runner.quit()


def _on_test_stopping(environment: Any, **_: Any) -> None:
    if _window["end"] is None and not _is_worker(environment):
        _window["end"] = time.perf_counter()
        emit("window_end")


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["stagecheck"] = RECORDER.take_wire()


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    wire = data.get("stagecheck")
    if wire:
        RECORDER.merge_wire(wire)


def _on_quitting(environment: Any, **_: Any) -> None:
    if _is_worker(environment):
        return
    interrupted = _window["end"] is None
    runner = environment.runner
    if isinstance(runner, MasterRunner) and runner.state != STATE_STOPPED:
        # Interrupted (SIGTERM): stop the workers; quit() waits for their final reports.
        runner.quit()
    start, end = _window["start"], _window["end"] or time.perf_counter()
    result = {
        "wire": RECORDER.to_wire(),
        "window_s": 0.0 if start is None else end - start,
        "window_opened": start is not None,
        "interrupted": interrupted,
        "workers": len(runner.clients) if isinstance(runner, MasterRunner) else 0,
    }
    path = os.environ.get(OUT_ENV)
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(result, out)
    # The parent judges the level from the file; Locust's own failure exit code would only blur that.
    environment.process_exit_code = 0
    emit("written", path=path)


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
