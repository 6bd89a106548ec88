"""What every check gets: the options, one HTTP client, and drivers that record evidence.

A check calls `ctx.sse(...)`, `ctx.http(...)` or `ctx.ws(...)`; each returns the wire
events with their arrival times, already judged by the rules core where it applies. The
check turns what is wrong into `Finding`s through `ctx.report(...)`, which redacts them.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import httpx
import orjson

from stagecheck.contracts.events import ResponseBody, ResponseHead, SseEvent, StreamClosed, StreamEvent, WsMessage
from stagecheck.contracts.rule_catalog import RULES_BY_ID
from stagecheck.contracts.stream_rules import Bounds, Expectation, StreamValidator
from stagecheck.contracts.violations import Violation
from stagecheck.results.contract_results import CheckOutcome, Finding, RequestRecord
from stagecheck.transports.failures import is_connect_failure, unreachable
from stagecheck.transports.sse_async import stream_sse
from stagecheck.transports.ws_async import WsSubscription, subscribe

from .evidence import curl_line, request_record, timeline, ws_line
from .options import SuiteOptions
from .redact import Redactor

# After a terminal event, how long to wait for the server to close beyond S4's bound.
CLOSE_GRACE_S = 0.5
# Milliseconds between tokens asked of scenario-capable targets for ordinary checks.
SHORT_DELAY_MS = 5


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
        out = []
        for event in self.events:
            if isinstance(event, SseEvent):
                try:
                    payload = orjson.loads(event.data)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(payload, dict):
                    out.append(payload)
        return out

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

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.options.headers)

    def bounds(self) -> Bounds:
        return Bounds(first_event_s=self.options.first_event_s, idle_s=self.options.idle_s)

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
        started = self.clock()
        try:
            response = await self.client.request(
                method, url, content=content, headers=sent, timeout=self.options.request_timeout_s
            )
        except httpx.TransportError as exc:
            if is_connect_failure(exc):
                raise unreachable(url, exc, timeout=self.options.request_timeout_s) from exc
            ended = self.clock()
            return Exchange(record, 0, {}, f"(no answer: {type(exc).__name__} {exc})".encode(), started, ended)
        return Exchange(record, response.status_code, dict(response.headers), response.content, started, self.clock())

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
        total = self.options.request_timeout_s + self.options.first_event_s + 60
        generator = cast(
            AsyncGenerator[StreamEvent, None],
            stream_sse(
                self.client,
                url,
                json=body,
                headers=sent,
                read_timeout=self.options.idle_s,
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
        idle_s: float | None = None,
        total_s: float | None = None,
    ) -> None:
        """Read `sub` into `run` (judged as it comes) until `until`, a close, or a bound."""
        idle = self.options.idle_s if idle_s is None else idle_s
        total = self.options.request_timeout_s + self.options.first_event_s + 60 if total_s is None else total_s
        async for event in sub.events(idle_timeout=idle, total_timeout=total, until=until):
            run.events.append(event)
            run.validator.feed(event)

    async def quiet_for(self, sub: WsSubscription, run: SocketRun, seconds: float) -> None:
        """Keep reading for `seconds` (the socket should stay open and quiet), then stop."""
        ended = self.clock() + seconds
        while sub.ended is None and self.clock() < ended:
            before = len(run.events)
            async for event in sub.events(idle_timeout=seconds, total_timeout=max(0.01, ended - self.clock())):
                if isinstance(event, StreamClosed) and event.by_client and event.error:
                    # Our own bound closed it: that is the end of the observation, not an event.
                    run.events.append(StreamClosed(event.at, by_client=True, reason="client done"))
                    run.validator.feed(run.events[-1])
                    return
                run.events.append(event)
                run.validator.feed(event)
            if len(run.events) == before:
                return

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
        out = []
        for event in self.events:
            if isinstance(event, WsMessage) and event.text is not None:
                try:
                    payload = orjson.loads(event.text)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(payload, dict):
                    out.append(payload)
        return out

    @property
    def closed(self) -> StreamClosed | None:
        return next((e for e in self.events if isinstance(e, StreamClosed)), None)

    def terminal(self, task_id: str) -> dict[str, Any] | None:
        return next(
            (m for m in self.messages() if m.get("type") in ("done", "error") and m.get("task_id") == task_id), None
        )


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
