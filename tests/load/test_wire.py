"""The wire between the load parent and its Locust children: round trips, and one place for names."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stagecheck.load import wire
from stagecheck.load.config import StreamSettings
from stagecheck.load.wire import (
    ChildEnvironment,
    Connected,
    Done,
    GoAway,
    LevelEnd,
    LevelOutput,
    MasterGone,
    Message,
    ProgressReport,
    WindowEnd,
    WindowStart,
    Written,
    decode,
    encode,
)
from stagecheck.results.load_results import Slo

LOAD = Path(wire.__file__).parent

MESSAGES: list[Message] = [
    ProgressReport(users=12, streams=340, failures=2, workers=3, state="running"),
    ProgressReport(users=5, streams=9),
    WindowStart(users=50),
    WindowEnd(),
    Written(path="/tmp/level.json"),
    Written(),
    Connected(index=0, client_id="host_1a2b"),
    Connected(),
    LevelEnd(sweep_over=True, streams=17),
    GoAway(),
    MasterGone(),
    Done(streams=17),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: f"{m.event}-{m!r}")
def test_messages_round_trip(message: Message) -> None:
    line = encode(message)
    assert line.startswith(wire.PROGRESS_PREFIX)
    assert "\n" not in line
    assert decode(line) == message
    assert decode(line + "\n") == message  # as read from a pipe


def test_every_event_kind_is_covered() -> None:
    assert {type(m) for m in MESSAGES} == set(wire.MESSAGE_TYPES)
    assert len({kind.event for kind in wire.MESSAGE_TYPES}) == len(wire.MESSAGE_TYPES)


def test_the_line_is_the_json_the_parent_always_read() -> None:
    line = encode(LevelEnd(sweep_over=False, streams=4))
    assert json.loads(line[len(wire.PROGRESS_PREFIX) :]) == {"event": "level_end", "sweep_over": False, "streams": 4}


@pytest.mark.parametrize(
    "line",
    [
        "@@stagecheck {not json",
        "@@stagecheck ",
        "@@stagecheck [1, 2]",
        '@@stagecheck "progress"',
        '@@stagecheck {"users": 3}',  # no event
        '@@stagecheck {"event": 7}',
        '@@stagecheck {"event": "progress", "users": "many"}',
        '@@stagecheck {"event": "progress", "users": true}',
        '@@stagecheck {"event": "level_end", "sweep_over": 1}',
        '@@stagecheck {"event": "written", "path": 3}',
        "\x00\xff@@stagecheck garbage",
    ],
)
def test_a_malformed_line_decodes_to_none(line: str) -> None:
    assert decode(line) is None


def test_an_unknown_event_decodes_to_none() -> None:
    assert decode('@@stagecheck {"event": "teleported", "users": 3}') is None
    assert decode('@@stagecheck {"event": "__init__"}') is None


def test_lines_not_ours_decode_to_none() -> None:
    assert decode("[2024-01-01 12:00:00] WARNING/locust.main: Starting Locust") is None
    assert decode("") is None
    assert not wire.is_progress_line("stagecheck {}")


def test_unknown_fields_are_ignored_and_missing_ones_default() -> None:
    assert decode('@@stagecheck {"event": "progress", "users": 3, "colour": "red"}') == ProgressReport(users=3)
    assert decode('@@stagecheck {"event": "done"}') == Done(streams=0)


def _settings() -> StreamSettings:
    return StreamSettings(
        base_url="http://127.0.0.1:8000",
        ws_url="ws://127.0.0.1:8000",
        prefer="tokens=5",
        slo=Slo(ttft_ms=250.0, tpot_ms=None, e2e_ms=4000.0),
    )


@pytest.mark.parametrize(
    "child",
    [
        ChildEnvironment(),
        ChildEnvironment(settings=_settings(), out=Path("/tmp/x/level.json"), hold_s=30.0),
        ChildEnvironment(
            settings=_settings(),
            out=Path("/tmp/level.json"),
            hold_s=0.123456789,
            external=True,
            last=False,
            control=Path("/tmp/control"),
        ),
        ChildEnvironment(external=True, last=True),
        ChildEnvironment(external=True, connect_timeout_s=12.5),
    ],
)
def test_child_environment_round_trips(child: ChildEnvironment) -> None:
    env = child.to_env()
    assert set(env) <= set(wire.ENV_NAMES)
    assert ChildEnvironment.from_env(env) == child
    assert ChildEnvironment.from_env(child.environ({"PATH": "/bin"})) == child


def test_the_child_environment_replaces_inherited_wire_variables() -> None:
    inherited = {"PATH": "/bin", wire.SETTINGS_ENV: "{}", wire.HOLD_ENV: "5", wire.OUT_ENV: "/elsewhere"}
    env = ChildEnvironment(external=True).environ(inherited)
    assert env == {"PATH": "/bin", "PYTHONUNBUFFERED": "1", wire.EXTERNAL_ENV: "1"}


def test_the_control_file_says_when_the_sweep_is_over(tmp_path: Path) -> None:
    control = tmp_path / "control"
    assert not wire.sweep_over_marked(None)
    assert not wire.sweep_over_marked(control)  # not written yet
    wire.mark_sweep_over(control)
    assert wire.sweep_over_marked(control)


def test_level_output_round_trips() -> None:
    output = LevelOutput(
        wire={"counters": {"streams": 3}},
        window_s=29.9,
        window_opened=True,
        interrupted=False,
        workers=2,
        per_worker={"a": 1, "b": 2},
    )
    assert LevelOutput.from_json(json.loads(json.dumps(output.to_json()))) == output


def test_wire_imports_neither_locust_nor_gevent() -> None:
    code = "import sys, stagecheck.load.wire; print('locust' in sys.modules or 'gevent' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "False"


def test_wire_names_are_spelled_only_in_wire() -> None:
    # Every environment variable of the wire, and the progress prefix, in one module:
    # grep the load floor's sources (docstrings and comments count too).
    pattern = re.compile(r"STAGECHECK_(?:LOAD|WORKER)_[A-Z_]*|@@stagecheck")
    found = {
        f"{path.name}: {match}"
        for path in sorted(LOAD.rglob("*.py"))
        if path.name != "wire.py"
        for match in pattern.findall(path.read_text(encoding="utf-8"))
    }
    assert found == set()
    in_wire = set(pattern.findall((LOAD / "wire.py").read_text(encoding="utf-8")))
    assert set(wire.ENV_NAMES) | {"@@stagecheck"} <= in_wire
