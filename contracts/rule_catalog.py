"""Every rule id of PROTOCOL.md with its section and a one-line title.

Reports and JUnit name test cases from this table; the checks themselves live in
`stream_rules` (stream level) and `http_rules` (single HTTP exchanges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Transport = Literal["http", "sse", "ws"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    section: str
    title: str
    transports: tuple[Transport, ...]


RULES: tuple[Rule, ...] = (
    Rule("E1", "0", "4xx/5xx bodies are {error, code, detail?}", ("http",)),
    Rule("E2", "0", "missing/invalid credentials: 401, WebSocket close 4401", ("http", "ws")),
    Rule("E3", "0", "no 5xx answer to any request", ("http",)),
    Rule("E4", "1", "execute-stage answers: 400/404/415/202/200 as specified", ("http",)),
    Rule("S1", "2", "event is token/done/error and data.type matches it", ("sse",)),
    Rule("S2", "2", "id, when present, counts 1, 2, 3 ...", ("sse",)),
    Rule("S3", "2", "keep-alives are comment lines, not events", ("sse",)),
    Rule("S4", "2", "stream ends within the bound after its terminal event, never without one", ("sse",)),
    Rule("S5", "2", "events are flushed as produced, not buffered", ("sse",)),
    Rule("S6", "1", "Cache-Control: no-cache (MUST), X-Accel-Buffering: no (SHOULD)", ("sse",)),
    Rule("M1", "3", "every message matches its schema; no unknown types", ("sse", "ws")),
    Rule("Q1", "4", "grammar token* (done|error); nothing after the terminal event", ("sse", "ws")),
    Rule("Q2", "4", "full_text accumulates content; the first token has full_text == content", ("sse", "ws")),
    Rule("Q3", "4", "done.full_text equals the last token's full_text", ("sse", "ws")),
    Rule("Q4", "4", "text is Unicode-exact: no replacement characters or split code points", ("sse", "ws")),
    Rule("Q5", "4", "WebSocket messages carry the task_id the POST returned", ("ws",)),
    Rule("Q6", "4", "first event and every gap within the configured bounds", ("sse", "ws")),
    Rule("W1", "5", "unknown stage or project: close 4404 with a reason", ("ws",)),
    Rule("W2", "5", "connected is the first message", ("ws",)),
    Rule("W3", "5", "ping is answered by pong within 1 s", ("ws",)),
    Rule("W4", "5", "bad client frames close only that socket (1008/1003)", ("ws",)),
    Rule("W5", "5", "a late subscriber gets a snapshot, or the terminal event of an ended task", ("ws",)),
    Rule("W6", "5", "no messages of another project, stage or (with ?task_id) task", ("ws",)),
    Rule("W7", "5", "the socket stays open after a terminal event", ("ws",)),
    Rule("T1", "6", "task-status answers 200 with a known status", ("http",)),
    Rule("T2", "6", "task ids are UUIDs; bad id 400, unknown id 404", ("http",)),
    Rule("T3", "6", "status agrees with the stream (SUCCESS/FAILURE) and only moves forward", ("http",)),
    Rule("L1", "7", "compat: Deprecation and successor-version Link headers", ("http",)),
    Rule("L2", "7", "compat: same final text as execute-stage (deterministic backend)", ("sse",)),
    Rule("L3", "7", "removed: 410 naming execute-stage", ("http",)),
    Rule("L4", "7", "the unified endpoint passes every rule in both phases", ("http",)),
    Rule("D1", "8", "deterministic backend: same text in SSE, WebSocket and legacy modes", ("sse", "ws")),
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}

# Stream-level rules the sans-I/O validator enforces, per transport.
STREAM_RULES: dict[str, tuple[str, ...]] = {
    "sse": ("S1", "S2", "S3", "S4", "S5", "S6", "M1", "Q1", "Q2", "Q3", "Q4", "Q6"),
    "ws": ("M1", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "W2", "W5", "W6"),
}
