"""Prefer parsing (RFC 7240), scenario planning and the deterministic text generator."""

from __future__ import annotations

import pytest

from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.plan import plan_steps
from stagecheck.mock_server.scenarios import parse_prefer, scenario_for
from stagecheck.mock_server.textgen import stage_tokens

CONFIG = MockConfig(tokens=12, token_delay_ms=20, first_token_delay_ms=0)


def test_prefer_header_parsing_follows_rfc_7240() -> None:
    found = parse_prefer(['scenario="fail-midway"; x=1, Tokens=40', "delay-ms=25, tokens=99", "respond-async"])
    assert found == {"scenario": "fail-midway", "tokens": "40", "delay-ms": "25", "respond-async": ""}


def test_parameters_override_defaults_and_are_echoed() -> None:
    scenario = scenario_for(["scenario=fail-midway, tokens=40, delay-ms=25, first-delay-ms=300"], CONFIG)
    assert (scenario.tokens, scenario.delay_s, scenario.first_delay_s) == (40, 0.025, 0.3)
    assert scenario.outcome == "error" and scenario.tokens_before_outcome == 20
    assert scenario.preference_applied == "scenario=fail-midway, tokens=40, delay-ms=25, first-delay-ms=300"


@pytest.mark.parametrize(
    "header",
    ["scenario=unknown", "tokens=-1", "tokens=abc", "tokens=2.5", "delay-ms=NaN", "delay-ms=1e9", "colour=blue", ""],
)
def test_unknown_or_unusable_preferences_are_ignored(header: str) -> None:
    scenario = scenario_for([header], CONFIG)
    assert (scenario.name, scenario.tokens, scenario.delay_s, scenario.outcome) == (None, 12, 0.02, "done")
    assert scenario.preference_applied is None


def test_scenarios_shape_the_plan() -> None:
    def kinds(header: str) -> list[str]:
        return [step.kind for step in plan_steps("storyboard", {}, scenario_for([header], CONFIG))]

    assert kinds("tokens=3") == ["token", "token", "token", "done"]
    assert kinds("scenario=fail-start, tokens=3") == ["error"]
    assert kinds("scenario=fail-midway, tokens=4") == ["token", "token", "error"]
    assert kinds("scenario=stall, tokens=4") == ["token", "token", "stall"]
    assert kinds("scenario=drop, tokens=4") == ["token", "token", "drop"]
    slow = scenario_for(["scenario=slow, delay-ms=5"], CONFIG)
    assert slow.delay_s == pytest.approx(0.05)
    assert scenario_for(["scenario=first-token-delay"], CONFIG).first_delay_s == 2.0
    assert scenario_for(["scenario=first-token-delay, first-delay-ms=300"], CONFIG).first_delay_s == 0.3


def test_plan_is_on_an_absolute_schedule() -> None:
    steps = plan_steps(
        "rewrite", {"original_text": "abc"}, scenario_for(["tokens=3, delay-ms=100, first-delay-ms=50"], CONFIG)
    )
    assert [round(step.due, 3) for step in steps] == [0.05, 0.15, 0.25, 0.25]


@pytest.mark.parametrize("stage", ["rewrite", "storyboard", "image_generation", "camera_movement", "video_generation"])
def test_text_is_deterministic_per_stage_and_input(stage: str) -> None:
    data = {"original_text": "Grüße 你好 👋🏽 end", "style": ["a", 1]}
    first = stage_tokens(stage, data, 30)
    assert first == stage_tokens(stage, {"style": ["a", 1], "original_text": "Grüße 你好 👋🏽 end"}, 30)
    assert first != stage_tokens(stage, {**data, "original_text": "other"}, 30)
    assert len(first) == 30 and all(first)
    text = "".join(first)
    assert not any("\ud800" <= ch <= "\udfff" for ch in text) and "\ufffd" not in text
    assert any(ord(ch) > 0xFFFF for ch in text) or any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_rewrite_keeps_its_source_and_mixes_in_chinese_and_emoji() -> None:
    tokens = stage_tokens("rewrite", {"original_text": "abcdefghij" * 5}, 40)
    text = "".join(tokens)
    assert set("abcdefghij") <= set(text)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text)
    assert any(ord(ch) > 0xFFFF for ch in text)


def test_unusable_characters_of_the_input_never_reach_the_output() -> None:
    tokens = stage_tokens("rewrite", {"original_text": "\ud800x\ufffd\n"}, 10)
    assert set("".join(tokens)) - set("x改写后的文案更加生动有趣镜头画面光影节奏情绪故事✨🎬🚀😀🌅🎥") == set()
