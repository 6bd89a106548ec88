"""Capacity search: geometric growth then bisection to the knee, bounded, and honest about the client."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stagecheck.cli import cli
from stagecheck.load.capacity import CapacitySearch, level_breaks, search_mode
from stagecheck.load.gate import default_gate, judge, load_gate
from stagecheck.results.load_results import Distribution, LevelResult, LoadResults, ProcessSample, Slo


def level(users: int, processes: int = 1, *, failed: int = 0, ttft_ms: float = 50.0, cpu: float = 30.0) -> LevelResult:
    cpu_tree = cpu * processes
    client = ProcessSample(pid=1, processes=processes, cpu_seconds=1.0, cpu_percent_mean=cpu_tree,
                           cpu_percent_peak=cpu_tree, rss_start_bytes=0, rss_peak_bytes=0, samples=4)  # fmt: skip
    return LevelResult(
        mode="sse", users=users, processes=processes, window_s=2.0, ramp_s=0.1, streams=100, completed=100 - failed,
        failed=failed, incomplete=0, task_errors=0, tokens=1000, events=1100, good=100 - failed,
        ttft=Distribution(count=100, p50_us=int(ttft_ms * 800), p95_us=int(ttft_ms * 1000)),
        itl=Distribution(count=900, p50_us=18_000, p95_us=20_000), client=client,
    )  # fmt: skip


class FakeTarget:
    """Holds up to `capacity` users; beyond, streams fail. The client saturates beyond `client_max` per process."""

    def __init__(self, capacity: int, client_max: int = 10_000) -> None:
        self.capacity = capacity
        self.client_max = client_max
        self.tried: list[tuple[int, int]] = []

    def __call__(self, mode: str, users: int, processes: int, index: int) -> tuple[LevelResult, bool]:
        self.tried.append((users, processes))
        saturated = users > self.client_max * processes
        fails = users > self.capacity or saturated
        return level(users, processes, failed=5 if fails else 0, cpu=97.0 if saturated else 30.0), False


def search(target: FakeTarget, **kw) -> tuple:
    config = CapacitySearch(**{"start_users": 10, "max_users": 2000, "max_processes": 4, **kw})
    return search_mode("sse", target, config, default_gate(), Slo(), processes=1, deadline=1e9, cost_s=lambda u: 1.0)


@pytest.mark.parametrize("capacity", [37, 160, 10, 1999])
def test_the_knee_is_found_within_one_bisection_step(capacity: int) -> None:
    result, levels, interrupted = search(FakeTarget(capacity))
    assert not interrupted and result.stopped_by is None
    assert result.knee <= capacity < result.first_failed
    assert result.first_failed - result.knee <= max(2, 0.1 * result.knee)
    assert result.limiting is not None and result.limiting.metric == "error_rate"
    assert [s.phase for s in result.steps][:2] == ["grow", "grow"] and len(levels) == len(result.steps)


def test_a_target_that_holds_everything_stops_at_max_users() -> None:
    result, _, _ = search(FakeTarget(10_000), max_users=300)
    assert (result.knee, result.first_failed, result.stopped_by) == (300, None, "max-users")
    assert "--max-users 300" in result.note


def test_the_first_level_failing_bisects_downwards() -> None:
    result, _, _ = search(FakeTarget(3), start_users=50)
    assert result.knee <= 3 < result.first_failed and result.first_failed - result.knee <= 2


def test_a_saturated_client_gets_more_processes_and_the_level_is_run_again() -> None:
    target = FakeTarget(capacity=500, client_max=100)  # one process drives 100 users at most
    result, _, _ = search(target)
    retried = [step for step in result.steps if step.phase == "retry"]
    assert retried and retried[0].processes == 2
    assert (160, 1) in target.tried and (160, 2) in target.tried
    # Four processes drive 400 users: beyond, the client is the limit, and the result says so.
    assert result.knee <= 400 < result.first_failed and result.client_limited
    assert "the client, not the target, was the limit" in result.note


class NoisyLatencyTarget:
    """Holds up to `capacity` users, but the first try at `blip` users misses the TTFT SLO (other work)."""

    def __init__(self, capacity: int, blip: int, *, fail_with_errors: bool = False) -> None:
        self.capacity, self.blip, self.fail_with_errors = capacity, blip, fail_with_errors
        self.tried: list[int] = []

    def __call__(self, mode: str, users: int, processes: int, index: int) -> tuple[LevelResult, bool]:
        first_blip = users == self.blip and users not in self.tried
        self.tried.append(users)
        if users > self.capacity:
            return level(users, processes, ttft_ms=3000.0), False
        if first_blip:
            return level(users, processes, failed=5 if self.fail_with_errors else 0, ttft_ms=1500.0), False
        return level(users, processes), False


def test_a_latency_only_miss_is_confirmed_once_and_a_blip_does_not_set_the_knee() -> None:
    target = NoisyLatencyTarget(capacity=300, blip=80)
    result, _, _ = search(target)
    assert target.tried.count(80) == 2 and [s.phase for s in result.steps].count("confirm") >= 1
    assert result.knee <= 300 < result.first_failed and result.knee >= 270
    # A real knee is confirmed too, and still stops the growth: both tries at the first level above it failed.
    above = [s for s in result.steps if s.users == result.first_failed]
    assert [s.held for s in above] == [False, False] and above[-1].phase == "confirm"


def test_errors_are_never_retried_as_noise() -> None:
    target = NoisyLatencyTarget(capacity=300, blip=80, fail_with_errors=True)
    result, _, _ = search(target)
    assert target.tried.count(80) == 1 and result.knee < 80


def lagging_level(users: int, processes: int, share: float) -> LevelResult:
    """A level whose users were in a stream `share` of the time: 2 s streams, window 10 s, CPU 60 %."""
    base = level(users, processes, cpu=60.0)
    streams = round(share * users * 10.0 / 2.0)
    return dataclasses.replace(
        base, window_s=10.0, streams=streams, completed=streams, good=streams,
        e2e=Distribution(count=streams, mean_us=2_000_000.0, p95_us=2_100_000),
    )  # fmt: skip


def test_a_client_that_cannot_keep_its_users_streaming_is_saturated_whatever_its_cpu() -> None:
    tried: list[tuple[int, int]] = []

    def target(mode: str, users: int, processes: int, index: int) -> tuple[LevelResult, bool]:
        tried.append((users, processes))
        return lagging_level(users, processes, 1.0 if users <= 150 * processes else 0.6), False

    config = CapacitySearch(start_users=50, max_users=2000, max_processes=2)
    result, _, _ = search_mode("sse", target, config, default_gate(), Slo(), processes=1, deadline=1e9,
                               cost_s=lambda u: 1.0)  # fmt: skip
    assert (200, 1) in tried and (200, 2) in tried  # lagging at 200 with one process: again with two
    assert result.knee <= 300 < result.first_failed and result.client_limited
    assert result.limiting is not None and result.limiting.metric == "streaming_share"
    assert "kept only 60% of its users streaming" in result.note and "Little's law" in result.limiting.text


def test_the_streaming_share_is_littles_law() -> None:
    assert lagging_level(100, 1, 0.8).streaming_share == pytest.approx(0.8)
    assert level(10).streaming_share is None  # no E2E recorded
    broken = level_breaks(lagging_level(100, 1, 0.8), {}, Slo(), 0.9)
    assert [b.metric for b in broken] == ["streaming_share"]
    assert level_breaks(lagging_level(100, 1, 0.8), {}, Slo()) == []  # a plain sweep does not judge it


def test_the_search_is_bounded_by_steps_and_time() -> None:
    result, levels, _ = search(FakeTarget(1500), max_steps=3)
    assert result.stopped_by == "max-steps" and len(levels) == 3
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0
        return now[0]

    config = CapacitySearch(start_users=10, max_users=2000)
    result, levels, _ = search_mode(
        "sse", FakeTarget(1500), config, default_gate(), Slo(), processes=1, deadline=45.0, cost_s=lambda u: 5.0,
        clock=clock,
    )  # fmt: skip
    assert result.stopped_by == "max-time" and len(levels) == 4  # the 5th would start at 50 s, end at 55 > 45


def test_the_limiting_figure_is_named_with_its_value() -> None:
    broken = level_breaks(level(10, ttft_ms=1500.0), {"max_violations": 0, "max_error_rate": 0.0}, Slo())
    assert [(b.metric, b.value, b.limit) for b in broken] == [("ttft_p95_ms", 1500.0, 1000.0)]
    assert broken[0].text == "TTFT p95 1500.0 ms > SLO 1000 ms"


def test_min_capacity_and_a_capacity_regression_are_gated(tmp_path: Path) -> None:
    result, levels, _ = search(FakeTarget(160))
    results = LoadResults("2026-01-01T00:00:00+00:00", "http://t", "external", {}, Slo(), tuple(levels),
                          capacity=(result,))  # fmt: skip
    assert judge(results).passed  # the levels that failed on purpose are not breaches
    gate_file = tmp_path / "gate.toml"
    gate_file.write_text("[limits.sse]\nmin_capacity = 200\n", encoding="utf-8")
    breaches = judge(results, load_gate(gate_file)).breaches
    assert [(b.metric, b.value, b.limit) for b in breaches] == [("min_capacity", float(result.knee), 200.0)]
    better, more_levels, _ = search(FakeTarget(400))
    baseline = LoadResults("2026-01-01T00:00:00+00:00", "http://t", "external", {}, Slo(), tuple(more_levels),
                           capacity=(better,))  # fmt: skip
    regressed = judge(results, None, baseline).breaches  # default: the knee may drop 25 %
    assert [(b.metric, b.source) for b in regressed] == [("capacity", "baseline")]
    data = results.to_json()
    assert set(data["capacity"]) == {"sse"} and data["capacity"]["sse"]["knee"] == result.knee
    assert LoadResults.from_json(json.loads(json.dumps(data))) == results


@pytest.mark.slow
def test_find_capacity_finds_a_known_limit_per_mode(toy_server, tmp_path: Path) -> None:
    # The toy server refuses streams beyond 8 at once (SSE: 503, WebSocket: close 1013).
    server = toy_server("--fault", "refuse", "--limit", "8")
    out = tmp_path / "r"
    result = CliRunner().invoke(
        cli,
        ["load", "--base-url", server.base_url, "--find-capacity", "--users", "2", "--max-users", "64",
         "--duration", "1500ms", "--spawn-rate", "50", "--prefer", "tokens=6, delay-ms=15",
         "--report-dir", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "capacity search of sse, ws" in result.output  # the estimate, at the start
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for mode in ("sse", "ws"):
        found = data["capacity"][mode]
        assert 6 <= found["knee"] <= 8 < found["first_failed"], found  # within one bisection step (2 users)
        # Refused streams: a 503 is also an E3 violation (SSE), a close 1013 an incomplete stream (WS).
        assert found["limiting"]["metric"] in ("violations", "error_rate") and found["stopped_by"] is None
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Capacity search: latency against users" in html and 'class="knee"' in html
    assert "SSE knee" in html and "WS knee" in html
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "## Capacity" in summary and "did not hold" in summary
