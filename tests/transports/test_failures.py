"""How network exceptions become TargetUnreachable sentences and StreamClosed texts."""

from __future__ import annotations

import socket

import httpx

from stagecheck.transports.failures import break_text, is_connect_failure, unreachable

URL = "http://backend:8000/api/v1/projects/projects/1/execute-stage/"


def wrapped(outer: Exception, inner: BaseException) -> Exception:
    outer.__cause__ = inner
    return outer


def test_unknown_host_says_to_check_the_host() -> None:
    exc = wrapped(httpx.ConnectError("[Errno -2] Name or service not known"), socket.gaierror(-2, "Name"))
    assert str(unreachable(URL, exc)) == f"cannot connect to {URL}: host name not found; check the host in the URL"


def test_connect_timeout_names_the_timeout() -> None:
    error = unreachable(URL, httpx.ConnectTimeout("timed out"), timeout=5.0)
    assert str(error) == f"cannot connect to {URL}: no answer within 5 s; is the host reachable and the port right?"


def test_refused_under_an_errno_less_wrapper() -> None:
    exc = wrapped(httpx.ConnectError("All connection attempts failed"), OSError("All connection attempts failed"))
    assert exc.__cause__ is not None
    exc.__cause__.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    assert str(unreachable(URL, exc)).endswith(": connection refused; is the backend running?")


def test_only_connect_errors_mean_unreachable() -> None:
    assert is_connect_failure(httpx.ConnectError("x"))
    assert is_connect_failure(httpx.ConnectTimeout("x"))
    assert not is_connect_failure(httpx.ReadTimeout("x"))
    assert not is_connect_failure(httpx.RemoteProtocolError("x"))


def test_break_texts() -> None:
    reset = wrapped(httpx.ReadError("reset"), ConnectionResetError(104, "Connection reset by peer"))
    assert break_text(reset) == "connection reset by the server"
    cut = httpx.RemoteProtocolError(
        "peer closed connection without sending complete message body: incomplete chunked read"
    )
    assert break_text(cut) == "connection closed before the end of the body"
    silent = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    assert break_text(silent) == "connection closed without an answer"
