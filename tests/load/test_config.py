"""Parsing of the sweep options: every bad value is a ConfigError naming the option."""

from __future__ import annotations

import pytest

from stagecheck.errors import ConfigError
from stagecheck.load.config import StreamSettings, SweepConfig, parse_duration, parse_levels, parse_modes, ws_url_for


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30.0), ("2m", 120.0), ("500ms", 0.5), ("1.5", 1.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "0s", "-3s", "3 days"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--duration"):
        parse_duration(text)


def test_levels_and_modes() -> None:
    assert parse_levels("50, 200,1000,50") == (50, 200, 1000)
    assert parse_modes("ws,SSE,websocket") == ("ws", "sse")
    with pytest.raises(ConfigError, match="--users"):
        parse_levels("50,0")
    with pytest.raises(ConfigError, match="--modes"):
        parse_modes("sse,grpc")


def test_urls_and_sweep_checks() -> None:
    assert ws_url_for("https://example.org:8443/api") == "wss://example.org:8443"
    with pytest.raises(ConfigError, match="--base-url"):
        ws_url_for("ftp://x")
    stream = StreamSettings(base_url="http://h:1", ws_url="ws://h:1", token="t")
    assert stream.socket_url("abc") == "ws://h:1/ws/projects/1/stage/rewrite/?task_id=abc&token=t"
    with pytest.raises(ConfigError, match="--processes"):
        SweepConfig(stream=stream, processes=0)
    assert SweepConfig(stream=stream).ramp_s(200) == pytest.approx(2.0)
