"""Generated streams: conforming ones pass; one mutation anywhere is always caught."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stagecheck.contracts.events import (
    RequestSent,
    ResponseHead,
    SseEvent,
    StreamClosed,
    StreamEvent,
    WsMessage,
    WsOpened,
)
from stagecheck.contracts.sse_parser import SseParser
from tests.contracts.samples import SSE, SSE_HEADERS, TASK, WS, connected, payloads, run

# Text as a backend produces it: any code point but surrogates and U+FFFD, with CJK and
# emoji drawn often enough to matter.
CODE_POINTS = st.one_of(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffd"),
    st.sampled_from("改写分镜头生成图像视频运镜你好世界，。"),
    st.sampled_from(["😀", "👋", "🎬"]),
)
# A token: a few code points, sometimes whole multi-code-point emoji (ZWJ sequences, flags).
PIECE = st.lists(st.one_of(CODE_POINTS, st.sampled_from(["👩\u200d💻", "🇨🇳"])), min_size=1, max_size=8).map("".join)
PIECES = st.lists(PIECE, min_size=1, max_size=30)
SHORT_PIECES = st.lists(PIECE, min_size=2, max_size=15)


def sse_bytes(items: list[dict[str, Any]], keepalives: list[bool]) -> bytes:
    out = []
    for n, payload in enumerate(items):
        if keepalives[n % len(keepalives)]:
            out.append(": keep-alive\n\n")
        out.append(f"id: {n + 1}\nevent: {payload['type']}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n")
    return "".join(out).encode()


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> list[bytes]:
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(body) - 1)), max_size=20)))
    edges = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges) if a < b]


def parse_stream(chunks: list[bytes]) -> list[StreamEvent]:
    parser = SseParser()
    events: list[StreamEvent] = [RequestSent(0.0), ResponseHead(0.01, 200, SSE_HEADERS)]
    t = 0.02
    for chunk in chunks:
        events += parser.feed(chunk, t)
        t += 0.001
    events += parser.close(t)
    events.append(StreamClosed(t))
    return events


@settings(max_examples=75, deadline=None)
@given(
    data=st.data(),
    pieces=PIECES,
    terminal=st.sampled_from(["done", "error"]),
    keepalives=st.lists(st.booleans(), min_size=1, max_size=5),
)
def test_generated_sse_stream_through_the_parser_passes(
    data: st.DataObject, pieces: list[str], terminal: str, keepalives: list[bool]
) -> None:
    body = sse_bytes(payloads(pieces, terminal=terminal), keepalives)
    events = parse_stream(data.draw(chunked(body)))
    assert run(events, SSE) == []


@settings(max_examples=75, deadline=None)
@given(pieces=PIECES, beats=st.lists(st.integers(0, 40), max_size=5), pongs=st.lists(st.integers(0, 40), max_size=3))
def test_generated_ws_subscription_passes(pieces: list[str], beats: list[int], pongs: list[int]) -> None:
    items: list[dict[str, Any]] = payloads(pieces, task_id=TASK)
    for position in sorted(beats, reverse=True):
        items.insert(min(position, len(items)), {"type": "heartbeat", "ts": 1.0})
    for position in sorted(pongs, reverse=True):
        items.insert(min(position, len(items)), {"type": "pong"})
    events: list[StreamEvent] = [RequestSent(0.0), WsOpened(0.01)]
    events += [
        WsMessage(0.02 + n * 0.001, json.dumps(p, ensure_ascii=False)) for n, p in enumerate([connected(), *items])
    ]
    assert run(events, WS) == []


MUTATIONS = ["drop", "duplicate", "swap", "truncate", "corrupt"]


def mutate(items: list[Any], how: str, at: int) -> list[Any]:
    out = list(items)
    if how == "drop":
        del out[at]
    elif how == "duplicate":
        out.insert(at, out[at])
    elif how == "swap":
        at = min(at, len(out) - 2)
        out[at], out[at + 1] = out[at + 1], out[at]
    elif how == "truncate":
        out = out[: min(at, len(out) - 1)]
    elif how == "corrupt":
        out[at] = "{corrupt"
    return out


@settings(max_examples=150, deadline=None)
@given(pieces=SHORT_PIECES, how=st.sampled_from(MUTATIONS), where=st.integers(0, 100))
def test_any_single_mutation_of_an_sse_stream_is_caught(pieces: list[str], how: str, where: int) -> None:
    items = [json.dumps(p, ensure_ascii=False) for p in payloads(pieces)]
    mutated = mutate(items, how, where % len(items))
    events: list[StreamEvent] = [RequestSent(0.0), ResponseHead(0.01, 200, SSE_HEADERS)]
    for n, data in enumerate(mutated):
        kind = json.loads(data)["type"] if data.startswith('{"') else "token"
        events.append(SseEvent(0.02 + n * 0.001, data, kind, None))
    events.append(StreamClosed(0.5))
    assert run(events, SSE), f"{how} at {where % len(items)} went unnoticed"


@settings(max_examples=150, deadline=None)
@given(pieces=SHORT_PIECES, how=st.sampled_from(MUTATIONS), where=st.integers(0, 100))
def test_any_single_mutation_of_a_ws_subscription_is_caught(pieces: list[str], how: str, where: int) -> None:
    items = [json.dumps(p, ensure_ascii=False) for p in [connected(), *payloads(pieces, task_id=TASK)]]
    mutated = mutate(items, how, where % len(items))
    events: list[StreamEvent] = [RequestSent(0.0), WsOpened(0.01)]
    events += [WsMessage(0.02 + n * 0.001, text) for n, text in enumerate(mutated)]
    assert run(events, WS), f"{how} at {where % len(items)} went unnoticed"
