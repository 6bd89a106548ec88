"""The `stagecheck` command line as a whole: help, version, unknown commands, misuse errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stagecheck import __version__
from stagecheck.cli import COMMANDS, cli


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    commands_section = result.stdout.split("Commands:", 1)[1]
    listed = [line.split()[0] for line in commands_section.splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)
    assert "validate-specs" in listed


def test_short_help_flag() -> None:
    result = CliRunner().invoke(cli, ["-h"])
    assert result.exit_code == 0
    assert "Exit codes: 0 the target conforms, 1 violations found, 2" in result.stdout


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"stagecheck, version {__version__}\n"


def test_unknown_command_exits_2() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.stderr


def test_stagecheck_error_is_one_line_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A command that misuses nothing but raises the error root, as every command may.
    (tmp_path / "failing_command_for_test.py").write_text(
        "import click\n"
        "from stagecheck.errors import ConfigError\n"
        "@click.command('fail')\n"
        "def command() -> None:\n"
        "    raise ConfigError('--users must be at least 1, got 0')\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(COMMANDS, "fail", "failing_command_for_test:command")
    result = CliRunner().invoke(cli, ["fail"])
    assert result.exit_code == 2
    assert result.stderr == "stagecheck: error: --users must be at least 1, got 0\n"
    assert result.stdout == ""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=60, check=False)


def test_python_dash_m_entry_point() -> None:
    done = _run("-m", "stagecheck", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"stagecheck, version {__version__}\n"


def test_help_does_not_import_locust() -> None:
    # `import locust` monkey-patches the whole process with gevent; only load runs may do it.
    done = _run(
        "-c",
        "import sys\n"
        "from stagecheck.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOCUST' if 'locust' in sys.modules else 'CLEAN', file=sys.stderr)\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "CLEAN"
