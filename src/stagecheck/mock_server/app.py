"""`create_app`: the mock reference server as a Starlette application."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from .access_log import AccessLog
from .broker import Broker, InMemoryBroker
from .config import MockConfig
from .redis_wire import BrokerUnavailable
from .responses import error_response
from .routes import (
    EXECUTE_STAGE_PATH,
    LEGACY_PATH,
    SOCKET_PATH,
    TASK_STATUS_PATH,
    execute_stage,
    rewrite_stream,
    task_status,
)
from .state import SERVER_SEND, MockState
from .websocket import stage_socket
from .worker import Worker

logger = logging.getLogger("stagecheck.mock")
_CODES = {404: "not_found", 405: "method_not_allowed", 400: "invalid_request"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_response(exc.status_code, _CODES.get(exc.status_code, "http_error"), str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _broker_unavailable(request: Request, exc: Exception) -> Response:
    # Redis (the --broker) does not answer: the request may succeed later, so 503, not 500 (E3).
    return error_response(503, "broker_unavailable", str(exc))


async def _client_left(request: Request, exc: Exception) -> Response:
    # The client went away while its request body was arriving: nobody reads the answer,
    # and it is no error of the mock's (no traceback). 499 is what the access log shows.
    return Response(status_code=499)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # A bug in the mock: still answer per E1 (and log it, so that it gets fixed).
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "the mock server failed; this is a bug in stagecheck")


class MockApp(Starlette):
    """Starlette, and the server's own `send` kept in the scope for the streams' hot path.

    Every middleware of this app (Starlette's error handling, CORS, the access log) acts
    on a response's start or a socket's accept and close only; passing each token of a
    stream through their wrappers cost about a tenth of the server's CPU at thousands of
    streams. The streams send their start through the stack and their events straight
    to the server.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(config: MockConfig = MockConfig(), broker: Broker | None = None) -> Starlette:  # noqa: B008
    """The mock app; `app.state.mock` holds its broker, worker and open streams."""
    broker = broker or InMemoryBroker(retention_s=config.terminal_retention_s)
    state = MockState(config, broker, Worker(broker))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.begin_shutdown()
        await state.drain(1.0)

    middleware: list[Middleware] = []
    if config.access_log:
        middleware.append(Middleware(AccessLog))
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "Prefer", "Last-Event-ID"],
                expose_headers=["Deprecation", "Link", "Preference-Applied"],
            )
        )
    app = MockApp(
        routes=[
            Route(EXECUTE_STAGE_PATH, execute_stage, methods=["POST"]),
            Route(TASK_STATUS_PATH, task_status, methods=["GET"]),
            Route(LEGACY_PATH, rewrite_stream, methods=["POST"]),
            WebSocketRoute(SOCKET_PATH, stage_socket),
        ],
        middleware=middleware,
        exception_handlers={
            HTTPException: _http_error,
            BrokerUnavailable: _broker_unavailable,
            ClientDisconnect: _client_left,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.mock = state
    return app
