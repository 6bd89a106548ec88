"""Text throughput of SSE against WebSocket on the embedded mock, in the unit both share.

A late WebSocket join gets the W5 snapshot, one token holding all text so far, so tokens/s
cannot compare the modes; characters of text per second can (each completed stream's
`full_text`). This runs `stagecheck load` at each `--users` level, both modes streaming the
same input at the same pacing (`--tokens`, `--delay-ms`, the mock's `Prefer`), for
`--rounds` rounds, and prints per level and round SSE chars/s, WebSocket chars/s and how
far apart they are (|ws - sse| / sse), then the spread over the rounds. The issue's target:
within 5 % at 10 and 200 users.

Writes benchmarks/results/mode_throughput.json. Each round costs about 2 x levels x
(--seconds + 6) s: the default (2 levels, 3 rounds, 10 s) takes about 3 minutes.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import command_of, parse_pacing, write_results

DEFAULTS: dict[str, int | float | str] = {
    "--users": "10,200",
    "--rounds": 3,
    "--seconds": 10,
    "--tokens": 20,
    "--delay-ms": 50.0,
}
RESULTS = Path(__file__).parent / "results" / "mode_throughput.json"


def one_round(users: tuple[int, ...], seconds: int, prefer: str) -> dict[int, dict[str, float]]:
    """One `stagecheck load` over every level, both modes: chars/s and more per (users, mode)."""
    with tempfile.TemporaryDirectory() as report_dir:
        command = [
            sys.executable, "-m", "stagecheck", "load",
            "--users", ",".join(str(u) for u in users),
            "--duration", f"{seconds}s",
            "--prefer", prefer,
            "--report-dir", report_dir,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 1):
            raise SystemExit(f"stagecheck load exited {done.returncode}:\n{done.stderr[-2000:]}")
        results = json.loads((Path(report_dir) / "results.json").read_text(encoding="utf-8"))
    figures: dict[int, dict[str, float]] = {}
    for level in results["levels"]:
        window = level["window_s"]
        figures.setdefault(level["users"], {}).update(
            {
                f"{level['mode']}_chars_per_s": level["chars"] / window,
                f"{level['mode']}_streams": level["streams"],
                f"{level['mode']}_late_joins": level["late_joins"],
                f"{level['mode']}_errors": level["failed"] + level["incomplete"] + level["task_errors"],
            }
        )
    return figures


def main() -> None:
    args = parse_pacing(__doc__ or "", DEFAULTS)
    users = tuple(int(part) for part in args.users.split(","))
    prefer = f"tokens={args.tokens}, delay-ms={args.delay_ms:g}"
    rounds: list[dict[int, dict[str, float]]] = []
    for number in range(1, args.rounds + 1):
        figures = one_round(users, args.seconds, prefer)
        rounds.append(figures)
        for level_users, row in sorted(figures.items()):
            sse, ws = row.get("sse_chars_per_s", 0.0), row.get("ws_chars_per_s", 0.0)
            row["gap"] = abs(ws - sse) / sse if sse else float("nan")
            print(
                f"round {number} {level_users:>4} users: SSE {sse:8.0f} chars/s  WS {ws:8.0f} chars/s  "
                f"apart {row['gap']:.1%}  (late WS joins {row.get('ws_late_joins', 0):.0f})",
                flush=True,
            )
    summary = {}
    for level_users in users:
        gaps = [r[level_users]["gap"] for r in rounds if level_users in r]
        summary[level_users] = {"gap_min": min(gaps), "gap_median": statistics.median(gaps), "gap_max": max(gaps)}
        print(
            f"{level_users:>4} users over {len(gaps)} rounds: apart {min(gaps):.1%} .. {max(gaps):.1%} "
            f"(median {statistics.median(gaps):.1%})"
        )
    write_results(
        RESULTS,
        {
            "command": command_of(__file__, args, DEFAULTS),
            "prefer": prefer,
            "rounds": [{str(k): v for k, v in r.items()} for r in rounds],
            "summary": {str(k): v for k, v in summary.items()},
        },
    )


if __name__ == "__main__":
    main()
