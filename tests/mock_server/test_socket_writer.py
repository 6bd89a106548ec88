"""socket_writer.py: deliveries sent at once and in order, back-pressure, cuts, heartbeats."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from stagecheck.mock_server.broker import Cut, InMemoryBroker
from stagecheck.mock_server.socket_writer import SocketWriter, pump

pytestmark = pytest.mark.anyio


class FakeSend:
    """An ASGI send that records texts; `hold()` makes the next send wait, as under back-pressure."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.gate: asyncio.Future[None] | None = None
        self.error: BaseException | None = None

    def hold(self) -> asyncio.Future[None]:
        self.gate = asyncio.get_running_loop().create_future()
        return self.gate

    async def __call__(self, message: dict[str, Any]) -> None:
        if self.error is not None:
            raise self.error
        gate = self.gate
        if gate is not None:
            self.gate = None
            await gate
        self.texts.append(message["text"])


async def test_deliveries_are_sent_at_once_in_order() -> None:
    send = FakeSend()
    writer = SocketWriter(send, None)
    for text in ("a", "b", "c"):
        writer.deliver(text)
    assert send.texts == ["a", "b", "c"]  # no await in between: sent eagerly
    writer.close()


async def test_deliveries_queue_behind_a_send_that_waits() -> None:
    send = FakeSend()
    writer = SocketWriter(send, None)
    gate = send.hold()
    writer.deliver("slow")
    writer.deliver("next")
    writer.deliver("last")
    assert send.texts == [] and writer.busy is not None
    gate.set_result(None)
    await asyncio.sleep(0.01)
    assert send.texts == ["slow", "next", "last"] and writer.busy is None
    writer.close()


async def test_a_cut_ends_the_writer_after_what_came_before_it() -> None:
    send = FakeSend()
    writer = SocketWriter(send, None)
    writer.deliver("a")
    writer.deliver(Cut(1011, "dropped"))
    writer.deliver("never")
    assert await writer.ended == Cut(1011, "dropped")
    assert send.texts == ["a"]


async def test_a_send_error_means_the_client_left() -> None:
    send = FakeSend()
    send.error = OSError("connection reset")
    writer = SocketWriter(send, None)
    writer.deliver("a")
    assert await writer.ended is None


async def test_an_unexpected_send_error_is_raised_to_the_handler() -> None:
    send = FakeSend()
    writer = SocketWriter(send, None)
    gate = send.hold()
    writer.deliver("a")
    gate.set_exception(KeyError("bug"))
    with pytest.raises(KeyError):
        await writer.ended


async def test_a_heartbeat_goes_out_only_when_idle() -> None:
    send = FakeSend()
    writer = SocketWriter(send, 0.03)
    await asyncio.sleep(0.045)
    writer.deliver("token")
    await asyncio.sleep(0.02)  # within 30 ms of the token: no heartbeat yet
    kinds = [orjson.loads(text)["type"] if text.startswith("{") else text for text in send.texts]
    assert kinds == ["heartbeat", "token"]
    await asyncio.sleep(0.03)
    assert orjson.loads(send.texts[-1])["type"] == "heartbeat"
    writer.close()


async def test_the_memory_subscription_pushes_queued_then_live_deliveries() -> None:
    broker = InMemoryBroker()
    record = await broker.create_task(1, "rewrite")
    await broker.token(record.task_id, "早")
    subscription = await broker.subscribe(1, "rewrite")  # the W5 snapshot is queued
    send = FakeSend()
    writer = SocketWriter(send, None)
    assert subscription.push_to(writer.deliver)
    await broker.token(record.task_id, "安")
    await broker.done(record.task_id)
    contents = [orjson.loads(text) for text in send.texts]
    assert [(m["type"], m.get("content")) for m in contents] == [("token", "早"), ("token", "安"), ("done", None)]
    assert contents[-1]["full_text"] == "早安"
    await subscription.close()
    writer.close()


class ReadOnlySubscription:
    """A subscription that can only be read (as Redis's), from a list."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    async def next(self, timeout: float | None = None) -> Any:
        if not self.items:
            await asyncio.sleep(3600)
        return self.items.pop(0)


async def test_pump_feeds_a_writer_from_a_read_only_subscription() -> None:
    send = FakeSend()
    writer = SocketWriter(send, None)
    task = asyncio.create_task(pump(ReadOnlySubscription(["a", "b", Cut(1000, "done")]), writer))  # type: ignore[arg-type]
    assert await writer.ended == Cut(1000, "done")
    assert send.texts == ["a", "b"]
    await asyncio.wait_for(task, 1)
