"""Settings of a load sweep, and of one level's load process (handed over as JSON).

Parsing of the CLI's text forms (`30s`, `50,200,1000`, `sse,ws`) lives here so that
`stagecheck load` and `stagecheck run` agree; every bad value is a `ConfigError` that
names the option and the value.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from typing import Any

from stagecheck.errors import ConfigError
from stagecheck.results.load_results import MODES, Mode, Slo

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
# Locust user class per mode (in locust_users.py; named here so the CLI need not import Locust).
USER_CLASS_FOR_MODE: dict[str, str] = {"sse": "SseStreamUser", "ws": "WsStreamUser"}
STAGES = ("rewrite", "storyboard", "image_generation", "camera_movement", "video_generation")


def parse_duration(text: str, option: str = "--duration") -> float:
    """`30s`, `2m`, `500ms` or a bare number of seconds -> seconds (more than 0)."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"{option}: {text!r} is not a duration; write e.g. 30s, 2m or 500ms")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{option}: {text!r} must be more than 0")
    return seconds


def parse_levels(text: str, option: str = "--users") -> tuple[int, ...]:
    """`50,200,1000` -> (50, 200, 1000): positive, in the order given, no repeats."""
    levels: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise ConfigError(f"{option}: {part!r} is not a positive whole number of users (in {text!r})")
        if int(part) not in levels:
            levels.append(int(part))
    return tuple(levels)


def parse_modes(text: str, option: str = "--modes") -> tuple[Mode, ...]:
    """`sse,ws` -> ("sse", "ws"); `websocket` is accepted for `ws`."""
    modes: list[Mode] = []
    for part in text.split(","):
        name = {"websocket": "ws"}.get(part.strip().lower(), part.strip().lower())
        if name not in MODES:
            raise ConfigError(f"{option}: unknown mode {part.strip()!r}; choose from sse, ws")
        if name not in modes:
            modes.append(name)
    return tuple(modes)


def ws_url_for(base_url: str) -> str:
    """ws(s):// origin for an http(s):// base URL (the WebSocket routes live at the root)."""
    match = re.match(r"^(https?)://([^/]+)", base_url)
    if match is None:
        raise ConfigError(f"--base-url: {base_url!r} is not an http:// or https:// URL")
    scheme = "wss" if match.group(1) == "https" else "ws"
    return f"{scheme}://{match.group(2)}"


@dataclass(frozen=True)
class StreamSettings:
    """What each simulated user sends and how long it waits: the same for every level."""

    base_url: str
    ws_url: str
    project_id: int = 1
    stage: str = "rewrite"
    original_text: str = "Load test: rewrite this sentence, please."
    prefer: str | None = None  # the `Prefer` header (mock: "tokens=N, delay-ms=D, first-delay-ms=F")
    token: str | None = None  # bearer token, when the target requires one
    read_timeout_s: float = 10.0  # no byte for this long: the stream is stalled
    stream_timeout_s: float = 60.0  # a whole stream, POST to terminal event
    slo: Slo = field(default_factory=Slo)
    # Send `X-Stagecheck-Sent-At: <client monotonic seconds>`: a server on the same machine
    # can then line its own logs (or a test server its "truth") up with the client's clock.
    send_timestamp: bool = False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamSettings:
        data = dict(data)
        data["slo"] = Slo(**data["slo"])
        return cls(**data)

    @property
    def execute_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/api/v1/projects/projects/{self.project_id}/execute-stage/"

    def socket_url(self, task_id: str) -> str:
        url = f"{self.ws_url.rstrip('/')}/ws/projects/{self.project_id}/stage/{self.stage}/?task_id={task_id}"
        return url + (f"&token={self.token}" if self.token else "")

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "text/event-stream, application/json"}
        if self.prefer:
            headers["Prefer"] = self.prefer
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.send_timestamp:
            headers["X-Stagecheck-Sent-At"] = f"{time.perf_counter():.6f}"
        return headers

    def body(self, streaming: bool) -> dict[str, Any]:
        return {
            "stage_name": self.stage,
            "input_data": {"original_text": self.original_text},
            "use_streaming": streaming,
        }


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: each mode at each level, every level ramped then held for `duration_s`."""

    stream: StreamSettings
    modes: tuple[Mode, ...] = MODES
    levels: tuple[int, ...] = (50, 200, 1000)
    duration_s: float = 30.0
    spawn_rate: float | None = None  # users per second; None: the whole level in about 2 s
    processes: int = 1
    target_pid: int | None = None  # sample this process tree's CPU and memory (the target)
    target_kind: str = "external"
    web_ui: bool = False
    web_port: int | None = None
    log_dir: str | None = None  # where each level's Locust log goes
    # Workers on other hosts (`stagecheck load-worker`): each level's master waits for this
    # many, on this address, for at most `workers_timeout_s`. 0: no external workers.
    expect_workers: int = 0
    master_bind_host: str = "0.0.0.0"
    master_bind_port: int = 5557
    workers_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if not self.modes or not self.levels:
            raise ConfigError("a sweep needs at least one mode and one user level")
        if self.processes < 1:
            raise ConfigError(f"--processes: {self.processes} must be 1 or more")
        if self.expect_workers < 0:
            raise ConfigError(f"--expect-workers: {self.expect_workers} must be 1 or more")
        if self.expect_workers and self.processes > 1:
            raise ConfigError("--processes and --expect-workers exclude each other: workers run here or elsewhere")
        if not 0 < self.master_bind_port < 65536:
            raise ConfigError(f"--master-bind-port: {self.master_bind_port} is not a TCP port")
        if self.workers_timeout_s <= 0:
            raise ConfigError(f"--workers-timeout: {self.workers_timeout_s:g} must be more than 0")
        if self.spawn_rate is not None and self.spawn_rate <= 0:
            raise ConfigError(f"--spawn-rate: {self.spawn_rate:g} must be more than 0")
        if self.stream.stage not in STAGES:
            raise ConfigError(f"stage {self.stream.stage!r} is not one of {', '.join(STAGES)}")

    def rate_for(self, users: int) -> float:
        return self.spawn_rate if self.spawn_rate is not None else max(1.0, users / 2.0)

    def ramp_s(self, users: int) -> float:
        return users / self.rate_for(users)

    def as_dict(self) -> dict[str, Any]:
        """The config as results.json records it."""
        return {
            "modes": list(self.modes),
            "levels": list(self.levels),
            "duration_s": self.duration_s,
            "spawn_rate": self.spawn_rate,
            "processes": self.processes,
            "expect_workers": self.expect_workers,
            "project_id": self.stream.project_id,
            "stage": self.stream.stage,
            "prefer": self.stream.prefer,
            "read_timeout_s": self.stream.read_timeout_s,
            "stream_timeout_s": self.stream.stream_timeout_s,
        }
