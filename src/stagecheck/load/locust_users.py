"""Locust users for the two modes: each task is one whole stream, judged and timed.

Importing this module imports Locust, which monkey-patches the process with gevent: it
is only ever imported by `locustfile.py`, inside a load process. Settings come from the
parent's `wire.ChildEnvironment` (which forked workers inherit), or from the master's
`wire.SETTINGS_MESSAGE` on a worker of another host; without either (a hand-run
`locust -f`), the `--host` with defaults.
"""

from __future__ import annotations

import ssl
import time
from functools import cache
from typing import Any, ClassVar

import certifi
import httpx
from locust import User, constant, task

from stagecheck.results.load_results import Mode

from .config import StreamSettings, ws_url_for
from .locust_hooks import CHILD, remote_settings, report_stream
from .metrics import StreamOutcome
from .stream_runs import run_sse_stream, run_ws_stream


def settings_for(host: str | None) -> StreamSettings:
    remote = remote_settings()  # a worker on another host: what its master sent
    if remote:
        return StreamSettings.from_json(remote)
    if CHILD.settings is not None:
        return CHILD.settings
    base = host or "http://127.0.0.1:8000"
    return StreamSettings(base_url=base, ws_url=ws_url_for(base))


@cache
def _tls_context() -> ssl.SSLContext:
    # One context for every user: building one loads the CA bundle (~50 ms of CPU), which
    # per user would cost the ramp of a 1000-user level most of a minute.
    return ssl.create_default_context(cafile=certifi.where())


class _StreamUser(User):
    """A closed-loop client: one stream after another, no think time."""

    abstract = True
    wait_time = constant(0)
    mode: ClassVar[Mode]

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.settings = settings_for(environment.host)
        s = self.settings
        self.http = httpx.Client(
            timeout=httpx.Timeout(connect=s.read_timeout_s, read=s.read_timeout_s, write=s.read_timeout_s, pool=5.0),
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
            trust_env=False,
            verify=_tls_context(),
        )

    def on_stop(self) -> None:
        self.http.close()

    def _one_stream(self) -> StreamOutcome:
        raise NotImplementedError

    @task
    def stream(self) -> None:
        outcome = self._one_stream()
        report_stream(self.environment, self.mode, outcome, time.perf_counter())


class SseStreamUser(_StreamUser):
    """SSE mode: POST with use_streaming true; the answer is the stream."""

    mode = "sse"

    def _one_stream(self) -> StreamOutcome:
        return run_sse_stream(self.http, self.settings, time.perf_counter)


class WsStreamUser(_StreamUser):
    """WebSocket mode: POST -> 202 + task_id, then the task's socket to its terminal event."""

    mode = "ws"

    def _one_stream(self) -> StreamOutcome:
        return run_ws_stream(self.http, self.settings, time.perf_counter)
