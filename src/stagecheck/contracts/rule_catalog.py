"""Every rule id of the wire protocol with its section, title and plain-words meaning.

Reports and JUnit name test cases from this table, `stagecheck rules` prints it, and the
rule reference (`docs/protocol.md`) is generated from it; the checks themselves live in
`stream_rules` (stream level) and `http_rules` (single HTTP exchanges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Transport = Literal["http", "sse", "ws"]
Level = Literal["MUST", "MUST/SHOULD"]
# Where the rule reference lives in stagecheck's repository; every finding links to its rule there.
REFERENCE = "docs/protocol.md"


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    section: str
    title: str
    transports: tuple[Transport, ...]
    must: str  # what a backend has to do, in a sentence or two
    judged: str  # how stagecheck tells whether it did
    level: Level = "MUST"

    @property
    def anchor(self) -> str:
        """The rule's section in the reference: `docs/protocol.md#s5`."""
        return f"{REFERENCE}#{self.id.lower()}"


RULES: tuple[Rule, ...] = (
    Rule(
        "E1",
        "0",
        "4xx/5xx bodies are {error, code, detail?}",
        ("http",),
        "Every 4xx or 5xx answer with a JSON body is an object with a string `error` (a human message) and a "
        "string `code` (a machine code), optionally `detail`.",
        "Every error answer the checks provoke (bad input, unknown project, unknown task, a body over 1 MiB on "
        "execute-stage and, in compat, on the legacy endpoint, Schemathesis' negative cases) is validated against "
        "the error schema of openapi.yaml.",
    ),
    Rule(
        "E2",
        "0",
        "missing/invalid credentials: 401, WebSocket close 4401",
        ("http", "ws"),
        "When the backend requires auth, a request without a valid `Authorization: Bearer` token gets 401 with an "
        "error body, and a WebSocket without a valid `?token=` is closed with code 4401.",
        "With --auth-required, the HTTP endpoints are called and the socket opened with no token and with a wrong "
        "one; otherwise not run.",
    ),
    Rule(
        "E3",
        "0",
        "no 5xx answer to any request",
        ("http",),
        "No request, however malformed, gets a 5xx answer.",
        "Every answer of every check, Schemathesis' generated requests included, is looked at for a 5xx status.",
    ),
    Rule(
        "E4",
        "1",
        "execute-stage answers: 400/404/415/202/200 as specified",
        ("http",),
        "execute-stage answers 400 `invalid_request` to invalid input, 415 to a body that is not JSON, 413 to a "
        "body over 1 MiB, 404 `not_found` to an unknown project, 202 with `{task_id, channel, stage_name, status: "
        "PENDING}` in async mode and 200 `text/event-stream` in SSE mode.",
        "A table of invalid bodies, content types and projects is sent (a body of 1 MiB + 1 KiB included, also to "
        "the legacy endpoint in compat), and every valid request's status and body are compared with the answer "
        "the table requires. A target that drops the connection instead of answering the oversized body is not "
        "judged on it.",
    ),
    Rule(
        "S1",
        "2",
        "event is token/done/error and data.type matches it",
        ("sse",),
        "Each SSE event is named `token`, `done` or `error`, its `data` is one JSON object, and that object's "
        "`type` equals the event name.",
        "The rules core reads every event of every SSE stream through the byte-level parser.",
    ),
    Rule(
        "S2",
        "2",
        "id, when present, counts 1, 2, 3 ...",
        ("sse",),
        "An event's `id:`, when sent, is an integer that starts at 1 and goes up by exactly 1.",
        "The rules core compares each `id` with the event's position in the stream.",
    ),
    Rule(
        "S3",
        "2",
        "keep-alives are comment lines, not events",
        ("sse",),
        "Keep-alives are comment lines (`: keep-alive`), never events; they may come anywhere.",
        "Comments are skipped; an event with empty data (a keep-alive sent as an event) is reported.",
    ),
    Rule(
        "S4",
        "2",
        "stream ends within the bound after its terminal event, never without one",
        ("sse",),
        "The server closes the stream within 2 s of its terminal event, and never closes it without one.",
        "The rules core times the close after `done`/`error` and reports a stream that closed (or stalled) with no "
        "terminal event as incomplete.",
    ),
    Rule(
        "S5",
        "2",
        "events are flushed as produced, not buffered",
        ("sse",),
        "Events are flushed as they are produced: when the producer waits between tokens, the first event reaches "
        "the client before the last one is produced.",
        "One stream is read with arrival times. When `Preference-Applied` confirms the mock's `Prefer: tokens=, "
        "delay-ms=` pacing (with --scenarios), the arrivals must spread over that pacing; otherwise the same input "
        "run in async mode is the witness (its WebSocket tokens come as produced), and SSE events arriving in one "
        "burst while the witness' tokens spread out are a violation. A target whose tokens do not spread on either "
        "transport (or that streams fewer than 3) is not run, with the measured spans.",
    ),
    Rule(
        "S6",
        "1",
        "Cache-Control: no-cache (MUST), X-Accel-Buffering: no (SHOULD)",
        ("sse",),
        "The SSE answer carries `Cache-Control: no-cache`; it should also carry `X-Accel-Buffering: no`.",
        "The head of every SSE answer is read: a missing `Cache-Control: no-cache` is a violation, a missing "
        "`X-Accel-Buffering: no` a warning (a failure with --strict).",
        "MUST/SHOULD",
    ),
    Rule(
        "M1",
        "3",
        "every message matches its schema; no unknown types",
        ("sse", "ws"),
        "Every message has the fields of its type with the types the contract gives (`task_id` required on "
        "WebSocket, optional on SSE), and no message has a type the contract does not know.",
        "Every SSE event and WebSocket message is validated against the AsyncAPI payload schemas; unknown types "
        "are reported unless allowed with --allow-type.",
    ),
    Rule(
        "Q1",
        "4",
        "grammar token* (done|error); nothing after the terminal event",
        ("sse", "ws"),
        "A task's messages are `token* (done | error)`; on WebSocket the first message is `connected`, `pong` and "
        "`heartbeat` may come anywhere, and nothing of a task follows its terminal event.",
        "The rules core follows the grammar per task on every stream and subscription.",
    ),
    Rule(
        "Q2",
        "4",
        "full_text accumulates content; the first token has full_text == content",
        ("sse", "ws"),
        "For consecutive tokens `full_text[n] == full_text[n-1] + content[n]`, and the first token seen from a "
        "task's start has `full_text == content`.",
        "The rules core keeps each task's text and compares every token with it.",
    ),
    Rule(
        "Q3",
        "4",
        "done.full_text equals the last token's full_text",
        ("sse", "ws"),
        "`done.full_text` equals the last token's `full_text`, when there were tokens.",
        "The rules core compares the terminal event with the accumulated text.",
    ),
    Rule(
        "Q4",
        "4",
        "text is Unicode-exact: no replacement characters or split code points",
        ("sse", "ws"),
        "Non-ASCII text (Chinese, emoji, ZWJ sequences) survives exactly: no replacement characters, no split "
        "code points.",
        "Inputs with CJK and emoji are sent; the rules core looks for U+FFFD and lone surrogates the input did "
        "not hold.",
    ),
    Rule(
        "Q5",
        "4",
        "WebSocket messages carry the task_id the POST returned",
        ("ws",),
        "Every WebSocket message about a task carries the `task_id` that the POST returned.",
        "The rules core compares each message's `task_id` with the ids the POSTs returned.",
    ),
    Rule(
        "Q6",
        "4",
        "first event and every gap within the configured bounds",
        ("sse", "ws"),
        "The first event comes within the first-event bound and no gap between events is longer than the idle "
        "bound (WebSocket heartbeats count as activity).",
        "The rules core times every stream against --first-event-timeout and --idle-timeout.",
    ),
    Rule(
        "W1",
        "5",
        "unknown stage or project: close 4404 with a reason",
        ("ws",),
        "A socket opened for an unknown stage or project is closed with code 4404 and a reason.",
        "Sockets are opened for an unknown stage and the missing project id, and the close code is read.",
    ),
    Rule(
        "W2",
        "5",
        "connected is the first message",
        ("ws",),
        "After accepting a socket, the server sends `connected` first.",
        "The rules core checks the first message of every subscription; a socket of an existing project and stage "
        "that is refused, or closed by the server before `connected`, is a violation too (one that stays silent "
        "is Q6).",
    ),
    Rule(
        "W3",
        "5",
        "ping is answered by pong within 1 s",
        ("ws",),
        'A client `{"type": "ping"}` gets `{"type": "pong"}` within 1 s.',
        "A ping is sent on an idle socket and the pong is timed.",
    ),
    Rule(
        "W4",
        "5",
        "bad client frames close only that socket (1008/1003)",
        ("ws",),
        "Client text that is not JSON or has an unknown type closes that socket with 1008, a binary frame with "
        "1003, each with a reason; other sockets and the task go on.",
        "Bad frames are sent on one socket while another follows a task, and both close codes and the bystander's "
        "stream are checked.",
    ),
    Rule(
        "W5",
        "5",
        "a late subscriber gets a snapshot, or the terminal event of an ended task",
        ("ws",),
        "A socket opened after a task began first gets a snapshot `token` (`content == full_text` == all text so "
        "far), then live tokens; after the task ended it gets the terminal event right after `connected`.",
        "Sockets are opened while a task runs (timed from a measured task) and after it ended; the rules core "
        "checks the snapshot and the replayed terminal. A late subscriber's first token that is not all the text "
        "so far (no snapshot: live tokens only), or a snapshot that the next token or `done` does not continue, "
        "is W5, not Q2/Q3.",
    ),
    Rule(
        "W6",
        "5",
        "no messages of another project, stage or (with ?task_id) task",
        ("ws",),
        "A subscriber never receives messages of another project or stage; with `?task_id` only that task's.",
        "Tasks run at once on both projects and two stages (one per channel, two on the first) while a socket "
        "listens on each of the four channels, opened before any task starts, and one with `?task_id` on the "
        "first; a socket that hears a task of another project or stage, or of another task when filtered, is "
        "reported.",
    ),
    Rule(
        "W7",
        "5",
        "the socket stays open after a terminal event",
        ("ws",),
        "The server keeps the socket open after a terminal event; the client closes it.",
        "After `done` the socket is held a moment longer; a close by the server is reported.",
    ),
    Rule(
        "T1",
        "6",
        "task-status answers 200 with a known status",
        ("http",),
        "task-status answers 200 `{task_id, stage_name, status, result?, error?}` with one of the six statuses.",
        "task-status is polled for tasks the checks started and validated against openapi.yaml.",
    ),
    Rule(
        "T2",
        "6",
        "task ids are UUIDs; bad id 400, unknown id 404",
        ("http",),
        "Task ids are UUIDs; a missing or non-UUID `task_id` gets 400, a UUID never issued (or issued for another "
        "project) 404, never PENDING.",
        "task-status is called with no id, a malformed id, a fresh UUID and another project's task.",
    ),
    Rule(
        "T3",
        "6",
        "status agrees with the stream (SUCCESS/FAILURE) and only moves forward",
        ("http",),
        "After `done` the status is SUCCESS with `result.full_text == done.full_text`; after `error` it is FAILURE "
        "with `error`; status never moves backwards.",
        "task-status is polled about four times over the task's measured length while it streams over the "
        "socket, then until it settles: SUCCESS/FAILURE may come up to 2 s after the terminal event (a result "
        "backend written by another process lags the published event), and a later or different answer is T3.",
    ),
    Rule(
        "L1",
        "7",
        "compat: Deprecation and successor-version Link headers",
        ("http",),
        "In the compat phase, rewrite_stream answers carry `Deprecation: @<unix-seconds>` (RFC 9745) and "
        '`Link: <…/execute-stage/>; rel="successor-version"`.',
        "With --legacy-phase compat, the legacy answers' headers are read.",
    ),
    Rule(
        "L2",
        "7",
        "compat: same final text as execute-stage (deterministic backend)",
        ("sse",),
        "In the compat phase a deterministic backend gives the same final text on rewrite_stream as on execute-stage.",
        "With --legacy-phase compat and --deterministic, the same input is streamed on both endpoints and the "
        "texts compared.",
    ),
    Rule(
        "L3",
        "7",
        "removed: 410 naming execute-stage",
        ("http",),
        "In the removed phase, rewrite_stream answers 410 with an error body that names execute-stage.",
        "With --legacy-phase removed, the legacy endpoint is called and the answer read.",
    ),
    Rule(
        "L4",
        "7",
        "the unified endpoint passes every rule in both phases",
        ("http",),
        "In both phases execute-stage passes every rule above; in compat, rewrite_stream answers like it "
        "(same validation, same events).",
        "The legacy endpoint's answers are judged by the same rules as execute-stage's and compared with them.",
    ),
    Rule(
        "D1",
        "8",
        "deterministic backend: same text in SSE, WebSocket and legacy modes",
        ("sse", "ws"),
        "A deterministic backend gives the same `full_text` for the same stage and input in SSE mode, in async mode "
        "and on the legacy endpoint.",
        "With --deterministic, the same inputs run in both modes and the texts are compared.",
    ),
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}

# Stream-level rules the sans-I/O validator enforces, per transport.
STREAM_RULES: dict[str, tuple[str, ...]] = {
    "sse": ("S1", "S2", "S3", "S4", "S5", "S6", "M1", "Q1", "Q2", "Q3", "Q4", "Q6"),
    "ws": ("M1", "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "W2", "W5", "W6"),
}
