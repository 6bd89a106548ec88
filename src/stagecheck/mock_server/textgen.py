"""Deterministic stage output: the same stage and input_data always give the same tokens.

The text is drawn from a generator seeded with a hash of the stage name and the
canonical JSON of input_data, so SSE mode, WebSocket mode and the legacy endpoint agree
(D1, L2) across processes. It mixes ASCII, Chinese and emoji (outside the Basic
Multilingual Plane) so that clients meet non-ASCII text (Q4). Python strings index code
points, so a token never splits one.
"""

from __future__ import annotations

import hashlib
import json
import random
from itertools import islice
from typing import Any

import orjson

_CHINESE = "改写后的文案更加生动有趣镜头画面光影节奏情绪故事"
_EMOJI = ("✨", "🎬", "🚀", "😀", "🌅", "🎥")
_VOCABULARY: dict[str, tuple[str, ...]] = {
    "storyboard": ("Scene", "镜头", "close-up", "wide shot", "分镜", "dialogue", "🎬", "cut to", "夜景", "sunrise"),
    "image_generation": ("prompt:", "cinematic", "光影", "4k", "watercolor", "人物", "🌅", "soft light", "构图"),
    "camera_movement": ("pan left", "推镜头", "dolly in", "tilt up", "跟拍", "orbit", "🎥", "zoom out", "摇镜"),
    "video_generation": ("frame", "视频", "24fps", "transition", "淡入", "render", "🚀", "clip", "片段", "loop"),
}
_FALLBACK = ("text", "文本", "✨")


def canonical_input(input_data: Any) -> bytes:
    """input_data as canonical JSON (sorted keys): equal inputs give equal bytes."""
    try:
        return orjson.dumps(input_data, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson cannot write (an infinity, an integer beyond 64 bits)
        return json.dumps(input_data, sort_keys=True, separators=(",", ":")).encode()


def _seed(stage_name: str, canonical: bytes) -> int:
    digest = hashlib.sha256(stage_name.encode() + b"\0" + canonical).digest()
    return int.from_bytes(digest[:16], "big")


def _usable(ch: str) -> bool:
    # No lone surrogates (not encodable), no replacement character (Q4 would flag it).
    return not ("\ud800" <= ch <= "\udfff") and ch != "\ufffd" and ch.isprintable()


def stage_tokens(stage_name: str, input_data: Any, count: int, canonical: bytes | None = None) -> list[str]:
    """`count` non-empty tokens of the stage's output for this input (`canonical`: its canonical_input)."""
    rng = random.Random(_seed(stage_name, canonical if canonical is not None else canonical_input(input_data)))
    if stage_name == "rewrite":
        original = input_data.get("original_text") if isinstance(input_data, dict) else None
        # At most 3 characters per token are read: a 1 MiB input costs no more than a short one.
        source = "".join(islice(filter(_usable, original), 3 * count)) if isinstance(original, str) else ""
        if source:
            return _rewrite(rng, source, count)
    words = [word + " " for word in _VOCABULARY.get(stage_name, _FALLBACK)]
    return [words[rng.getrandbits(16) % len(words)] for _ in range(count)]


def _rewrite(rng: random.Random, source: str, count: int) -> list[str]:
    # Walk the original text in order, a few characters per token, and sprinkle in
    # Chinese characters and emoji: a "rewrite" that keeps its source recognisable.
    # One random draw per token (it runs on every request, up to 100,000 tokens).
    length = len(source)
    looped = source * (3 // length + 2)  # any 3-character slice from a position < length
    tokens: list[str] = []
    position = 0
    for _ in range(count):
        bits = rng.getrandbits(32)
        size = 1 + bits % 3
        piece = looped[position : position + size]
        position = (position + size) % length
        roll = (bits >> 2) & 0xFF
        if roll < 64:  # a quarter of the tokens
            piece += _CHINESE[(bits >> 10) % len(_CHINESE)]
        elif roll < 90:  # a tenth
            piece += _EMOJI[(bits >> 10) % len(_EMOJI)]
        tokens.append(piece)
    return tokens
