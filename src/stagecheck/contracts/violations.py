"""A violation of a docs/protocol.md rule, found in a target: a result, never an exception."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Violation:
    """What rule broke, where in the stream, what arrived and what the contract says."""

    rule: str
    message: str
    received: str = ""
    expected: str = ""
    index: int | None = None
    at: float | None = None
    severity: Severity = "error"
    task_id: str | None = None

    def __str__(self) -> str:
        where = f" (event #{self.index}" if self.index is not None else ""
        if where and self.at is not None:
            where += f", t={self.at:.3f}s"
        if where:
            where += ")"
        text = f"{self.rule}: {self.message}{where}"
        if self.received or self.expected:
            text += f"\n  Received: {self.received}\n  Contract: {self.expected}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
