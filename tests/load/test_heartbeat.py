"""The heartbeat probe against the embedded mock, the independent backend and broken variants of it.

The independent backend (tests/backends/independent.py) shares no code with the mock: what holds
on both is not fitted to the mock. Broken variants (a malformed heartbeat, a late or missing pong)
must be reported by rule id, within the probe's bounded window; a silent server (tests/backends/
hanging.py) must be noticed by the probe's detector within the bound the probe derived.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from stagecheck.errors import ConfigError
from stagecheck.load.config import StreamSettings, ws_url_for
from stagecheck.load.heartbeat import run_heartbeat
from stagecheck.load.heartbeat_watch import watch_for_silence
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock
from stagecheck.results.heartbeat_results import HeartbeatResult
from tests.backends.hanging import serve_hanging
from tests.backends.independent import BackendConfig, serve_backend

WINDOW_S = 3.0  # pings at 0.75, 1.5 and 2.25 s; the SSE long first wait 1.5 s
BEAT_S = 0.5
SLACK_S = 0.3  # scheduling on a shared machine: a detector may notice this much after its bound


def settings_for(base_url: str, read_timeout_s: float = 2.0) -> StreamSettings:
    return StreamSettings(base_url=base_url, ws_url=ws_url_for(base_url), read_timeout_s=read_timeout_s)


@pytest.fixture(scope="module")
def beating_mock() -> Iterator[EmbeddedMock]:
    with EmbeddedMock(MockConfig(heartbeat_s=BEAT_S), mode="thread") as server:
        yield server


@pytest.fixture(scope="module")
def quiet_mock() -> Iterator[EmbeddedMock]:
    with EmbeddedMock(MockConfig(), mode="thread") as server:
        yield server


def assert_ws_heartbeats_every_half_second(result: HeartbeatResult) -> None:
    assert result.not_run is None, result
    # Every 0.5 s from connected over a 3.75 s hold (the last ping's W3 second included).
    assert 5 <= result.heartbeats <= 8, result
    assert result.interval_s_p50 is not None and 0.45 <= result.interval_s_p50 <= 0.6, result
    assert result.interval_s_max is not None and result.interval_s_max < 0.5 + SLACK_S, result
    assert (result.pings, result.pongs) == (3, 3), result
    assert result.pong_rtt_ms_max is not None and result.pong_rtt_ms_max < 1000, result
    assert result.notice_basis == "heartbeat"
    assert result.notice_silent_s is not None and 0.7 <= result.notice_silent_s < 0.75 + SLACK_S
    assert result.violations == {}, result.examples
    assert result.verdict == "passed"


def assert_ws_silent_but_pongs(result: HeartbeatResult) -> None:
    assert result.not_run is None, result
    assert result.heartbeats == 0 and result.interval_s_p50 is None and result.interval_s_max is None
    assert (result.pings, result.pongs) == (3, 3), result
    assert result.pong_rtt_ms_p50 is not None and result.pong_rtt_ms_p50 < 1000
    assert result.notice_basis == "ping" and result.ping_period_s == 0.75
    assert result.notice_silent_s is not None and 1.0 <= result.notice_silent_s < 1.0 + SLACK_S
    assert result.violations == {}, result.examples


def test_websocket_heartbeats_on_the_mock(beating_mock: EmbeddedMock) -> None:
    assert_ws_heartbeats_every_half_second(run_heartbeat(settings_for(beating_mock.base_url), "ws", window_s=WINDOW_S))


def test_sse_keep_alives_on_the_mock_during_a_long_first_wait(beating_mock: EmbeddedMock) -> None:
    result = run_heartbeat(settings_for(beating_mock.base_url), "sse", window_s=WINDOW_S)
    assert result.not_run is None, result
    assert result.long_wait_s == 1.5 and result.long_wait_skipped is None
    # The mock's comments come after 0.5 s of silence: at 0.5 and 1.0 s of the 1.5 s wait (1.5 may tie).
    assert 2 <= result.heartbeats <= 3 and result.comments == result.heartbeats, result
    assert result.interval_s_p50 is not None and 0.45 <= result.interval_s_p50 <= 0.5 + SLACK_S
    assert result.longest_silence_s is not None and result.longest_silence_s < 0.5 + SLACK_S, result
    assert result.notice_basis == "keep-alive"
    assert result.violations == {}, result.examples


def test_no_heartbeat_on_the_quiet_mock_in_either_mode(quiet_mock: EmbeddedMock) -> None:
    settings = settings_for(quiet_mock.base_url)
    assert_ws_silent_but_pongs(run_heartbeat(settings, "ws", window_s=WINDOW_S))
    sse = run_heartbeat(settings, "sse", window_s=WINDOW_S)
    assert sse.not_run is None, sse
    assert (sse.heartbeats, sse.comments, sse.long_wait_s) == (0, 0, 1.5), sse
    # The long first wait was silent: the longest silence is about that wait.
    assert sse.longest_silence_s is not None and 1.45 <= sse.longest_silence_s < 1.5 + SLACK_S
    assert sse.notice_basis == "client-idle-bound" and sse.notice_silent_s == 2.0
    assert sse.violations == {}, sse.examples


def test_the_independent_backend_with_heartbeats_gives_the_same_verdicts() -> None:
    # It ignores first-delay-ms (only scenario= is contract); its own first token comes after 1.2 s.
    config = BackendConfig(heartbeat_s=BEAT_S, sse_keepalive_s=BEAT_S, first_token_s=1.2)
    with serve_backend(config) as url:
        ws = run_heartbeat(settings_for(url), "ws", window_s=WINDOW_S)
        sse = run_heartbeat(settings_for(url), "sse", window_s=WINDOW_S)
    assert_ws_heartbeats_every_half_second(ws)
    assert sse.not_run is None, sse
    assert sse.long_wait_s is None and sse.long_wait_skipped is not None
    assert "did not confirm first-delay-ms" in sse.long_wait_skipped
    # Keep-alives at 0.5 and 1.0 s of the ordinary stream's first wait; ": stream open" is no keep-alive.
    assert sse.heartbeats == 2 and sse.comments == 3, sse
    assert sse.notice_basis == "keep-alive" and sse.violations == {}, sse.examples


def test_the_independent_backend_without_heartbeats_shows_none() -> None:
    with serve_backend(BackendConfig(heartbeat_s=None)) as url:
        ws = run_heartbeat(settings_for(url), "ws", window_s=WINDOW_S)
        sse = run_heartbeat(settings_for(url), "sse", window_s=WINDOW_S)
    assert_ws_silent_but_pongs(ws)
    assert sse.not_run is None, sse
    # Its ": stream open" comment right after the head is counted, and is not taken for a keep-alive.
    assert (sse.heartbeats, sse.comments) == (0, 1), sse
    assert sse.long_wait_skipped is not None and sse.notice_basis == "client-idle-bound"
    assert sse.violations == {}, sse.examples


def test_a_malformed_heartbeat_is_m1() -> None:
    with serve_backend(BackendConfig(heartbeat_s=BEAT_S, bad_heartbeat=True)) as url:
        result = run_heartbeat(settings_for(url), "ws", window_s=2.0)
    assert result.heartbeats >= 3  # still a sign of life, counted
    assert set(result.violations) == {"M1"} and result.violations["M1"] == result.heartbeats, result.examples
    assert any("heartbeat" in e for e in result.examples)
    assert result.verdict == "failed"


@pytest.mark.parametrize(("config", "late"), [({"pong_delay_s": 1.3}, True), ({"no_pong": True}, False)])
def test_a_late_or_missing_pong_is_w3_within_the_window(config: dict[str, object], late: bool) -> None:
    with serve_backend(BackendConfig(heartbeat_s=None, **config)) as url:  # type: ignore[arg-type]
        result = run_heartbeat(settings_for(url), "ws", window_s=2.0)
    assert result.not_run is None, result
    assert result.violations == {"W3": 3}, result.examples
    assert all(("pong too late" if late else "no pong") in e for e in result.examples), result.examples
    if late:
        assert result.pongs == 3 and result.pong_rtt_ms_p50 is not None and result.pong_rtt_ms_p50 >= 1300
        assert result.notice_basis == "ping"
    else:
        assert result.pongs == 0 and result.notice_basis == "none" and result.notice_silent_s is None
    assert result.elapsed_s < 3.0 + 2.0  # the 3 s hold, not a hang
    assert result.verdict == "failed"


def test_a_target_that_is_down_is_not_run_with_the_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings_for(f"http://127.0.0.1:{port}")
    for mode in ("ws", "sse"):
        result = run_heartbeat(settings, mode, window_s=WINDOW_S)  # type: ignore[arg-type]
        assert result.not_run is not None and "cannot connect" in result.not_run, result
        assert "connection refused" in result.not_run
        assert result.verdict == "not-run"


def test_a_socket_the_server_closes_is_not_run_with_what_it_said() -> None:
    # Closed right after the handshake: no "none in 3 s" verdict from 0 s of listening.
    with serve_backend(BackendConfig(close_before_connected=True)) as url:
        result = run_heartbeat(settings_for(url), "ws", window_s=WINDOW_S)
    assert result.not_run is not None and "ended the idle socket" in result.not_run, result
    assert "close 1000 'bye'" in result.not_run
    assert result.verdict == "not-run"


def test_bad_arguments_are_config_errors(quiet_mock: EmbeddedMock) -> None:
    with pytest.raises(ConfigError, match="unknown mode"):
        run_heartbeat(settings_for(quiet_mock.base_url), "http", window_s=1.0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="window"):
        run_heartbeat(settings_for(quiet_mock.base_url), "ws", window_s=0)
    with pytest.raises(ConfigError, match="no bound"):
        watch_for_silence(settings_for(quiet_mock.base_url), HeartbeatResult(mode="ws"), limit_s=1.0)


# -- the detector: a silent server is noticed within the derived bound -----------------------------


def assert_noticed_within(result: HeartbeatResult, kind: str, mode: str) -> None:
    assert result.notice_silent_s is not None, result
    with serve_hanging(kind) as url:
        watch = watch_for_silence(settings_for(url), result, limit_s=result.notice_silent_s + 3.0)
    assert watch.noticed, watch
    assert watch.after_s is not None
    assert result.notice_silent_s - 0.05 <= watch.after_s <= result.notice_silent_s + SLACK_S, (mode, watch)


def test_heartbeats_let_a_client_notice_a_silent_socket_in_time(beating_mock: EmbeddedMock) -> None:
    settings = settings_for(beating_mock.base_url)
    measured = run_heartbeat(settings, "ws", window_s=2.0)
    assert measured.notice_basis == "heartbeat"
    healthy = watch_for_silence(settings, measured, limit_s=2.0)
    assert not healthy.noticed, healthy  # a live server, heartbeating, is never taken for silent
    assert_noticed_within(measured, "silent-socket", "ws")


def test_pings_let_a_client_notice_a_silent_socket_without_heartbeats(quiet_mock: EmbeddedMock) -> None:
    settings = settings_for(quiet_mock.base_url)
    measured = run_heartbeat(settings, "ws", window_s=2.0)
    assert measured.notice_basis == "ping" and measured.notice_silent_s is not None
    healthy = watch_for_silence(settings, measured, limit_s=2.5)
    assert not healthy.noticed, healthy  # pongs keep a quiet, live server from looking silent
    assert_noticed_within(measured, "silent-socket", "ws")


def test_keep_alives_let_a_client_notice_a_silent_stream_in_time(beating_mock: EmbeddedMock) -> None:
    measured = run_heartbeat(settings_for(beating_mock.base_url), "sse", window_s=2.0)
    assert measured.notice_basis == "keep-alive"
    # A live stream with a 1.5 s first wait, kept alive every 0.5 s, is not taken for silent.
    waiting = StreamSettings(
        base_url=beating_mock.base_url, ws_url=ws_url_for(beating_mock.base_url), prefer="first-delay-ms=1500"
    )
    healthy = watch_for_silence(waiting, measured, limit_s=3.0)
    assert not healthy.noticed and "ended the connection" in healthy.detail, healthy
    assert_noticed_within(measured, "silent-sse", "sse")


def test_without_keep_alives_only_the_idle_bound_notices_a_silent_stream(quiet_mock: EmbeddedMock) -> None:
    measured = run_heartbeat(settings_for(quiet_mock.base_url, read_timeout_s=1.0), "sse", window_s=2.0)
    assert measured.notice_basis == "client-idle-bound" and measured.notice_silent_s == 1.0
    assert_noticed_within(measured, "silent-sse", "sse")


def test_an_unknown_project_is_not_run_with_the_answer(quiet_mock: EmbeddedMock) -> None:
    settings = StreamSettings(base_url=quiet_mock.base_url, ws_url=ws_url_for(quiet_mock.base_url), project_id=999999)
    sse = run_heartbeat(settings, "sse", window_s=WINDOW_S)
    assert sse.not_run is not None and "answered 404 application/json" in sse.not_run, sse
    assert "E4" in sse.violations
    ws = run_heartbeat(settings, "ws", window_s=WINDOW_S)
    assert ws.not_run is not None and "close 4404" in ws.not_run, ws


def test_a_target_that_never_answers_is_not_run_within_its_bounds() -> None:
    # Connections are queued by the kernel (listen) but never accepted, so nothing is ever answered.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        settings = settings_for(f"http://127.0.0.1:{sock.getsockname()[1]}", read_timeout_s=1.0)
        ws = run_heartbeat(settings, "ws", window_s=WINDOW_S)
        sse = run_heartbeat(settings, "sse", window_s=WINDOW_S)
    assert ws.not_run is not None and "no answer within 1 s" in ws.not_run, ws
    assert sse.not_run is not None and "no answer for 1.0 s" in sse.not_run, sse
    assert ws.elapsed_s < 1.0 + 2.0 and sse.elapsed_s < 1.0 + 2.0  # the 1 s bounds, not a hang
