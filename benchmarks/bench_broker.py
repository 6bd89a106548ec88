"""The task fan-out layer, side by side: in-memory broker in one process vs Redis across two.

For each case, `tasks` tasks publish `tokens` tokens each (all tasks at once) to M
subscribers of one project and stage, every subscriber receiving every token:
- memory: `InMemoryBroker`, producer and subscribers in this process (`--broker memory`);
- redis: `RedisBroker`, the producer in a second process, the subscribers here, one
  pub/sub connection fanned out locally (`--broker redis://...`, the multi-process mock).
Workloads: `burst` (20 tasks, tokens as fast as the producer can publish them) and
`paced` (10 tasks, 20 ms between a task's tokens, the mock's default pacing: 500 tokens/s
offered), to 1 to 1000 subscribers.

Each token's content is the CLOCK_MONOTONIC time at which it was published, shared by
processes on one machine, so lateness = arrival at the subscriber - publication.
Delivery rate = deliveries / (last arrival - first publication); "tokens to all" = tokens
that reached every subscriber per second over the same span. Figures go to
benchmarks/results/broker.json. Needs a Redis at --redis (keys under a fresh prefix,
deleted afterwards).

    .venv/bin/python benchmarks/bench_broker.py [--redis redis://127.0.0.1:6379/0] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from stagecheck.mock_server.broker import Broker, InMemoryBroker, Subscription
from stagecheck.mock_server.redis_broker import RedisBroker, RedisUnreachable, check_redis

RESULTS = Path(__file__).parent / "results" / "broker.json"
STAGE = "rewrite"
PROJECT = 1
CONTENT_AT = len('{"type":"token","content":"')  # orjson writes compact JSON, type first
STAMP = 17  # f"{time.monotonic():017.6f}"


async def produce(broker: Broker, tasks: int, tokens: int, delay_s: float) -> None:
    async def one() -> None:
        record = await broker.create_task(PROJECT, STAGE)
        await broker.started(record.task_id)
        start = time.monotonic()
        for n in range(tokens):
            if delay_s:
                wait = start + n * delay_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            await broker.token(record.task_id, f"{time.monotonic():017.6f}")
        await broker.done(record.task_id)

    await asyncio.gather(*(one() for _ in range(tasks)))


async def consume(subscription: Subscription, tasks: int, lateness: list[float], firsts: list[float]) -> int:
    """Read until `tasks` terminal messages; record each token's lateness. The token count."""
    ended = count = 0
    first = float("inf")
    while ended < tasks:
        delivery = await subscription.next(60)
        if not isinstance(delivery, str):
            raise RuntimeError(f"subscriber stalled or was cut: {delivery!r}")
        arrived = time.monotonic()
        if delivery[9] == "t":  # {"type":"token"
            published = float(delivery[CONTENT_AT : CONTENT_AT + STAMP])
            lateness.append(arrived - published)
            first = min(first, published)
            count += 1
        else:
            ended += 1
    firsts.append(first)
    return count


def summarise(
    label: str, subscribers: int, tasks: int, tokens: int, lateness: list[float], firsts: list[float], end: float
) -> dict[str, Any]:
    deliveries = len(lateness)
    expected = subscribers * tasks * tokens
    span = end - min(firsts)
    ordered = sorted(lateness)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3)

    return {
        "case": label,
        "subscribers": subscribers,
        "tasks": tasks,
        "tokens_per_task": tokens,
        "deliveries": deliveries,
        "lost": expected - deliveries,
        "span_s": round(span, 3),
        "deliveries_per_s": round(deliveries / span),
        "tokens_to_all_per_s": round(tasks * tokens / span),
        "lateness_ms": {
            "p50": pct(0.5),
            "p99": pct(0.99),
            "max": round(ordered[-1] * 1000, 3),
            "mean": round(statistics.fmean(ordered) * 1000, 3),
        },
    }


async def subscribe_all(broker: Broker, subscribers: int) -> list[Subscription]:
    return [await broker.subscribe(PROJECT, STAGE) for _ in range(subscribers)]


async def run_memory(subscribers: int, tasks: int, tokens: int, delay_s: float, label: str) -> dict[str, Any]:
    broker = InMemoryBroker()
    subs = await subscribe_all(broker, subscribers)
    lateness: list[float] = []
    firsts: list[float] = []
    readers = [asyncio.create_task(consume(s, tasks, lateness, firsts)) for s in subs]
    await produce(broker, tasks, tokens, delay_s)
    await asyncio.gather(*readers)
    end = time.monotonic()
    for s in subs:
        await s.close()
    return summarise(label, subscribers, tasks, tokens, lateness, firsts, end)


def _producer_process(url: str, prefix: str, tasks: int, tokens: int, delay_s: float) -> None:
    async def main() -> None:
        broker = RedisBroker(url, prefix=prefix)
        await broker.start()
        await produce(broker, tasks, tokens, delay_s)
        await broker.aclose()

    asyncio.run(main())


async def run_redis(url: str, subscribers: int, tasks: int, tokens: int, delay_s: float, label: str) -> dict[str, Any]:
    prefix = f"stagecheck-bench:{uuid.uuid4().hex[:10]}:"
    broker = RedisBroker(url, prefix=prefix)
    await broker.start()
    subs = await subscribe_all(broker, subscribers)
    lateness: list[float] = []
    firsts: list[float] = []
    readers = [asyncio.create_task(consume(s, tasks, lateness, firsts)) for s in subs]
    process = multiprocessing.get_context("spawn").Process(
        target=_producer_process, args=(url, prefix, tasks, tokens, delay_s)
    )
    process.start()
    try:
        await asyncio.gather(*readers)
        end = time.monotonic()
    finally:
        await asyncio.to_thread(process.join, 60)
        for s in subs:
            await s.close()
        await _delete_prefix(broker, prefix)
        await broker.aclose()
    if process.exitcode != 0:
        raise RuntimeError(f"the producer process failed with {process.exitcode}")
    return summarise(label, subscribers, tasks, tokens, lateness, firsts, end)


async def _delete_prefix(broker: RedisBroker, prefix: str) -> None:
    client = broker._client  # the benchmark's own keys, never a FLUSHALL
    keys = [key async for key in client.scan_iter(match=prefix + "*", count=500)]
    if keys:
        await client.delete(*keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true", help="smaller cases (a smoke run)")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    burst_tokens = max(10, int(100 * scale))
    paced_tokens = max(10, int(40 * scale))
    # burst: 20 tasks publishing flat out; paced: 10 tasks at 20 ms per token (500 tokens/s
    # offered), to as many subscribers as shown: where does lateness start to grow?
    cases: list[tuple[str, int, int, int, float]] = [("burst", m, 20, burst_tokens, 0.0) for m in (1, 10, 100)]
    cases += [("paced", m, 10, paced_tokens, 0.02) for m in (10, 100, 1000)]

    kinds = ["memory", "redis"]
    redis_error = None
    try:
        check_redis(args.redis)
    except RedisUnreachable as exc:
        # `make bench` runs every benchmark: without a Redis, say so and measure the rest.
        redis_error = str(exc)
        kinds.remove("redis")
        print(f"redis cases skipped: {exc}", flush=True)
    load_before = round(os.getloadavg()[0], 2)
    results: list[dict[str, Any]] = []
    for workload, subscribers, tasks, tokens, delay in cases:
        for kind in kinds:
            label = f"{kind}/{workload}"
            if kind == "memory":
                figure = asyncio.run(run_memory(subscribers, tasks, tokens, delay, label))
            else:
                figure = asyncio.run(run_redis(args.redis, subscribers, tasks, tokens, delay, label))
            results.append(figure)
            late = figure["lateness_ms"]
            print(
                f"{label:14} M={subscribers:5}  {figure['deliveries']:8} deliveries  "
                f"{figure['deliveries_per_s']:9,}/s  tokens {figure['tokens_to_all_per_s']:7,}/s  "
                f"lateness p50 {late['p50']:8.2f} ms  p99 {late['p99']:8.2f} ms  max {late['max']:8.2f} ms  "
                f"lost {figure['lost']}",
                flush=True,
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "bench_broker",
        "command": "benchmarks/bench_broker.py" + (" --quick" if args.quick else ""),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            # The machine is shared: the load before and after says how much the figures were crowded.
            "loadavg_1m_before": load_before,
            "loadavg_1m_after": round(os.getloadavg()[0], 2),
        },
        "redis": args.redis.split("@")[-1],
        "redis_skipped": redis_error,
        "results": results,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
