"""What every check gets: the options, one HTTP client, and drivers that record evidence.

A check calls `ctx.sse(...)`, `ctx.http(...)` or `ctx.ws(...)`; each returns the wire
events with their arrival times, already judged by the rules core where it applies. The
check turns what is wrong into `Finding`s through `ctx.report(...)`, which redacts them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import httpx
import orjson

from stagecheck.contracts import http_rules
from stagecheck.contracts.events import (
    ResponseBody,
    ResponseHead,
    SseEvent,
    StreamClosed,
    StreamEvent,
    WsMessage,
    WsOpened,
)
from stagecheck.contracts.rule_catalog import RULES_BY_ID
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.contracts.violations import Violation
from stagecheck.results.contract_results import CheckOutcome, Finding, RequestRecord
from stagecheck.transports.http_async import request_json
from stagecheck.transports.sse_async import stream_sse
from stagecheck.transports.ws_async import WsSubscription, subscribe

from .evidence import curl_line, request_record, timeline, ws_line
from .options import SuiteOptions
from .redact import Redactor

# After a terminal event, how long to wait for the server to close beyond S4's bound.
CLOSE_GRACE_S = 0.5
# Milliseconds between tokens asked of scenario-capable targets for ordinary checks. Only a
# request: no check relies on it (a target may ignore every Prefer but section 9's scenarios);
# checks that need to know how long tasks run measure it (`SuiteContext.task_timing`).
SHORT_DELAY_MS = 5


def applied_preferences(headers: Mapping[str, str] | ResponseHead | None) -> frozenset[str]:
    """What the answer's `Preference-Applied` says the target honoured (RFC 7240), as `name=value` items."""
    if headers is None:
        return frozenset()
    if isinstance(headers, ResponseHead):
        value = headers.header("preference-applied") or ""
    else:
        value = next((v for k, v in headers.items() if k.lower() == "preference-applied"), "")
    items = set()
    for part in value.split(","):
        name, _, raw = part.split(";", 1)[0].strip().partition("=")
        if name.strip():
            given = raw.strip().strip('"')
            items.add(f"{name.strip().lower()}={given}")
    return frozenset(items)


def confirms(headers: Mapping[str, str] | ResponseHead | None, **values: object) -> bool:
    """True when `Preference-Applied` confirms every one of `values` (`delay_ms=80` is `delay-ms=80`)."""
    applied = applied_preferences(headers)
    return all(f"{k.replace('_', '-')}={v}" in applied for k, v in values.items())


@dataclass(frozen=True)
class TaskTiming:
    """How one of the target's tasks ran, as a socket subscribed before the POST saw it.

    Times are seconds from the POST's 202 answer. Checks that join late or poll while a
    task runs time themselves from this, never from a pacing they asked for.
    """

    tokens: int
    first_token_s: float | None
    last_token_s: float | None
    duration_s: float | None  # to the terminal event; None when none came
    connect_s: float  # how long a socket took to open

    @property
    def gap_s(self) -> float | None:
        if self.tokens < 2 or self.first_token_s is None or self.last_token_s is None:
            return None
        return (self.last_token_s - self.first_token_s) / (self.tokens - 1)

    @property
    def producing_s(self) -> float:
        """From the first token to the terminal event: the window in which a late subscriber gets a snapshot."""
        if self.duration_s is None or self.first_token_s is None:
            return 0.0
        return max(0.0, self.duration_s - self.first_token_s)

    def describe(self) -> str:
        if self.duration_s is None:
            return f"the target's measured task never ended ({self.tokens} tokens)"
        first = "" if self.first_token_s is None else f", the first after {self.first_token_s * 1000:.0f} ms"
        return f"the target's tasks last {self.duration_s * 1000:.0f} ms ({self.tokens} tokens{first})"


@dataclass
class Exchange:
    """One plain HTTP request and its whole answer."""

    request: RequestRecord
    status: int
    headers: dict[str, str]
    body: bytes
    started: float
    ended: float

    @property
    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    def notes(self) -> list[tuple[float, str]]:
        shown = ", ".join(f"{k}: {v}" for k, v in self.headers.items())
        return [
            (self.started, f"{self.request.method} {self.request.url}"),
            (self.ended, f"{self.status} {shown}\n{self.body.decode('utf-8', 'replace')[:400]}"),
        ]


@dataclass
class StreamRun:
    """One SSE answer read to its end (or to a bound), judged by the rules core."""

    request: RequestRecord
    events: list[StreamEvent]
    validator: StreamValidator
    origin: float

    @property
    def head(self) -> ResponseHead | None:
        return next((e for e in self.events if isinstance(e, ResponseHead)), None)

    @property
    def body(self) -> bytes:
        return b"".join(e.body for e in self.events if isinstance(e, ResponseBody))

    @property
    def closed(self) -> StreamClosed | None:
        return next((e for e in self.events if isinstance(e, StreamClosed)), None)

    def payloads(self) -> list[dict[str, Any]]:
        return json_objects(event.data for event in self.events if isinstance(event, SseEvent))

    @property
    def terminal(self) -> dict[str, Any] | None:
        return next((p for p in self.payloads() if p.get("type") in ("done", "error")), None)

    @property
    def task_id(self) -> str | None:
        found = next((p.get("task_id") for p in self.payloads() if isinstance(p.get("task_id"), str)), None)
        return found if isinstance(found, str) else None


@dataclass
class SuiteContext:
    options: SuiteOptions
    client: httpx.AsyncClient
    redactor: Redactor = field(default_factory=Redactor)
    clock: Any = time.perf_counter
    # Measured task timings per (project, stage, input text): see `task_timing`.
    timings: dict[tuple[int, str, str], TaskTiming | None] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.options.headers)

    def bounds(self) -> Bounds:
        return Bounds(
            first_event_timeout_s=self.options.first_event_timeout_s, idle_timeout_s=self.options.idle_timeout_s
        )

    def prefer(self, **values: object) -> dict[str, str]:
        """A `Prefer` header for scenario-capable targets (ignored by others, RFC 7240)."""
        if not self.options.scenarios:
            return {}
        parts = [f"{k.replace('_', '-')}={v}" for k, v in values.items() if v is not None]
        return {"Prefer": ", ".join(parts)} if parts else {}

    def short_task(self, **extra: object) -> dict[str, str]:
        """Few, quickly paced tokens on scenario-capable targets: the checks judge shape, not speed."""
        return self.prefer(tokens=self.options.profile.tokens, delay_ms=SHORT_DELAY_MS, **extra)

    # -- plain HTTP ---------------------------------------------------------------------

    async def http(
        self,
        method: str,
        url: str,
        *,
        json: object | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        with_auth: bool = True,
        params: Mapping[str, str] | None = None,
    ) -> Exchange:
        sent = {**(self.headers if with_auth else {}), **(headers or {})}
        if params:
            url = str(httpx.URL(url, params=dict(params)))
        shown_body: object | None = json if content is None else content
        if json is not None and content is None:
            content = orjson.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        record = request_record(method, url, sent, shown_body)
        answer = await request_json(
            self.client,
            method,
            url,
            content=content,
            headers=sent,
            timeout=self.options.request_timeout_s,
            clock=self.clock,
        )
        body = answer.body if answer.status else f"(no answer: {answer.error})".encode()
        return Exchange(
            record, answer.status, dict(answer.headers), body, answer.sent_at, answer.sent_at + answer.elapsed
        )

    # -- SSE ------------------------------------------------------------------------------

    async def sse(
        self,
        url: str,
        body: object,
        expectation: Expectation,
        *,
        headers: Mapping[str, str] | None = None,
        with_auth: bool = True,
    ) -> StreamRun:
        sent = {**(self.headers if with_auth else {}), **(headers or {})}
        validator = StreamValidator(expectation, self.bounds())
        events: list[StreamEvent] = []
        record = request_record("POST", url, {**sent, "Content-Type": "application/json"}, body)
        origin = self.clock()
        total = self.options.request_timeout_s + self.options.first_event_timeout_s + 60
        generator = cast(
            AsyncGenerator[StreamEvent, None],
            stream_sse(
                self.client,
                url,
                json=body,
                headers=sent,
                idle_timeout_s=self.options.idle_timeout_s,
                total_timeout=total,
                clock=self.clock,
            ),
        )
        async with aclosing(generator) as stream:
            deadline: float | None = None
            while True:
                event: StreamEvent | None = None
                try:
                    if deadline is None:
                        event = await anext(stream)
                    else:
                        with anyio.move_on_after(max(0.0, deadline - self.clock())):
                            event = await anext(stream)
                except StopAsyncIteration:
                    break
                if event is None:
                    break  # S4: still open after the bound; the validator reports it
                events.append(event)
                validator.feed(event)
                if deadline is None and validator.complete:
                    deadline = self.clock() + validator.bounds.close_after_terminal_s + CLOSE_GRACE_S
        validator.finish(self.clock())
        return StreamRun(record, events, validator, origin)

    # -- WebSocket ------------------------------------------------------------------------

    def ws_expectation(
        self,
        project: int,
        stage: str,
        task_ids: set[str] | frozenset[str] = frozenset(),
        *,
        task_filter: str | None = None,
        late_join: bool = False,
        task_ended: bool = False,
        input_text: str = "",
    ) -> Expectation:
        return Expectation(
            "ws",
            task_ids=frozenset(task_ids),
            project_id=project,
            stage_name=stage,
            task_filter=task_filter,
            late_join=late_join,
            task_ended=task_ended,
            input_text=input_text,
            allowed_types=self.options.allowed_types,
        )

    def subscribe(self, url: str) -> WsSubscription:
        return subscribe(url, open_timeout=self.options.request_timeout_s, clock=self.clock)

    def socket_run(self, url: str, expectation: Expectation) -> SocketRun:
        return SocketRun(url, [], StreamValidator(expectation, self.bounds()), self.clock())

    async def read(
        self,
        sub: WsSubscription,
        run: SocketRun,
        *,
        until: Any = None,
        idle_timeout_s: float | None = None,
        total_s: float | None = None,
    ) -> None:
        """Read `sub` into `run` (judged as it comes) until `until`, a close, or a bound."""
        idle = self.options.idle_timeout_s if idle_timeout_s is None else idle_timeout_s
        total = self.options.request_timeout_s + self.options.first_event_timeout_s + 60 if total_s is None else total_s
        async for event in sub.events(idle_timeout_s=idle, total_timeout=total, until=until):
            run.events.append(event)
            run.validator.feed(event)

    async def quiet_for(self, sub: WsSubscription, run: SocketRun, seconds: float) -> None:
        """Keep reading for `seconds` (the socket should stay open and quiet), then stop."""
        ended = self.clock() + seconds
        while sub.ended is None and self.clock() < ended:
            before = len(run.events)
            async for event in sub.events(idle_timeout_s=seconds, total_timeout=max(0.01, ended - self.clock())):
                if isinstance(event, StreamClosed) and event.by_client and event.error:
                    # Our own bound closed it: that is the end of the observation, not an event.
                    run.events.append(StreamClosed(event.at, by_client=True, reason="client done"))
                    run.validator.feed(run.events[-1])
                    return
                run.events.append(event)
                run.validator.feed(event)
            if len(run.events) == before:
                return

    def accepted_task_id(self, outcome: CheckOutcome, exchange: Exchange, stage: str) -> str | None:
        """The task_id of a 202 answer; a wrong answer is reported (E4, E1) and gives None."""
        found = http_rules.check_task_accepted(exchange.status, exchange.headers, exchange.body, stage)
        if found:
            found += http_rules.check_error_body(exchange.status, exchange.headers, exchange.body)
            self.report_exchange(outcome, exchange, found)
            return None
        return str(exchange.json["task_id"])

    async def follow_task(
        self,
        outcome: CheckOutcome,
        project: int,
        stage: str,
        input_data: dict[str, object],
        prefer: Mapping[str, str],
        *,
        during: Any = None,
    ) -> SocketTask:
        """Subscribe, POST one async task, read the socket to its terminal event (judged and reported).

        `during(task_id)`, when given, runs beside the read from the 202 on and is cancelled at the end.
        """
        text = str(input_data.get("original_text", input_data.get("prompt", "")))
        url = self.options.socket_url(project, stage)
        opening = self.clock()
        async with self.subscribe(url) as sub:
            run = self.socket_run(url, self.ws_expectation(project, stage, input_text=text))
            await self.read(sub, run, until=is_message)
            opened = next((e.at for e in run.events if isinstance(e, WsOpened)), opening)
            if sub.ended is not None:
                run.validator.finish(self.clock())
                self.report_socket(outcome, run)
                return SocketTask(run, None, None, None, opened - opening)
            exchange = await self.http(
                "POST",
                self.options.execute_url(project),
                json={"stage_name": stage, "input_data": input_data},
                headers=prefer,
            )
            task_id = self.accepted_task_id(outcome, exchange, stage)
            if task_id is None:
                return SocketTask(run, exchange, None, exchange.ended, opened - opening)
            run.validator.expect = self.ws_expectation(project, stage, {task_id}, input_text=text)
            if during is None:
                await self.read(sub, run, until=is_terminal_of({task_id}))
            else:
                async with anyio.create_task_group() as group:
                    group.start_soon(during, task_id)
                    await self.read(sub, run, until=is_terminal_of({task_id}))
                    group.cancel_scope.cancel()
        run.validator.finish(self.clock())
        self.report_socket(outcome, run)
        return SocketTask(run, exchange, task_id, exchange.ended, opened - opening)

    async def task_timing(self, outcome: CheckOutcome, project: int, stage: str, text: str) -> TaskTiming | None:
        """How long the target's tasks of this input run (measured once per input, with the usual headers)."""
        key = (project, stage, text)
        if key not in self.timings:
            input_data: dict[str, object] = {"original_text": text} if stage == "rewrite" else {"prompt": text}
            task = await self.follow_task(outcome, project, stage, input_data, self.short_task())
            self.timings[key] = task.timing()
        return self.timings[key]

    def report_socket(self, outcome: CheckOutcome, run: SocketRun, violations: list[Violation] | None = None) -> None:
        found = run.validator.violations if violations is None else violations
        self.report(outcome, found, "ws", events=run.events, origin=run.origin, reproduce=ws_line(run.url, run.sent))

    # -- findings -------------------------------------------------------------------------

    def report(
        self,
        outcome: CheckOutcome,
        violations: list[Violation],
        transport: str,
        *,
        request: RequestRecord | None = None,
        events: list[StreamEvent] | None = None,
        notes: list[tuple[float, str]] | None = None,
        origin: float | None = None,
        reproduce: str = "",
        stream: bool = False,
    ) -> None:
        """Add `violations` to `outcome` as findings with their evidence, credentials masked."""
        if not violations:
            return
        if origin is None:
            times = [e.at for e in events or []] + [at for at, _ in notes or []]
            origin = min(times) if times else 0.0
        line = reproduce or (curl_line(request, stream=stream) if request is not None else "")
        entries = timeline(events or [], origin, notes or [])
        for violation in violations:
            # A rule judged on the wire of another transport (E4 on an SSE head) is filed under its own.
            rule = RULES_BY_ID.get(violation.rule)
            where = transport if rule is None or transport in rule.transports else rule.transports[0]
            finding = Finding.from_violation(violation, where, outcome.name, request, entries, line, origin)
            outcome.findings.append(self.redactor.finding(finding))

    def report_stream(self, outcome: CheckOutcome, run: StreamRun, transport: str = "sse") -> None:
        self.report(
            outcome,
            run.validator.violations,
            transport,
            request=run.request,
            events=run.events,
            origin=run.origin,
            stream=True,
        )

    def report_exchange(self, outcome: CheckOutcome, exchange: Exchange, violations: list[Violation]) -> None:
        self.report(
            outcome, violations, "http", request=exchange.request, notes=exchange.notes(), origin=exchange.started
        )


@asynccontextmanager
async def open_context(options: SuiteOptions) -> AsyncIterator[SuiteContext]:
    timeout = httpx.Timeout(options.request_timeout_s, connect=min(options.request_timeout_s, 5.0))
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=10)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:
        yield SuiteContext(options, client, Redactor(options.secrets))


@dataclass
class SocketRun:
    """One WebSocket subscription: what arrived, judged by the rules core."""

    url: str
    events: list[StreamEvent]
    validator: StreamValidator
    origin: float
    sent: list[str] = field(default_factory=list)

    def messages(self) -> list[dict[str, Any]]:
        return json_objects(e.text for e in self.events if isinstance(e, WsMessage) and e.text is not None)

    @property
    def closed(self) -> StreamClosed | None:
        return next((e for e in self.events if isinstance(e, StreamClosed)), None)

    def terminal(self, task_id: str) -> dict[str, Any] | None:
        return next(
            (m for m in self.messages() if m.get("type") in ("done", "error") and m.get("task_id") == task_id), None
        )


@dataclass
class SocketTask:
    """One async task followed over a socket subscribed before its POST."""

    run: SocketRun
    exchange: Exchange | None
    task_id: str | None
    accepted_at: float | None  # when the 202 arrived
    connect_s: float

    @property
    def terminal(self) -> dict[str, Any] | None:
        return None if self.task_id is None else self.run.terminal(self.task_id)

    def arrivals(self) -> tuple[list[float], float | None]:
        """Arrival times of this task's tokens and of its terminal event."""
        tokens: list[float] = []
        terminal = None
        for event in self.run.events:
            if not isinstance(event, WsMessage) or event.text is None:
                continue
            try:
                payload = orjson.loads(event.text)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(payload, dict) or payload.get("task_id") != self.task_id:
                continue
            if payload.get("type") == "token" and terminal is None:
                tokens.append(event.at)
            elif payload.get("type") in ("done", "error") and terminal is None:
                terminal = event.at
        return tokens, terminal

    def timing(self) -> TaskTiming | None:
        if self.task_id is None or self.accepted_at is None:
            return None
        tokens, terminal = self.arrivals()
        start = self.accepted_at
        return TaskTiming(
            len(tokens),
            tokens[0] - start if tokens else None,
            tokens[-1] - start if tokens else None,
            None if terminal is None else terminal - start,
            self.connect_s,
        )


def json_objects(texts: Iterable[str]) -> list[dict[str, Any]]:
    """The texts that are JSON objects, parsed; anything else is left to the rules core to report."""
    out = []
    for text in texts:
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(payload, dict):
            out.append(payload)
    return out


def is_terminal_of(task_ids: set[str]) -> Any:
    """An `until` predicate: stop once every task in `task_ids` sent done/error."""
    remaining = set(task_ids)

    def until(event: StreamEvent) -> bool:
        if isinstance(event, WsMessage) and event.text is not None:
            try:
                payload = orjson.loads(event.text)
            except orjson.JSONDecodeError:
                return False
            if isinstance(payload, dict) and payload.get("type") in ("done", "error"):
                remaining.discard(str(payload.get("task_id")))
        return not remaining

    return until


def close_detail(closed: StreamClosed | None) -> str:
    """What ended a socket when it was not the server's close frame (a rejected handshake, a timeout)."""
    if closed is None:
        return "the socket never ended"
    return closed.error or ("closed by the client" if closed.by_client else "")


def is_message(event: StreamEvent) -> bool:
    return isinstance(event, (WsMessage, StreamClosed))
