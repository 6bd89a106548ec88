"""How long `validate-specs` takes on the shipped contracts.

Four figures, each the median of `--rounds` runs, as wall time and as CPU time:
- build: building both meta-schema validators (once per process);
- uncached: a full check of both documents, with the meta-schema findings cache emptied
  first (what a process pays for a pair it has not seen);
- repeated: the same check again in the same process (the cache keeps meta-schema
  findings by document content; references and agreement are checked every time);
- command: `stagecheck validate-specs` as a subprocess, start to exit.
Figures go to benchmarks/results/spec_validation.json.

    .venv/bin/python benchmarks/bench_spec_validation.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stagecheck.contracts.spec_check import meta as spec_meta
from stagecheck.contracts.spec_check.validation import check_specs

RESULTS = Path(__file__).parent / "results" / "spec_validation.json"


def median_seconds(action: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median wall time and median CPU time (this process and its children) of `action`.

    CPU time barely moves when other jobs share the machine; wall time does.
    """
    walls, cpus = [], []
    for _ in range(rounds):
        cpu_before = _cpu_seconds()
        started = time.perf_counter()
        action()
        walls.append(time.perf_counter() - started)
        cpus.append(_cpu_seconds() - cpu_before)
    return statistics.median(walls), statistics.median(cpus)


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build_validators() -> None:
    spec_meta.openapi_meta_validator.cache_clear()
    spec_meta.asyncapi_meta_validator.cache_clear()
    spec_meta._FINDINGS.clear()
    spec_meta.openapi_meta_validator()
    spec_meta.asyncapi_meta_validator()


def uncached_check() -> None:
    spec_meta._FINDINGS.clear()
    assert check_specs().problems == []


def run_command() -> None:
    executable = Path(sys.executable).parent / "stagecheck"
    subprocess.run([str(executable), "validate-specs"], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=20)
    rounds = parser.parse_args().rounds
    build_validators()
    figures = {
        "build_s": median_seconds(build_validators, rounds),
        "uncached_s": median_seconds(uncached_check, rounds),
        "repeated_s": median_seconds(check_specs, rounds),
        "command_s": median_seconds(run_command, max(3, rounds // 4)),
    }
    result = {
        "benchmark": "spec_validation",
        "rounds": rounds,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "median_wall_seconds": {name: round(value[0], 4) for name, value in figures.items()},
        "median_cpu_seconds": {name: round(value[1], 4) for name, value in figures.items()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, (wall, cpu) in figures.items():
        print(f"{name:>12}: wall {wall * 1000:8.1f} ms   cpu {cpu * 1000:8.1f} ms")
    print(f"load average (1 min) during the run: {result['load_average_1min']:.2f}; written to {RESULTS}")


if __name__ == "__main__":
    main()
