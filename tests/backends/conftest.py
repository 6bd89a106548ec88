"""Fixtures that serve the independent backend (tests/backends/independent.py) for one test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.backends.independent import BackendConfig, serve_backend


@pytest.fixture
def independent_backend() -> Iterator[str]:
    """The base URL of a correct, independent backend (compat phase, tokens 10 ms apart)."""
    with serve_backend() as url:
        yield url


@pytest.fixture
def serve_independent() -> Callable[..., AbstractContextManager[str]]:
    """`with serve_independent(legacy_phase="removed") as url:` serves a backend with that config."""

    def serve(**config: Any) -> AbstractContextManager[str]:
        return serve_backend(BackendConfig(**config))

    return serve
