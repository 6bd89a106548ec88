"""Click options generated from a declarative table (the gate's, the mock's): one loop for both."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

FC = TypeVar("FC", bound=Callable[..., Any])


def with_options(options: Iterable[Any], make: Callable[[Any], Callable[[FC], FC]]) -> Callable[[FC], FC]:
    """A decorator adding `make(option)` for every option, so that --help lists them in table order."""

    def decorate(function: FC) -> FC:
        for option in reversed(list(options)):
            function = make(option)(function)
        return function

    return decorate
