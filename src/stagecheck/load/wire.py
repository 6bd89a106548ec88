"""The wire between a `stagecheck load` parent and its Locust children: every name, typed.

Three processes talk here. The *parent* (`stagecheck load`, `level_run.py`; or
`stagecheck load-worker`, `remote_worker.py`) never imports Locust; the *child* is the
`python -m locust -f locustfile.py` process it starts (`locust_hooks.py`,
`locust_users.py`), a local runner, a master, or a worker. This module imports neither
Locust nor gevent, so both sides use it.

Parent -> child, once, at start: the environment (`ChildEnvironment.environ()`):

- `STAGECHECK_LOAD_SETTINGS`: JSON of `StreamSettings` (their `slo` too), which forked
  `--processes` workers inherit. A `load-worker` child has none: it gets the settings from
  its master in a `stagecheck_settings` Locust message when it connects.
- `STAGECHECK_LOAD_OUT`: where the master (or local process) writes the `LevelOutput` at quit.
- `STAGECHECK_LOAD_HOLD_S`: headless levels end this long after the ramp (absent with the web UI).
- `STAGECHECK_LOAD_EXTERNAL` ("1"): the workers are `stagecheck load-worker` processes
  (set on both the master and those workers).
- `STAGECHECK_LOAD_LAST` ("1"/"0", master with external workers): no level follows this one.
- `STAGECHECK_LOAD_CONTROL` (master with external workers): a file the parent may write
  `over` into mid-level (`mark_sweep_over`): the sweep stops after this level.
- `STAGECHECK_WORKER_CONNECT_TIMEOUT_S` (`load-worker` children): give up on a master after this long.

Child -> parent, while it runs: stdout lines `@@stagecheck {"event": ..., **fields}`
(`encode`/`decode`; every other stdout line is Locust's own and goes to the level's log):

- master or local process: `progress` every second (state, users, streams, failures,
  connected workers), `window_start` when every user runs (the level is held from there),
  `window_end` when it stops, `written` once the `LevelOutput` file is written, at quit.
- `load-worker` child: `connected` (to its master), `progress` every second (users,
  streams), `level_end` (the master ended the level; `sweep_over`: whether it ends the
  sweep too), `go_away` (the master was already ending its level), `master_gone` (no
  heartbeat), and `done` (streams it counted) when it quits.

Child -> parent, at the end: the `STAGECHECK_LOAD_OUT` file, JSON of `LevelOutput`.

Master <-> worker (Locust custom messages, inside the children): `SETTINGS_MESSAGE`
(`{"settings": StreamSettings JSON}`) when a worker connects, `LEVEL_END_MESSAGE`
(`{"sweep_over": bool}`) at the end of the level, `GO_AWAY_MESSAGE` (None) to a worker that
connects while the level ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

from .config import StreamSettings

PROGRESS_PREFIX: Final = "@@stagecheck "

SETTINGS_ENV: Final = "STAGECHECK_LOAD_SETTINGS"
OUT_ENV: Final = "STAGECHECK_LOAD_OUT"
HOLD_ENV: Final = "STAGECHECK_LOAD_HOLD_S"
EXTERNAL_ENV: Final = "STAGECHECK_LOAD_EXTERNAL"
LAST_ENV: Final = "STAGECHECK_LOAD_LAST"
CONTROL_ENV: Final = "STAGECHECK_LOAD_CONTROL"
CONNECT_TIMEOUT_ENV: Final = "STAGECHECK_WORKER_CONNECT_TIMEOUT_S"
ENV_NAMES: Final = (SETTINGS_ENV, OUT_ENV, HOLD_ENV, EXTERNAL_ENV, LAST_ENV, CONTROL_ENV, CONNECT_TIMEOUT_ENV)

# Locust custom messages between a master and its external workers.
SETTINGS_MESSAGE: Final = "stagecheck_settings"
LEVEL_END_MESSAGE: Final = "stagecheck_level_end"
GO_AWAY_MESSAGE: Final = "stagecheck_go_away"

_SWEEP_OVER: Final = "over"


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _float(raw: str | None) -> float | None:
    return float(raw) if raw else None


@dataclass(frozen=True)
class ChildEnvironment:
    """What the parent tells a Locust child through its environment (None/False: not set)."""

    settings: StreamSettings | None = None
    out: Path | None = None
    hold_s: float | None = None
    external: bool = False
    last: bool | None = None
    control: Path | None = None
    connect_timeout_s: float | None = None

    def to_env(self) -> dict[str, str]:
        """The variables this environment sets (only those with a value)."""
        env: dict[str, str] = {}
        if self.settings is not None:
            env[SETTINGS_ENV] = json.dumps(self.settings.to_json())
        if self.out is not None:
            env[OUT_ENV] = str(self.out)
        if self.hold_s is not None:
            env[HOLD_ENV] = repr(float(self.hold_s))
        if self.external:
            env[EXTERNAL_ENV] = "1"
        if self.last is not None:
            env[LAST_ENV] = _flag(self.last)
        if self.control is not None:
            env[CONTROL_ENV] = str(self.control)
        if self.connect_timeout_s is not None:
            env[CONNECT_TIMEOUT_ENV] = repr(float(self.connect_timeout_s))
        return env

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A child's whole environment: `base` (default ours) less any wire variable, plus these.

        Also unbuffers the child's stdout, so that progress lines arrive as they are written.
        """
        env = {k: v for k, v in (os.environ if base is None else base).items() if k not in ENV_NAMES}
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.to_env())
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChildEnvironment:
        """Read by the child (default: `os.environ`); raises ValueError on a malformed value."""
        env = os.environ if environ is None else environ
        settings = env.get(SETTINGS_ENV)
        out, last, control = env.get(OUT_ENV), env.get(LAST_ENV), env.get(CONTROL_ENV)
        return cls(
            settings=StreamSettings.from_json(json.loads(settings)) if settings else None,
            out=Path(out) if out else None,
            hold_s=_float(env.get(HOLD_ENV)),
            external=env.get(EXTERNAL_ENV) == "1",
            last=None if not last else last == "1",
            control=Path(control) if control else None,
            connect_timeout_s=_float(env.get(CONNECT_TIMEOUT_ENV)),
        )


def mark_sweep_over(control: Path) -> None:
    """Parent: the sweep stops after the running level (its master tells its workers)."""
    control.write_text(_SWEEP_OVER, encoding="utf-8")


def sweep_over_marked(control: Path | None) -> bool:
    """Child: whether the parent wrote `mark_sweep_over` into the control file."""
    if control is None:
        return False
    try:
        return _SWEEP_OVER in control.read_text(encoding="utf-8")
    except OSError:
        return False


@dataclass(frozen=True)
class LevelOutput:
    """What the master (or local process) writes to `STAGECHECK_LOAD_OUT` at quit."""

    wire: dict[str, Any]  # LevelRecorder.to_wire(): every worker's recorder merged
    window_s: float  # from all users spawned to the stop (0 if the level was never held)
    window_opened: bool
    interrupted: bool  # stopped before its window ended (SIGTERM, --run-time)
    workers: int = 0  # workers connected to a master
    per_worker: dict[str, int] = field(default_factory=dict)  # streams counted per worker (client id)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LevelOutput:
        return cls(
            wire=dict(data["wire"]),
            window_s=float(data["window_s"]),
            window_opened=bool(data.get("window_opened", True)),
            interrupted=bool(data["interrupted"]),
            workers=int(data.get("workers", 0)),
            per_worker={str(k): int(v) for k, v in data.get("per_worker", {}).items()},
        )


# -- progress lines (child stdout -> parent) ---------------------------------------------


@dataclass(frozen=True)
class ProgressReport:
    """Every second. A master/local process fills every field; a load-worker child only users and streams."""

    event: ClassVar[str] = "progress"
    users: int = 0
    streams: int = 0
    failures: int = 0
    workers: int = 0  # external workers connected to the master
    state: str | None = None  # Locust's runner state (master or local process)


@dataclass(frozen=True)
class WindowStart:
    """Every user runs: the level is held (and measured) from now."""

    event: ClassVar[str] = "window_start"
    users: int = 0


@dataclass(frozen=True)
class WindowEnd:
    """The level stops: its measured window ends."""

    event: ClassVar[str] = "window_end"


@dataclass(frozen=True)
class Written:
    """The `LevelOutput` file is written (path None: no STAGECHECK_LOAD_OUT was set)."""

    event: ClassVar[str] = "written"
    path: str | None = None


@dataclass(frozen=True)
class Connected:
    """A load-worker child reached its master."""

    event: ClassVar[str] = "connected"
    index: int | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class LevelEnd:
    """A load-worker child's master ended the level; `sweep_over`: no level follows."""

    event: ClassVar[str] = "level_end"
    sweep_over: bool = False
    streams: int = 0


@dataclass(frozen=True)
class GoAway:
    """A load-worker child reached a master already ending its level."""

    event: ClassVar[str] = "go_away"


@dataclass(frozen=True)
class MasterGone:
    """A load-worker child heard no heartbeat from its master for too long."""

    event: ClassVar[str] = "master_gone"


@dataclass(frozen=True)
class Done:
    """A load-worker child quits, having counted `streams`."""

    event: ClassVar[str] = "done"
    streams: int = 0


Message = ProgressReport | WindowStart | WindowEnd | Written | Connected | LevelEnd | GoAway | MasterGone | Done
MESSAGE_TYPES: Final[tuple[type[Message], ...]] = typing.get_args(Message)
_BY_EVENT: Final[dict[str, type[Message]]] = {kind.event: kind for kind in MESSAGE_TYPES}


def encode(message: Message) -> str:
    """One progress line, without its newline."""
    return PROGRESS_PREFIX + json.dumps({"event": message.event, **dataclasses.asdict(message)})


def is_progress_line(line: str) -> bool:
    """Ours (decode it) rather than Locust's own output (log it)."""
    return line.startswith(PROGRESS_PREFIX)


def decode(line: str) -> Message | None:
    """The message of one progress line; None for any other line, a malformed one or an unknown event.

    Fields the message does not know are ignored, missing ones take their defaults.
    """
    if not is_progress_line(line):
        return None
    try:
        data = json.loads(line[len(PROGRESS_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    event = data.get("event")
    kind = _BY_EVENT.get(event) if isinstance(event, str) else None
    if kind is None:
        return None
    values: dict[str, Any] = {}
    for name, allowed in _FIELD_TYPES[kind].items():
        if name not in data:
            continue
        value = data[name]
        if not _fits(value, allowed):
            return None
        values[name] = value
    return kind(**values)


def _field_types(kind: type[Message]) -> dict[str, tuple[type, ...]]:
    """Each field's JSON types: (int,), (str, NoneType), (bool,) ..."""
    hints = typing.get_type_hints(kind)
    types: dict[str, tuple[type, ...]] = {}
    for f in dataclasses.fields(kind):
        hint = hints[f.name]
        types[f.name] = typing.get_args(hint) or (hint,)
    return types


_FIELD_TYPES: Final = {kind: _field_types(kind) for kind in MESSAGE_TYPES}


def _fits(value: object, allowed: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in allowed
    return isinstance(value, allowed)
