"""How many events per second the rules core validates on one core (issue target: 200,000).

Feeds 10,000 streams of 100 tokens plus a terminal event (1,010,000 events per
transport), schema validation (M1) included, and prints events/s for SSE and
WebSocket. Figures go to benchmarks/results/rules_core.json.

    .venv/bin/python benchmarks/bench_rules_core.py [--streams 10000] [--tokens 100]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from stagecheck.contracts.events import SseEvent, StreamClosed, StreamEvent, WsMessage
from stagecheck.contracts.stream_rules import Expectation, StreamValidator

RESULTS = Path(__file__).parent / "results" / "rules_core.json"
TASK = "6f1c2b9e-1111-4222-8333-944455556666"


def stream_payloads(tokens: int, seed: int) -> list[dict[str, Any]]:
    text = ""
    out: list[dict[str, Any]] = []
    for n in range(tokens):
        piece = ("改写", "word ", "🎬", "ab")[(n + seed) % 4]
        text += piece
        out.append({"type": "token", "content": piece, "full_text": text, "task_id": TASK})
    out.append({"type": "done", "full_text": text, "task_id": TASK})
    return out


def build(transport: str, tokens: int) -> list[StreamEvent]:
    # One stream's events, reused for every stream: building a million events would
    # measure the benchmark's setup, not the validator.
    events: list[StreamEvent] = []
    if transport == "ws":
        events.append(WsMessage(0.0, json.dumps({"type": "connected", "project_id": 1, "stage_name": "rewrite"})))
    for n, payload in enumerate(stream_payloads(tokens, 0)):
        data = json.dumps(payload, ensure_ascii=False)
        at = 0.001 * (n + 1)
        if transport == "sse":
            events.append(SseEvent(at, data, payload["type"], str(n + 1)))
        else:
            events.append(WsMessage(at, data))
    events.append(StreamClosed(0.001 * (tokens + 2), by_client=True))
    return events


def measure(transport: str, streams: int, tokens: int) -> dict[str, float]:
    events = build(transport, tokens)
    expect = Expectation(transport, task_ids=frozenset({TASK}) if transport == "ws" else frozenset())  # type: ignore[arg-type]
    counted = sum(1 for e in events if not isinstance(e, StreamClosed))
    violations = 0
    start = time.perf_counter()
    for _ in range(streams):
        validator = StreamValidator(expect)
        feed = validator.feed
        for event in events:
            feed(event)
        validator.finish(1.0)
        violations += len(validator.violations)
    elapsed = time.perf_counter() - start
    assert violations == 0, f"the benchmark stream should conform, got {violations} violations"
    total = streams * counted
    return {"events": total, "seconds": round(elapsed, 3), "events_per_s": round(total / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=100)
    args = parser.parse_args()
    figures: dict[str, Any] = {
        "benchmark": "rules_core",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "streams": args.streams,
        "tokens_per_stream": args.tokens,
        "target_events_per_s": 200_000,
    }
    for transport in ("sse", "ws"):
        result = measure(transport, args.streams, args.tokens)
        figures[transport] = result
        events, seconds, rate = result["events"], result["seconds"], result["events_per_s"]
        print(f"{transport:>3}: {events:>9,} events in {seconds:6.2f} s = {rate:>9,} events/s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
