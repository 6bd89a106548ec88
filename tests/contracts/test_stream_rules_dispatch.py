"""`StreamValidator(...)` builds the validator of the expectation's transport (like pathlib.Path)."""

from __future__ import annotations

import copy

import pytest

from stagecheck.contracts.stream_rules import (
    Bounds,
    Expectation,
    SseStreamValidator,
    StreamValidator,
    WsStreamValidator,
)


def test_sse_expectation_builds_the_sse_validator() -> None:
    validator = StreamValidator(Expectation("sse"), Bounds())
    assert type(validator) is SseStreamValidator
    assert isinstance(validator, StreamValidator)


def test_ws_expectation_builds_the_ws_validator() -> None:
    validator = StreamValidator(expect=Expectation("ws"), bounds=Bounds(idle_timeout_s=1.0))
    assert type(validator) is WsStreamValidator
    assert isinstance(validator, StreamValidator)
    assert validator.bounds.idle_timeout_s == 1.0


def test_a_subclass_named_directly_is_that_subclass_and_copies() -> None:
    validator = WsStreamValidator(Expectation("ws"))
    assert type(validator) is WsStreamValidator
    assert type(copy.copy(validator)) is WsStreamValidator


def test_an_unknown_transport_is_refused() -> None:
    with pytest.raises(ValueError, match="no stream validator for transport 'grpc'"):
        StreamValidator(Expectation("grpc"))  # type: ignore[arg-type]
