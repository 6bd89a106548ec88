"""The reconnection probe against the embedded mock, the independent backend and broken variants of it.

The independent backend (tests/backends/independent.py) shares no code with the mock: what holds
on both is not fitted to the mock. Each broken variant must be reported: a resumed socket with no
snapshot or a wrong one (text never seen, W5), one whose reconnect is never answered (bounded).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.server import ServerConnection, serve

from stagecheck.contracts.events import WsMessage
from stagecheck.errors import ConfigError
from stagecheck.load.config import StreamSettings, ws_url_for
from stagecheck.load.reconnect import run_reconnect
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock
from stagecheck.results.load_results import MODES
from stagecheck.results.reconnect_results import ReconnectResult
from stagecheck.transports.ws_follow import follow_socket
from tests.backends.hanging import serve_hanging
from tests.backends.independent import BackendConfig, serve_backend

STREAMS = 4


def settings_for(base_url: str, read_timeout_s: float = 2.0) -> StreamSettings:
    return StreamSettings(base_url=base_url, ws_url=ws_url_for(base_url), read_timeout_s=read_timeout_s)


@pytest.fixture(scope="module")
def mock() -> Iterator[EmbeddedMock]:
    with EmbeddedMock(MockConfig(), mode="thread") as server:  # 12 tokens, 20 ms apart
        yield server


def assert_websocket_recovers_cleanly(result: ReconnectResult) -> None:
    assert result.not_run is None, result
    assert (result.dropped, result.recovered) == (STREAMS, STREAMS), result.examples
    # 12 tokens; a socket that opens after the first one counts its snapshot as one token.
    assert result.reference_tokens in (11, 12) and result.drop_after_tokens == 4
    assert result.tokens_never_seen == 0 and result.tokens_seen_twice == 0, result
    assert result.text_matches == STREAMS and result.final_text_matches == STREAMS
    assert result.starts_per_answer == 1.0
    # The cut first sockets are not judged incomplete (Q1/W5): nothing at all is broken.
    assert result.violations == {}, result.examples
    assert result.recover_ms_p50 is not None and result.recover_ms_max is not None
    assert result.verdict == "passed"


def assert_sse_pays_a_new_generation(result: ReconnectResult) -> None:
    assert result.not_run is None, result
    assert (result.dropped, result.recovered) == (STREAMS, STREAMS), result.examples
    # The new generation repeats the k tokens shown before the drop, on every stream.
    assert result.tokens_seen_twice == result.drop_after_tokens * STREAMS
    assert result.tokens_never_seen == 0
    assert result.text_matches == STREAMS
    assert (result.starts, result.starts_per_answer) == (2 * STREAMS, 2.0)
    assert result.violations == {}, result.examples  # the cut first answers are not S4
    assert result.verdict == "passed"


def test_websocket_on_the_mock_recovers_with_nothing_lost(mock: EmbeddedMock) -> None:
    assert_websocket_recovers_cleanly(run_reconnect(settings_for(mock.base_url), "ws", streams=STREAMS))


def test_sse_on_the_mock_repeats_the_first_tokens(mock: EmbeddedMock) -> None:
    assert_sse_pays_a_new_generation(run_reconnect(settings_for(mock.base_url), "sse", streams=STREAMS))


@pytest.mark.parametrize("mode", ["sse", "ws"])
def test_the_independent_backend_gives_the_same_figures(mode: str) -> None:
    with serve_backend() as url:
        result = run_reconnect(settings_for(url), mode, streams=STREAMS)  # type: ignore[arg-type]
    if mode == "ws":
        assert_websocket_recovers_cleanly(result)
    else:
        assert_sse_pays_a_new_generation(result)


def test_a_task_that_ended_while_the_client_was_away_is_replayed() -> None:
    # Away longer than the 8 tokens left (10 ms apart): the reopened socket gets done right after
    # connected (W5), which holds the whole text.
    with serve_backend() as url:
        result = run_reconnect(settings_for(url), "ws", streams=STREAMS, outage_s=0.3)
    assert (result.recovered, result.tokens_never_seen, result.text_matches) == (STREAMS, 0, STREAMS), result
    assert result.violations == {}, result.examples


@pytest.mark.parametrize("switch", ["no_snapshot", "wrong_snapshot"])
def test_a_resumed_socket_without_a_true_snapshot_loses_text(switch: str) -> None:
    with serve_backend(
        BackendConfig(no_snapshot=switch == "no_snapshot", wrong_snapshot=switch == "wrong_snapshot")
    ) as url:
        # Away for about 4 of its 10 ms token gaps: the task moves on, and has not ended, meanwhile.
        result = run_reconnect(settings_for(url), "ws", streams=STREAMS, outage_s=0.04)
    assert result.recovered == STREAMS  # done still comes, and its text is right ...
    assert result.final_text_matches == STREAMS
    # ... but what the task produced while the client was away was never shown.
    assert result.tokens_never_seen >= STREAMS, result
    assert result.text_matches == 0
    # Every resumed socket; a first socket that opened after the task's first token may be one more.
    resumed = [e for e in result.examples if "after the reconnect: W5" in e]
    assert result.violations.get("W5", 0) >= STREAMS and resumed, result.examples
    assert set(result.violations) == {"W5"}, result.examples
    assert result.verdict == "failed"


def test_a_reconnect_that_is_never_answered_fails_within_the_budget() -> None:
    with serve_backend(BackendConfig(ignore_resume=True)) as url:
        result = run_reconnect(settings_for(url, read_timeout_s=1.0), "ws", streams=STREAMS, time_budget_s=10.0)
    assert (result.dropped, result.recovered) == (STREAMS, 0)
    assert result.elapsed_s < 10.0
    assert result.tokens_never_seen == 8 * STREAMS  # the rest of every answer
    hung = [e for e in result.examples if "after the reconnect: cannot connect" in e and "no answer within 1 s" in e]
    assert hung, result.examples
    assert result.violations == {}  # a handshake never answered is no stream to judge, and no rule's name
    assert result.verdict == "failed"


def test_a_target_that_is_down_is_not_run() -> None:
    with serve_backend() as url:
        pass  # the port is free again: nothing listens there
    for mode in MODES:
        result = run_reconnect(settings_for(url), mode)
        assert result.verdict == "not-run"
        assert result.not_run is not None and "did not complete" in result.not_run and "connect" in result.not_run
        assert result.violations == {}  # an unreachable target broke no rule: it said nothing


def test_a_silent_target_is_not_run_within_the_budget() -> None:
    with serve_hanging("silent-sse") as url:
        result = run_reconnect(settings_for(url, read_timeout_s=5.0), "sse", time_budget_s=1.5)
    assert result.not_run is not None and result.not_run.startswith("the unbroken SSE stream did not complete")
    assert result.elapsed_s < 5.0  # the budget, not the read timeout, ended it


def test_streams_too_short_to_drop_are_not_run() -> None:
    with EmbeddedMock(MockConfig(tokens=1), mode="thread") as server:
        result = run_reconnect(settings_for(server.base_url), "sse", streams=2)
    assert result.not_run == "the unbroken SSE stream showed 1 token(s); a drop mid-way needs at least 2"


def test_the_target_cpu_per_answer_is_measured_when_its_pid_is_given(mock: EmbeddedMock) -> None:
    result = run_reconnect(settings_for(mock.base_url), "ws", streams=2, target_pid=os.getpid())
    assert result.cpu_ms_per_answer is not None and result.cpu_ms_per_answer > 0
    assert run_reconnect(settings_for(mock.base_url), "ws", streams=1).cpu_ms_per_answer is None


def test_a_target_pid_that_is_not_running_is_a_config_error() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(ConfigError, match="--target-pid"):
        run_reconnect(settings_for("http://127.0.0.1:9"), "ws", target_pid=child.pid)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"streams": 0}, "streams"), ({"time_budget_s": 0}, "time budget"), ({"outage_s": -1}, "outage")],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        run_reconnect(settings_for("http://127.0.0.1:9"), "ws", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("drop", [False, True])
def test_the_probe_drops_a_socket_without_a_close_frame(drop: bool) -> None:
    # follow_socket(drop=True), as the probe cuts a first socket: the server gets no close frame (1006).
    closes: queue.Queue[str] = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        ws.send('{"type": "connected", "project_id": 1, "stage_name": "rewrite"}')
        try:
            for _ in ws:
                pass
            closes.put("close frame")
        except ConnectionClosedError:
            closes.put("no close frame")

    with serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        events = list(
            follow_socket(
                url,
                open_timeout=2.0,
                idle_timeout_s=2.0,
                deadline=None,
                total_timeout_s=None,
                clock=time.perf_counter,
                until=lambda event: isinstance(event, WsMessage),
                drop=drop,
            )
        )  # read to its end: `until` stops it after the first message, and it closes or drops
        assert any(isinstance(event, WsMessage) for event in events)
        seen = closes.get(timeout=5.0)
        server.shutdown()
    assert seen == ("no close frame" if drop else "close frame")
