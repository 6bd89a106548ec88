"""CPU and memory of a process tree on this machine, sampled while a level runs.

Used for the target (the embedded mock, or `--target-pid`) so that the seed table's
"server load" row is a measurement, and for the load client itself (a saturated client
measures itself, not the server). CPU time is summed per pid over the tree (children
included, e.g. uvicorn workers); processes that appear mid-window are counted from
their first sample.
"""

from __future__ import annotations

import threading
import time

import psutil

from stagecheck.errors import ConfigError
from stagecheck.results.load_results import ProcessSample


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


class ProcessSampler:
    """Samples a process tree every `interval_s` between `start()` and `stop()`."""

    def __init__(self, pid: int, interval_s: float = 0.5) -> None:
        try:
            self.root = psutil.Process(pid)
        except psutil.Error as exc:
            raise ConfigError(f"--target-pid: no process {pid} on this machine") from exc
        self.pid = pid
        self.interval_s = interval_s
        self._cpu: dict[int, float] = {}
        self._cpu_start: dict[int, float] = {}
        self._rss_start = 0
        self._rss_peak = 0
        self._percents: list[float] = []
        self._processes = 1
        self._samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_at = 0.0
        self._last_total = 0.0
        self._started_at = 0.0

    def _read(self) -> tuple[float, int, int]:
        """(total CPU seconds counted so far, RSS bytes, processes) of the tree, now."""
        rss = 0
        processes = 0
        for process in _tree(self.root):
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    memory = process.memory_info().rss
            except psutil.Error:
                continue
            processes += 1
            rss += memory
            cpu = times.user + times.system
            self._cpu_start.setdefault(process.pid, cpu)
            self._cpu[process.pid] = cpu
        total = sum(self._cpu[pid] - self._cpu_start[pid] for pid in self._cpu)
        return total, rss, processes

    def start(self) -> ProcessSampler:
        total, rss, processes = self._read()
        self._rss_start = self._rss_peak = rss
        self._processes = processes
        self._last_at, self._last_total = time.monotonic(), total
        self._started_at = self._last_at
        self._thread = threading.Thread(target=self._run, name=f"sampler-{self.pid}", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        total, rss, processes = self._read()
        now = time.monotonic()
        elapsed = now - self._last_at
        if elapsed > 0:
            self._percents.append(100.0 * (total - self._last_total) / elapsed)
        self._last_at, self._last_total = now, total
        self._rss_peak = max(self._rss_peak, rss)
        self._processes = processes
        self._samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def stop(self) -> ProcessSample:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        total = self._last_total
        window = max(1e-9, self._last_at - self._started_at)
        return ProcessSample(
            pid=self.pid,
            processes=self._processes,
            cpu_seconds=round(total, 4),
            cpu_percent_mean=round(100.0 * total / window, 2),
            cpu_percent_peak=round(max(self._percents, default=0.0), 2),
            rss_start_bytes=self._rss_start,
            rss_peak_bytes=self._rss_peak,
            samples=self._samples,
        )
