"""What the user saw of one dropped and recovered stream, by text position (no I/O).

The guide's frontend renders `full_text` on every token and on done. `account` takes the
text events the client got before the drop and after the reconnect and counts, against
the final text (done's `full_text`; the unbroken run's text when no done came):

- seen twice: a token after the reconnect whose `full_text` is no longer than the
  longest text already shown (SSE's new generation repeats the first k). A resumed
  socket's W5 snapshot restates the text by design and is not counted;
- never seen: positions of the final text that no event delivered before the final text.
  A token delivers the positions of its `content` (the end of its `full_text`); a snapshot
  (the resumed socket's first token, `content == full_text`) delivers all of them; done
  delivers them only when it is the first thing a resumed socket gets (W5: the task had
  ended). An event whose `full_text` is not a prefix of the final text delivers nothing (a
  wrong snapshot). Counted in tokens: each token of the unbroken run that holds an
  undelivered position, and each undelivered run of text beyond it;
- text matches: the final text equals the unbroken run's and every position was
  delivered (the user read it as it came, no jump); final matches: done's text alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class TextEvent:
    """A token or done of the followed task, as the client received it."""

    kind: Literal["token", "done"]
    full_text: str
    content: str = ""


@dataclass(frozen=True, slots=True)
class TextAccount:
    seen_twice: int
    never_seen: int
    text_matches: bool
    final_matches: bool


def account(
    before: Sequence[TextEvent],
    after: Sequence[TextEvent],
    reference: Sequence[str],
    *,
    resumed_socket: bool,
) -> TextAccount:
    """Count one stream. `reference`: the unbroken run's token `full_text`s, in order.

    `resumed_socket`: the events after the reconnect come from a reopened WebSocket (its
    first token may be a snapshot, its first event may be an ended task's done).
    """
    reference_text = reference[-1] if reference else ""
    done = next((e.full_text for e in after if e.kind == "done"), None)
    final = done if done is not None else reference_text
    delivered = bytearray(len(final))
    shown = max((len(e.full_text) for e in before), default=0)
    for event in before:
        _deliver(delivered, final, event, whole=False)
    seen_twice = 0
    for index, event in enumerate(after):
        first = index == 0 and resumed_socket
        snapshot = first and event.kind == "token" and event.content == event.full_text
        if event.kind == "token":
            if not snapshot and len(event.full_text) <= shown:
                seen_twice += 1
            shown = max(shown, len(event.full_text))
            _deliver(delivered, final, event, whole=snapshot)
        elif first:  # done right after connected: the task ended during the outage (W5)
            _deliver(delivered, final, event, whole=True)
    never_seen = _tokens_with_gaps(delivered, reference)
    final_matches = done is not None and done == reference_text
    return TextAccount(seen_twice, never_seen, final_matches and never_seen == 0, final_matches)


def _deliver(delivered: bytearray, final: str, event: TextEvent, *, whole: bool) -> None:
    text = event.full_text
    if event.kind != "token" and not whole:
        return
    if not final.startswith(text):
        return  # not the final text's prefix: what it showed was wrong
    start = 0 if whole else max(0, len(text) - len(event.content))
    delivered[start : len(text)] = b"\x01" * (len(text) - start)


def _tokens_with_gaps(delivered: bytearray, reference: Sequence[str]) -> int:
    count = 0
    start = 0
    for text in reference:
        end = min(len(text), len(delivered))
        if start < end and 0 in delivered[start:end]:
            count += 1
        start = max(start, len(text))
    # Text beyond the unbroken run (another text): one token per undelivered run.
    in_gap = False
    for flag in delivered[start:]:
        if not flag and not in_gap:
            count += 1
        in_gap = not flag
    return count
