"""The one exception root for "stagecheck could not do its job" (exit code 2).

Contract violations found in a target are *results*, never exceptions: they travel as
`Violation` objects. These exceptions are for misuse of the tool: bad arguments, a spec
that does not load, a target that cannot be reached.
"""

from __future__ import annotations


class StagecheckError(Exception):
    """stagecheck could not do its job; the message says what to do about it."""

    exit_code = 2


class SpecError(StagecheckError):
    """A contract document is malformed; the message names the file, the JSON path and the problem."""

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.file = file
        self.path = path
        self.problem = problem
        super().__init__(f"{file}: at {path or '/'}: {problem}")


class ConfigError(StagecheckError):
    """An argument or option has a value stagecheck cannot use."""


class TargetUnreachable(StagecheckError):
    """The target backend could not be reached (refused, DNS, timeout before any answer)."""
