"""What the benchmarks share; imported as `_common` (a script's own folder is first on sys.path)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def write_results(path: Path, report: object) -> None:
    """Write `report` as indented JSON to `path` (folders made as needed) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def parse_pacing(doc: str, defaults: dict[str, int | float | str]) -> argparse.Namespace:
    """The script's options (`--users`, `--seconds`, the pacing ...), typed and ordered as `defaults`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        parser.add_argument(name, type=type(default), default=default)
    return parser.parse_args()


def prefer_of(args: argparse.Namespace) -> str:
    """The `Prefer` header that paces every task as the options ask."""
    return f"tokens={args.tokens}, delay-ms={args.delay_ms:g}, first-delay-ms={args.first_delay_ms:g}"


def command_of(script: str, args: argparse.Namespace, defaults: dict[str, int | float | str]) -> str:
    """The command line that reproduces this run, e.g. `benchmarks/bench_x.py --users 20 --seconds 8`."""
    words = [f"benchmarks/{Path(script).name}"]
    for name in defaults:
        value = getattr(args, name.removeprefix("--").replace("-", "_"))
        words.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
    return " ".join(words)
