"""paced.py: eager coroutines and timed scripts on a shared pacer."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from stagecheck.mock_server.paced import PacedScript, Pacer, Script, run_eagerly

pytestmark = pytest.mark.anyio


async def _returns(value: Any, log: list[Any]) -> Any:
    log.append(value)
    return value


async def _waits_on(future: asyncio.Future[Any], log: list[Any]) -> Any:
    log.append("before")
    try:
        value = await future
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    log.append(("after", value))
    return value


async def test_a_coroutine_that_never_waits_runs_at_once() -> None:
    log: list[Any] = []
    assert run_eagerly(_returns(1, log)) is None
    assert log == [1]  # ran before run_eagerly returned


async def test_an_error_raised_before_waiting_is_raised_by_run_eagerly() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_eagerly(fails())


async def test_a_coroutine_that_waits_is_finished_by_a_task() -> None:
    log: list[Any] = []
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    pending = run_eagerly(_waits_on(future, log))
    assert pending is not None and log == ["before"]
    future.set_result(7)
    assert await pending == 7
    assert log == ["before", ("after", 7)]


async def test_an_error_after_waiting_fails_the_task() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    pending = run_eagerly(_waits_on(future, []))
    assert pending is not None
    future.set_exception(OSError("gone"))
    with pytest.raises(OSError, match="gone"):
        await pending


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    log: list[Any] = []
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    pending = run_eagerly(_waits_on(future, log))
    assert pending is not None
    await asyncio.sleep(0)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert log == ["before", "cancelled"] and future.cancelled()


async def test_a_future_is_wrapped_not_driven() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    pending = run_eagerly(future)
    assert pending is future


def _timed(loop: asyncio.AbstractEventLoop, offsets: list[float], seen: list[tuple[int, float, float]]) -> Script:
    start = loop.time()
    for index, offset in enumerate(offsets):
        due = start + offset
        yield due
        seen.append((index, due, loop.time()))


async def test_steps_run_in_order_and_never_before_they_are_due() -> None:
    loop = asyncio.get_running_loop()
    seen: list[tuple[int, float, float]] = []
    script = PacedScript(_timed(loop, [0.0, 0.01, 0.01, 0.03, 0.02], seen))
    await script.ended
    assert [index for index, _, _ in seen] == [0, 1, 2, 3, 4]
    for _, due, ran in seen:
        assert ran >= due - 1e-9


async def test_a_step_already_due_runs_without_waiting() -> None:
    loop = asyncio.get_running_loop()
    seen: list[tuple[int, float, float]] = []
    script = PacedScript(_timed(loop, [-1.0, -0.5], seen))
    assert script.ended.done()  # both ran inside the constructor
    assert len(seen) == 2


async def test_scripts_due_in_the_same_millisecond_share_one_timer() -> None:
    loop = asyncio.get_running_loop()
    at = loop.time() + 0.05
    seen: list[tuple[int, float, float]] = []

    def one(index: int) -> Script:
        yield at
        seen.append((index, at, loop.time()))

    scripts = [PacedScript(one(index)) for index in range(50)]
    pacer = Pacer.of(loop)
    assert len(pacer._buckets) == 1 and len(next(iter(pacer._buckets.values()))) == 50
    await asyncio.gather(*(script.ended for script in scripts))
    assert sorted(index for index, _, _ in seen) == list(range(50))


async def test_a_coroutine_step_runs_eagerly_and_holds_the_script_while_it_waits() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    log: list[Any] = []

    def script() -> Script:
        yield _returns("a", log)
        yield _waits_on(gate, log)
        yield _returns("b", log)

    paced = PacedScript(script())
    assert log == ["a", "before"]
    await asyncio.sleep(0.01)
    assert log == ["a", "before"] and not paced.ended.done()
    gate.set_result(None)
    await paced.ended
    assert log == ["a", "before", ("after", None), "b"]


async def test_an_error_in_a_step_is_thrown_into_the_script() -> None:
    caught: list[BaseException] = []

    async def fails() -> None:
        raise OSError("client gone")

    def script() -> Script:
        try:
            yield fails()
        except OSError as exc:
            caught.append(exc)

    paced = PacedScript(script())
    await paced.ended
    assert [str(exc) for exc in caught] == ["client gone"]


async def test_an_error_the_script_does_not_catch_fails_ended() -> None:
    def script() -> Script:
        yield asyncio.get_running_loop().time() + 0.005
        raise LookupError("bug")

    paced = PacedScript(script())
    with pytest.raises(LookupError, match="bug"):
        await paced.ended


async def test_cancel_stops_a_waiting_script_and_closes_it() -> None:
    loop = asyncio.get_running_loop()
    log: list[str] = []

    def script() -> Script:
        try:
            yield loop.time() + 0.02
            log.append("step ran")
        finally:
            log.append("closed")

    paced = PacedScript(script())
    pacer = Pacer.of(loop)
    assert any(paced in bucket for bucket in pacer._buckets.values())
    assert paced.cancel() is None
    assert paced.ended.done() and log == ["closed"]
    # Nothing of a cancelled script is kept until its slot comes (a client that left frees it).
    assert not any(paced in bucket for bucket in pacer._buckets.values())
    await asyncio.sleep(0.04)  # its slot comes and fires on nothing
    assert log == ["closed"]


async def test_cancel_cancels_the_step_that_waits_and_returns_it() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    log: list[Any] = []

    async def step() -> None:
        log.append("before")
        try:
            await gate
            log.append("after")
        finally:
            # Cancelled before its task first ran, the coroutine is closed where it waits.
            log.append("unwound")

    def script() -> Script:
        yield step()

    paced = PacedScript(script())
    pending = paced.cancel()
    assert pending is not None
    await asyncio.gather(pending, return_exceptions=True)
    assert log == ["before"] and paced.ended.done() and pending.cancelled()
    gate.set_result(None)
    await asyncio.sleep(0.01)
    assert log == ["before"]  # the step never goes on
    del pending
    gc.collect()
    assert log == ["before", "unwound"]


async def test_none_waits_until_cancelled() -> None:
    def script() -> Script:
        yield None

    paced = PacedScript(script())
    await asyncio.sleep(0.02)
    assert not paced.ended.done()
    paced.cancel()
    assert paced.ended.done()


def started_later() -> tuple[PacedScript, list[str]]:
    """A one-step script started with `start_now=False`, and the log its step writes to."""
    log: list[str] = []

    def script() -> Script:
        log.append("first step")
        yield None

    return PacedScript(script(), start_now=False), log


async def test_a_script_started_later_runs_on_the_loops_next_turn() -> None:
    paced, log = started_later()
    assert log == []  # the caller goes on first
    await asyncio.sleep(0)
    assert log == ["first step"]
    paced.cancel()


async def test_a_script_cancelled_before_its_turn_never_runs() -> None:
    paced, log = started_later()
    paced.cancel()
    await asyncio.sleep(0.01)
    assert log == [] and paced.ended.done()


async def test_cancel_between_a_step_ending_and_its_callback_is_safe() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    log: list[Any] = []

    def script() -> Script:
        yield _waits_on(gate, log)
        log.append("went on")

    paced = PacedScript(script())
    await asyncio.sleep(0)  # the step's task is waiting on the gate
    gate.set_result(None)
    await asyncio.sleep(0)  # the step ends; the script's callback is scheduled, not yet run
    paced.cancel()
    await asyncio.sleep(0.01)
    assert "went on" not in log and paced.ended.done() and paced.ended.exception() is None
