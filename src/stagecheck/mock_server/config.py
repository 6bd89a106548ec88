"""Start-up settings of the mock reference server (the `stagecheck mock` options)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

LegacyPhase = Literal["compat", "removed"]


@dataclass(frozen=True)
class MockConfig:
    """Defaults for every task; a request's `Prefer` header overrides the per-task ones."""

    tokens: int = 12
    token_delay_ms: float = 20
    first_token_delay_ms: float = 0
    legacy_phase: LegacyPhase = "compat"
    auth_token: str | None = None
    cors_origins: tuple[str, ...] = ()
    # Idle interval for WebSocket `heartbeat` messages and SSE `: keep-alive` comments.
    heartbeat_s: float | None = None
    # How long an ended task stays visible to task-status and late subscribers (W5).
    terminal_retention_s: float = 60
    projects: range = range(1, 1001)
    max_body_bytes: int = 1 << 20
    # The SSE answer ends right after its terminal event (S4); this only delays that end.
    close_after_terminal_s: float = 0
    # One log line per request (the CLI turns it on; tests and embedded runs keep quiet).
    access_log: bool = False
    # RFC 9745 date announced in the legacy endpoint's Deprecation header.
    deprecated_since: int = 1762128000  # 2025-11-03, the migration guide's date

    def __post_init__(self) -> None:
        # ConfigError lives in contracts; imported here so that a bad value never starts a server.
        from stagecheck.errors import ConfigError

        if self.tokens < 0:
            raise ConfigError(f"tokens must be 0 or more, got {self.tokens}")
        for name in ("token_delay_ms", "first_token_delay_ms", "terminal_retention_s", "close_after_terminal_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if self.heartbeat_s is not None and self.heartbeat_s <= 0:
            raise ConfigError(f"heartbeat-s must be more than 0, got {self.heartbeat_s}")
        if self.legacy_phase not in ("compat", "removed"):
            raise ConfigError(f"legacy phase must be compat or removed, got {self.legacy_phase!r}")
        if self.max_body_bytes < 1:
            raise ConfigError(f"max body size must be positive, got {self.max_body_bytes}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form, to hand the config to a server subprocess."""
        data = dataclasses.asdict(self)
        data["projects"] = [self.projects.start, self.projects.stop]
        data["cors_origins"] = list(self.cors_origins)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MockConfig:
        data = dict(data)
        start, stop = data.pop("projects")
        return cls(
            projects=range(start, stop),
            cors_origins=tuple(data.pop("cors_origins")),
            **data,
        )
