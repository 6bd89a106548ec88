"""Where the check points: the target's origin, its URLs, the page's origin. No I/O but the probe."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from stagecheck.errors import ConfigError

PAGE_PATH = "/__stagecheck_browser__/"  # served by request interception, never asked of the target


def origin_of(url: str, option: str) -> str:
    """scheme://host:port of an http(s) URL; a ConfigError naming `option` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{option}: {url!r} is not an http:// or https:// URL")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{option}: {url!r} has a bad port") from exc
    port = port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"


@dataclass(frozen=True, slots=True)
class Target:
    base_url: str
    project_id: int
    stage: str
    token: str | None = None

    @property
    def origin(self) -> str:
        return origin_of(self.base_url, "base_url")

    @property
    def execute_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/api/v1/projects/projects/{self.project_id}/execute-stage/"

    @property
    def socket_prefix(self) -> str:
        """The socket URL up to the task id (the page appends it, and `socket_suffix`)."""
        scheme = "wss" if self.origin.startswith("https:") else "ws"
        host = self.origin.split("://", 1)[1]
        return f"{scheme}://{host}/ws/projects/{self.project_id}/stage/{self.stage}/?task_id="

    @property
    def socket_suffix(self) -> str:
        return f"&token={self.token}" if self.token else ""


def probe(origin: str, timeout_s: float) -> str | None:
    """None when a TCP connection to the origin opens within `timeout_s`; else the measured reason."""
    parts = urlsplit(origin)
    host, port = parts.hostname or "", parts.port or 80
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except socket.gaierror:
        return f"host name {host!r} not found"
    except ConnectionRefusedError:
        return f"the target refused the connection at {host}:{port}; is the backend running?"
    except TimeoutError:
        return f"no TCP connection to {host}:{port} within {timeout_s:g} s"
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"
