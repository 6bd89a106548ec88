"""The stand-in for the model: deterministic text, cut into paced tokens.

The same stage and input give the same text in every mode (SSE, async/WebSocket, legacy), which
is what `stagecheck contract --deterministic` (D1, L2) holds a backend to. Replace `output_text`
with your model call; keep `plan` (the scenario switch) only if you want the gate's error paths.
"""

from __future__ import annotations

import json
from typing import Any

FIRST_TOKEN_S = 0.020  # from the start of a task to its first token
TOKEN_GAP_S = 0.020  # between two tokens
MAX_TOKENS = 10  # the text is cut into at most this many tokens
SCENARIOS = ("fail-start", "fail-midway")  # section 9 of the protocol; nothing else of Prefer is honoured


class StageFailed(Exception):
    """The model failed (here: on request, `Prefer: scenario=fail-*`)."""


def output_text(stage: str, input_data: dict[str, Any]) -> str:
    if stage == "rewrite":
        return f"Rewritten: {input_data['original_text']}"
    prompt = input_data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        prompt = json.dumps(input_data, sort_keys=True, ensure_ascii=False)
    return f"{stage.replace('_', ' ')} for: {prompt}"


def pieces_of(text: str, most: int = MAX_TOKENS) -> list[str]:
    """`text` in at most `most` non-empty pieces, cut between code points (never inside one)."""
    count = max(1, min(most, len(text)))
    size, extra = divmod(len(text), count)
    pieces, at = [], 0
    for number in range(count):
        step = size + (1 if number < extra else 0)
        pieces.append(text[at : at + step])
        at += step
    return [piece for piece in pieces if piece]


def plan(stage: str, input_data: dict[str, Any], scenario: str | None) -> tuple[list[str], str | None]:
    """The tokens a task produces, and the error it ends with (None: it succeeds)."""
    pieces = pieces_of(output_text(stage, input_data))
    if scenario == "fail-start":
        return [], "the model failed before its first token (fail-start)"
    if scenario == "fail-midway":
        return pieces[: max(1, len(pieces) // 2)], "the model failed midway (fail-midway)"
    return pieces, None


def parse_prefer(value: str) -> str | None:
    """The section 9 scenario a `Prefer` header asks for; every other preference is ignored (RFC 7240)."""
    for part in value.split(","):
        key, _, raw = part.split(";", 1)[0].strip().partition("=")
        name = raw.strip().strip('"').lower()
        if key.strip().lower() == "scenario" and name in SCENARIOS:
            return name
    return None
