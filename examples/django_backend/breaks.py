"""Deliberate breakages, switched on with STAGECHECK_EXAMPLE_BREAK=name[,name...].

Each one is a mistake real Django/Channels/Celery code makes; tests/examples/test_django_backend.py
proves that `stagecheck contract` blames each on its rule, except channel-fanout: a mistake of
scale, shown by `stagecheck load` in the README (whether it loses messages depends on how far
the web process falls behind, so a test of it would pass or fail by chance). Off by default.
"""

from __future__ import annotations

import os

ENV_VAR = "STAGECHECK_EXAMPLE_BREAK"

BREAKS: dict[str, tuple[str, str]] = {
    # name: (rule the gate blames, what goes wrong)
    "sync-iterator": (
        "S5",
        "the SSE view hands StreamingHttpResponse a plain (sync) generator, as WSGI code does: under ASGI "
        "Django consumes it whole before sending a byte",
    ),
    "no-cache-header": ("S6", "the SSE answer is sent without Cache-Control: no-cache"),
    "wide-group": (
        "W6",
        "the Channels group is named after the project only, so every stage's sockets get every stage's messages",
    ),
    "channel-fanout": (
        "Q2",
        "a socket opened for one task (?task_id=) joins the channel's group and drops the other tasks' "
        "messages itself, Channels' usual pattern: N sockets on N tasks put N x N messages through the web "
        "process, and under load channels_redis drops messages past the layer's capacity without a word "
        "(the load gate sees tokens lost: Q2, Q3, W5)",
    ),
    "close-after-done": ("W7", "the consumer closes the socket after forwarding a terminal event"),
    "replay-before-connected": (
        "W2",
        "the consumer sends what a late subscriber is owed (the snapshot or the ended task's terminal) "
        "before `connected`",
    ),
    "no-snapshot": ("W5", "a late subscriber gets only live messages: no snapshot, no replay of an ended task"),
    "pending-unknown": (
        "T2",
        "task-status trusts Celery's AsyncResult, which answers PENDING for any id, issued or not",
    ),
    "result-lag": (
        "T3",
        "the Celery task publishes its terminal event, then post-processes (STAGECHECK_EXAMPLE_RESULT_LAG_S, "
        "default 3 s), and only its return value is stored: task-status lags the stream",
    ),
    "default-json-decode": (
        "W4",
        "the consumer uses AsyncJsonWebsocketConsumer's own JSON decoding: a frame that is not JSON "
        "raises, and the socket dies with 1011 instead of 1008",
    ),
    "gzip": (
        "S4",
        "django.middleware.gzip.GZipMiddleware compresses the SSE answer for clients that accept gzip: "
        "each chunk of an async stream becomes its own gzip member, and clients that decode only the "
        "first member (httpx, curl) see the stream end after `: stream open`",
    ),
}


def active(environ: dict[str, str] | None = None) -> frozenset[str]:
    env = os.environ if environ is None else environ
    names = frozenset(name.strip() for name in env.get(ENV_VAR, "").split(",") if name.strip())
    unknown = sorted(names - BREAKS.keys())
    if unknown:
        raise ValueError(f"{ENV_VAR}: unknown breakage {', '.join(unknown)} (known: {', '.join(sorted(BREAKS))})")
    return names


def on(name: str) -> bool:
    assert name in BREAKS, name
    return name in active()
