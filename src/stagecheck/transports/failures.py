"""Turn network exceptions into what stagecheck reports: an error to the user, or a short text.

A target that cannot be reached at all is misuse of the tool (wrong URL, backend down) and
becomes `TargetUnreachable`, a sentence that says what to do. A target that answered and then
broke is an observation about the target: it becomes the `error` text of a `StreamClosed`.
Shared by the sync and async transports, which see the same httpx and websockets exceptions.
"""

from __future__ import annotations

import errno
import socket

import httpx

from stagecheck.errors import TargetUnreachable


def _root_os_error(exc: BaseException) -> OSError | None:
    """The most specific OSError in an exception chain (httpx wraps httpcore wraps OSError).

    anyio adds an errno-less "All connection attempts failed" above the real error, so an
    OSError that carries an errno wins over one that does not.
    """
    seen: set[int] = set()
    found: OSError | None = None
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            if current.errno is not None:
                return current
            found = found or current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return found


def _connect_reason(exc: BaseException, timeout: float | None) -> tuple[str, str]:
    """(what went wrong, what to do about it) for a failed connection attempt."""
    if isinstance(exc, (httpx.ConnectTimeout, TimeoutError)):
        within = f" within {timeout:g} s" if timeout is not None else ""
        return f"no answer{within}", "is the host reachable and the port right?"
    root = _root_os_error(exc)
    if isinstance(root, socket.gaierror):
        return "host name not found", "check the host in the URL"
    if isinstance(root, ConnectionRefusedError) or (root is not None and root.errno == errno.ECONNREFUSED):
        return "connection refused", "is the backend running?"
    if root is not None and root.strerror:
        return root.strerror.lower(), "is the backend running and the URL right?"
    return str(exc) or type(exc).__name__, "is the backend running and the URL right?"


def unreachable(url: str, exc: BaseException, *, timeout: float | None = None) -> TargetUnreachable:
    """The error to raise when nothing answered at `url`."""
    reason, advice = _connect_reason(exc, timeout)
    return TargetUnreachable(f"cannot connect to {url}: {reason}; {advice}")


def is_connect_failure(exc: BaseException) -> bool:
    """True when an httpx error happened before any byte of an answer could arrive."""
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))


def break_text(exc: BaseException) -> str:
    """A short text for a connection that broke after the target answered (or accepted)."""
    root = _root_os_error(exc)
    if isinstance(root, ConnectionResetError) or (root is not None and root.errno == errno.ECONNRESET):
        return "connection reset by the server"
    if isinstance(exc, httpx.RemoteProtocolError):
        message = str(exc)
        if "incomplete chunked read" in message or "without sending complete message body" in message:
            return "connection closed before the end of the body"
        if "without sending a response" in message:
            return "connection closed without an answer"
        return f"malformed HTTP answer: {message}"
    if root is not None and root.strerror:
        return f"connection broken: {root.strerror.lower()}"
    return f"connection broken: {exc or type(exc).__name__}"


def read_timeout_text(seconds: float, *, answered: bool = True) -> str:
    return f"no data for {seconds} s" if answered else f"no answer for {seconds} s"


def idle_timeout_text(seconds: float) -> str:
    return f"no message for {seconds} s"


def total_timeout_text(seconds: float | None) -> str:
    return f"total timeout of {seconds} s reached"
