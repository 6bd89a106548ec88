"""Sans-I/O Server-Sent Events parser: bytes in, timestamped events out.

Follows the WHATWG event-stream rules (any of CRLF, LF, CR ends a line; a blank line
dispatches; an event with no data line is not dispatched; one leading space is
stripped from values). Each event is stamped with the arrival time of the chunk that
carried the first byte of its first field line, so TTFT and inter-token gaps measure
the network, not the parser. Invalid UTF-8 becomes U+FFFD, which rule Q4 reports.
"""

from __future__ import annotations

import codecs
import re

from .events import SseComment, SseEvent

_LINE_END = re.compile(r"\r\n|\r|\n")


class SseParser:
    """Incremental parser; feed it chunks as they arrive, in order."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False
        self._skip_lf = False
        self._partial = ""
        self._partial_at = 0.0
        self._reset_event()

    def _reset_event(self) -> None:
        self._event_at: float | None = None
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes, at: float) -> list[SseEvent | SseComment]:
        """Parse one chunk received at time `at`; return the events it completed."""
        return self._feed_text(self._decoder.decode(chunk), at)

    def close(self, at: float) -> list[SseEvent | SseComment]:
        """End of stream. A final event without its blank line is discarded (per the spec)."""
        out = self._feed_text(self._decoder.decode(b"", final=True), at)
        self.pending = bool(self._partial or self._data)
        self._partial = ""
        self._reset_event()
        return out

    pending = False
    """After close(): True when the stream ended in the middle of an event."""

    def _feed_text(self, text: str, at: float) -> list[SseEvent | SseComment]:
        if not self._started and text:
            self._started = True
            if text.startswith("\ufeff"):
                text = text[1:]
        if self._skip_lf and text:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        out: list[SseEvent | SseComment] = []
        if not text:
            return out
        lines = _LINE_END.split(self._partial + text)
        first_at = self._partial_at if self._partial else at
        tail = lines.pop()
        if not lines:
            # No line ended in this chunk: the partial line keeps its original start time.
            self._partial_at = first_at
        else:
            self._partial_at = at
        self._partial = tail
        # A CR at the very end may be the first half of a CRLF split across chunks.
        self._skip_lf = text.endswith("\r")
        for number, line in enumerate(lines):
            self._line(line, first_at if number == 0 else at, out)
        return out

    def _line(self, line: str, at: float, out: list[SseEvent | SseComment]) -> None:
        if not line:
            if self._data:
                assert self._event_at is not None
                out.append(SseEvent(self._event_at, "\n".join(self._data), self._event, self._id, self._retry))
            self._reset_event()
            return
        if line[0] == ":":
            out.append(SseComment(at, line[1:].strip()))
            return
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if self._event_at is None:
            self._event_at = at
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
