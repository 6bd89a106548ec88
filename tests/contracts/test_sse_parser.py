"""The sans-I/O SSE parser: framing, field rules, chunk boundaries and timestamps."""

from __future__ import annotations

from stagecheck.contracts.events import SseComment, SseEvent
from stagecheck.contracts.sse_parser import SseParser


def parse(*chunks: bytes) -> list[SseEvent | SseComment]:
    parser = SseParser()
    out: list[SseEvent | SseComment] = []
    for n, chunk in enumerate(chunks):
        out += parser.feed(chunk, float(n))
    out += parser.close(float(len(chunks)))
    return out


def test_one_event_with_all_fields() -> None:
    [event] = parse(b'id: 7\nevent: token\nretry: 1500\ndata: {"a": 1}\n\n')
    assert event == SseEvent(0.0, '{"a": 1}', "token", "7", 1500)


def test_crlf_and_cr_line_endings() -> None:
    events = parse(b"event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r")
    assert [(e.event, e.data) for e in events if isinstance(e, SseEvent)] == [("a", "1"), ("b", "2")]


def test_crlf_split_across_chunks_is_one_line_break() -> None:
    events = parse(b"data: 1\r", b"\n\r", b"\ndata: 2\n\n")
    assert [e.data for e in events if isinstance(e, SseEvent)] == ["1", "2"]


def test_comments_are_not_events_and_may_sit_inside_an_event() -> None:
    events = parse(b": keep-alive\n\nevent: token\n: in between\ndata: x\n\n")
    assert events[0] == SseComment(0.0, "keep-alive")
    assert events[1] == SseComment(0.0, "in between")
    assert isinstance(events[2], SseEvent) and events[2].data == "x"


def test_multi_line_data_is_joined_with_newlines() -> None:
    [event] = parse(b"data: a\ndata:b\ndata:  c\n\n")
    assert isinstance(event, SseEvent) and event.data == "a\nb\n c"


def test_event_without_data_is_not_dispatched_and_empty_data_is() -> None:
    events = parse(b"event: nothing\n\ndata:\n\n")
    assert events == [SseEvent(0.0, "", None, None)]


def test_utf8_split_mid_character_and_bom() -> None:
    body = '\ufeffdata: {"t": "世界👋"}\n\n'.encode()
    chunks = [body[i : i + 1] for i in range(len(body))]
    [event] = parse(*chunks)
    assert isinstance(event, SseEvent) and event.data == '{"t": "世界👋"}'


def test_invalid_utf8_becomes_replacement_character() -> None:
    [event] = parse(b"data: \xff\n\n")
    assert isinstance(event, SseEvent) and event.data == "\ufffd"


def test_event_is_stamped_at_the_arrival_of_its_first_byte() -> None:
    parser = SseParser()
    assert parser.feed(b"event: tok", 1.0) == []
    assert parser.feed(b"en\ndata: x", 2.0) == []
    [event] = parser.feed(b"\n\n", 3.0)
    assert isinstance(event, SseEvent) and event.at == 1.0 and event.event == "token"
    [second] = parser.feed(b"data: y\n\n", 4.0)
    assert isinstance(second, SseEvent) and second.at == 4.0


def test_unfinished_event_at_close_is_discarded_and_flagged() -> None:
    parser = SseParser()
    assert parser.feed(b"data: half", 0.0) == []
    assert parser.close(1.0) == []
    assert parser.pending


def test_id_with_nul_is_ignored_and_bad_retry_is_ignored() -> None:
    [event] = parse(b"id: a\x00b\nretry: soon\ndata: x\n\n")
    assert isinstance(event, SseEvent) and event.id is None and event.retry is None


def test_field_without_colon_and_unknown_fields_are_ignored() -> None:
    [event] = parse(b"data\nfoo: bar\ndata: x\n\n")
    assert isinstance(event, SseEvent) and event.data == "\nx"
