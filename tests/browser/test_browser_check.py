"""The real-browser check, in Debian's headless Chromium, against targets that hold and that break.

Every run starts a Chromium (about 1 s) and streams for real; the targets pace their own
tokens (the mock 20 ms, the independent backend 10 ms), so a run takes a few seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from stagecheck.browser import run_browser_check
from stagecheck.errors import ConfigError
from stagecheck.load.config import StreamSettings, ws_url_for
from stagecheck.load.stream_runs import run_ws_stream
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock
from stagecheck.reports.browser_row import browser_text
from stagecheck.results.browser_results import BrowserResult
from tests.backends.independent import BackendConfig, serve_backend
from tests.browser.backends import CorruptWsText, RenamedSseEvents, free_port, serve_app, silent_listener

OTHER_ORIGIN = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the page is served by interception
CHINESE = "请把这句话改写得更生动一些 🙂"


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with EmbeddedMock(MockConfig(cors_origins=(OTHER_ORIGIN,)), mode="thread") as mock:
        yield mock.base_url


def assert_held(result: BrowserResult, streams: int) -> None:
    assert result.not_run is None, result.not_run
    assert [m.mode for m in result.modes] == ["sse", "ws"]
    for mode in result.modes:
        assert mode.held, mode
        assert mode.streams_run == mode.streams_held == streams
        assert mode.violations == {} and mode.failures == ()
        assert mode.tokens >= streams and mode.events > mode.tokens - 1
        assert len(mode.ttft_ms) == streams and all(t > 0 for t in mode.ttft_ms)
    assert result.held


def test_the_mock_holds_with_the_page_at_its_own_origin(mock_url: str) -> None:
    result = run_browser_check(mock_url, streams=2)
    assert_held(result, 2)
    assert result.version and result.version[0].isdigit() and not result.cross_origin
    sse = result.mode("sse")
    assert sse is not None and sse.warnings == {}  # the page could read X-Accel-Buffering: no
    cell = browser_text(result, "sse")
    assert cell.startswith(f"Chromium {result.version} (headless): fetch stream reader, 2 streams held, 0 violations")
    assert browser_text(result, "ws").startswith(f"Chromium {result.version} (headless): WebSocket, 2 streams held")
    assert BrowserResult.from_json(result.to_json()) == result


def test_the_mock_holds_with_the_page_at_another_origin_through_its_cors(mock_url: str) -> None:
    result = run_browser_check(mock_url, streams=1, page_origin=OTHER_ORIGIN)
    assert_held(result, 1)
    assert result.cross_origin and result.page_origin == OTHER_ORIGIN
    # CORS hides X-Accel-Buffering from the page: S6's SHOULD is not judged, not reported as missing.
    assert all(m.warnings == {} for m in result.modes)
    assert f"page from {OTHER_ORIGIN} (CORS)" in browser_text(result, "ws")


def test_another_origin_without_the_targets_cors_is_a_failure_that_names_cors_not_a_violation() -> None:
    with EmbeddedMock(MockConfig(), mode="thread") as mock:
        result = run_browser_check(mock.base_url, streams=1, page_origin=OTHER_ORIGIN)
    assert result.not_run is None
    for mode in result.modes:
        assert not mode.held and mode.violations == {}
        assert len(mode.failures) == 1 and "CORS" in mode.failures[0] and "TypeError" in mode.failures[0]
    assert "0 of 1 stream held" in browser_text(result, "sse")


def test_the_independent_backend_holds_with_chinese_text_through_the_browser() -> None:
    # Not the mock: its own pacing, and only the contract's Prefer; non-ASCII across chunks (Q4).
    with serve_backend(BackendConfig()) as url:
        result = run_browser_check(url, streams=2, original_text=CHINESE)
    assert_held(result, 2)


def test_renamed_sse_events_are_flagged_s1_in_the_browser() -> None:
    with serve_app(RenamedSseEvents()) as url:
        result = run_browser_check(url, streams=2)
    sse, ws = result.mode("sse"), result.mode("ws")
    assert sse is not None and ws is not None
    assert not sse.held and sse.violations.get("S1") == 2 and sse.examples[0].startswith("S1")
    assert ws.held  # the same backend's socket is untouched
    assert "violations: S1 in 2" in browser_text(result, "sse")


def test_corrupt_websocket_text_is_flagged_q2_in_the_browser() -> None:
    with serve_app(CorruptWsText()) as url:
        result = run_browser_check(url, streams=2)
    sse, ws = result.mode("sse"), result.mode("ws")
    assert sse is not None and ws is not None
    assert sse.held
    assert not ws.held and ws.violations.get("Q2") == 2


def test_a_socket_closed_before_connected_is_flagged_as_the_sync_transport_flags_it() -> None:
    with serve_backend(BackendConfig(close_before_connected=True)) as url:
        result = run_browser_check(url, streams=1, modes=("ws",))
        with httpx.Client() as client:
            settings = StreamSettings(base_url=url, ws_url=ws_url_for(url))
            witness = run_ws_stream(client, settings, time.perf_counter)
    (ws,) = result.modes
    # The socket opens and closes with no message: the task's terminal event never comes (W5).
    assert witness.violations == ("W5",)
    assert not ws.held and ws.violations == {"W5": 1} and ws.events == 0, ws


def test_a_hanging_target_ends_each_stream_at_the_idle_bound() -> None:
    with silent_listener() as url:
        result = run_browser_check(url, streams=1, modes=("sse",), idle_timeout_s=1.0, timeout_s=10.0)
    (sse,) = result.modes
    assert sse.failures == ("no answer for 1.0 s",) and sse.violations == {}
    assert not sse.held


def test_an_absent_executable_is_not_run() -> None:
    result = run_browser_check("http://127.0.0.1:1", executable="/nonexistent/chromium")
    assert result.not_run == "no Chromium at /nonexistent/chromium; apt-get install chromium"
    assert result.modes == () and not result.held
    assert browser_text(result, "sse") == f"not run: {result.not_run}"


def test_no_playwright_module_is_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # import raises ImportError
    result = run_browser_check("http://127.0.0.1:1")
    assert result.not_run == "the playwright module is not installed; pip install 'stagecheck[browser]'"


def test_a_target_that_refuses_is_not_run() -> None:
    result = run_browser_check(f"http://127.0.0.1:{free_port()}")
    assert result.not_run is not None and "refused the connection" in result.not_run


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"base_url": "ftp://example.org"}, "base_url"),
        ({"base_url": "http://127.0.0.1:1", "page_origin": "file:///tmp"}, "page_origin"),
        ({"base_url": "http://127.0.0.1:1", "streams": 0}, "streams"),
        ({"base_url": "http://127.0.0.1:1", "modes": ("sse", "grpc")}, "unknown mode"),
        ({"base_url": "http://127.0.0.1:1", "stage": "rewrites"}, "unknown stage"),
        ({"base_url": "http://127.0.0.1:1", "project_id": 0}, "project_id"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        run_browser_check(**kwargs)  # type: ignore[arg-type]


def test_the_page_clock_sees_a_first_token_delay_the_target_confirmed(mock_url: str) -> None:
    # The mock's own Prefer extras, used because its Preference-Applied confirms them.
    result = run_browser_check(mock_url, streams=1, prefer="tokens=3, first-delay-ms=300")
    assert_held(result, 1)
    for mode in result.modes:
        assert mode.preference_applied is not None and "first-delay-ms=300" in mode.preference_applied
        assert mode.tokens == 3
        assert mode.ttft_ms[0] >= 300.0  # the POST leaves before the task's 300 ms wait begins


def test_the_whole_check_stops_at_its_deadline_and_says_so() -> None:
    with silent_listener() as url:
        result = run_browser_check(url, streams=5, modes=("sse",), idle_timeout_s=2.0, timeout_s=6.0)
    (sse,) = result.modes
    assert sse.note is not None and sse.note.startswith("the check's time ran out after")
    assert sse.streams_run < 5 and not sse.held
    assert result.elapsed_s < 9.5  # unbounded, 5 streams would wait 5 x 2 s after the launch


def test_a_stream_that_stalls_midway_is_cut_at_the_idle_bound_in_both_modes(mock_url: str) -> None:
    result = run_browser_check(mock_url, streams=1, prefer="tokens=3, delay-ms=3000", idle_timeout_s=1.0)
    sse, ws = result.mode("sse"), result.mode("ws")
    assert sse is not None and ws is not None
    assert sse.preference_applied == "tokens=3, delay-ms=3000"  # the mock confirmed the pacing
    assert sse.tokens == ws.tokens == 1
    assert sse.failures == ("no data for 1.0 s",) and "Q6" in sse.violations
    assert ws.failures == ("no message for 1.0 s",) and "Q6" in ws.violations
