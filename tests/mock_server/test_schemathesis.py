"""Schemathesis (`st run`, every phase, stateful included, all checks) finds nothing in the mock.

It runs as a subprocess against the mock in its own process, with short request
timeouts and a cap on SSE events so that no case can hang.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stagecheck.contracts.specs import OPENAPI_PATH
from stagecheck.mock_server.config import MockConfig

# 410 is the legacy endpoint's documented answer in the removed phase (L3), and 413 a
# documented rejection: neither is a failure of the positive/negative data checks.
CONFIG_TOML = """\
max-stream-events = 40
request-timeout = 5
[parameters]
"path.project_id" = 1
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "410"]
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "404", "405", "410", "413", "415", "422"]
"""


@pytest.mark.slow
@pytest.mark.parametrize(("phase", "examples"), [("compat", 30), ("removed", 15)])
def test_schemathesis_finds_no_failure(start_mock: Any, tmp_path: Path, phase: str, examples: int) -> None:
    mock = start_mock(MockConfig(tokens=4, token_delay_ms=2, legacy_phase=phase), mode="process")  # type: ignore[arg-type]
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG_TOML, encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(OPENAPI_PATH),
        "--url",
        mock.base_url,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        "20251103",
        "--generation-database",
        "none",
        "--no-color",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=170, check=False, cwd=tmp_path)
    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, output
    counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert counts is not None and counts[1] == counts[2], output
    if phase == "compat":
        # (In the removed phase every legacy call is 410: Schemathesis warns that the
        # operation "mostly rejected generated data", which is the point of that phase.)
        assert "No issues found" in result.stdout, output
    assert "Stateful" in result.stdout and "API Links:    1 covered" in result.stdout
