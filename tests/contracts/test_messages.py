"""Message schemas from asyncapi.yaml (M1): odd payloads are findings, never crashes."""

from __future__ import annotations

from stagecheck.contracts.messages import message_schemas


def test_a_lone_surrogate_in_an_invalid_message_is_reported_not_raised() -> None:
    token = message_schemas("sse").types["token"]
    # The Rust validator cannot take a lone surrogate; the problem is still named.
    assert token.first_error({"type": "token", "content": "\ud800"}) == 'at (top): "full_text" is a required property'
    assert token.first_error({"type": "token", "content": "\ud800", "full_text": "\ud800"}) is None


def test_a_valid_message_has_no_error() -> None:
    done = message_schemas("ws").types["done"]
    assert done.first_error({"type": "done", "full_text": "x", "task_id": "t"}) is None
    assert (
        done.first_error({"type": "done", "full_text": 1, "task_id": "t"}) == 'at full_text: 1 is not of type "string"'
    )
