"""The full contract gate passes against the mock as the real backend runs: Redis, several
web processes, and a Celery worker producing the tokens (issue 6)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stagecheck.mock_server.cluster import ScaleOptions
from stagecheck.mock_server.config import MockConfig
from stagecheck.mock_server.embedded import EmbeddedMock

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def gate(base_url: str, report_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "stagecheck",
            "contract",
            "--base-url",
            base_url,
            "--profile",
            "quick",
            "--scenarios",
            "--deterministic",
            "--legacy-phase",
            "compat",
            "--report-dir",
            str(report_dir),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.parametrize(
    "scale",
    [
        pytest.param({"workers": 2}, id="redis-2-workers"),
        pytest.param({"executor": "celery"}, id="redis-celery"),
    ],
)
def test_contract_gate_passes_on_the_redis_topology(scale: dict[str, object], tmp_path: Path, redis_url: str) -> None:
    options = ScaleOptions(broker=redis_url, redis_prefix=f"sc-gate-{uuid.uuid4().hex[:8]}:", **scale)  # type: ignore[arg-type]
    with EmbeddedMock(MockConfig(), mode="process", scale=options) as mock:
        done = gate(mock.base_url, tmp_path)
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    failed = [f"{c['rule']}/{c['transport']}" for c in results["rules"] if c["status"] == "failed"]
    assert done.returncode == 0, f"failed: {failed}\n{done.stderr[-3000:]}"
    assert failed == []
    passed = {(c["rule"], c["transport"]) for c in results["rules"] if c["status"] == "passed"}
    # Late join, isolation and status agreement are what a topology of several processes can break.
    assert {("W5", "ws"), ("W6", "ws"), ("T3", "http"), ("Q2", "ws"), ("D1", "ws")} <= passed
