"""Request options and ending texts shared by the HTTP transports (sync and async)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx


def request_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's headers, asking for an uncompressed body unless the caller chose otherwise.

    A compressed event stream is decoded in blocks, which delays events (S5); asking for
    `identity` keeps bytes flowing as the server writes them.
    """
    merged = dict(headers or {})
    if not any(name.lower() == "accept-encoding" for name in merged):
        merged["Accept-Encoding"] = "identity"
    return merged


def bounded_timeout(base: httpx.Timeout, idle_timeout_s: float, total_timeout: float | None) -> httpx.Timeout:
    """The client's connect/write/pool timeouts, with our read timeout (never past the total)."""
    read = idle_timeout_s if total_timeout is None else min(idle_timeout_s, total_timeout)
    return httpx.Timeout(connect=base.connect, read=read, write=base.write, pool=base.pool)


def is_identity(headers: httpx.Headers) -> bool:
    """True when the body arrives as the server wrote it, so raw bytes can be parsed directly."""
    return headers.get("content-encoding", "identity").strip().lower() in ("", "identity")
