"""The result of one plain JSON call (a 202 answer, a task-status read), sync or async."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass

from stagecheck.contracts.events import header_value


@dataclass(frozen=True, slots=True)
class HttpExchange:
    """One request and its whole answer; `status` 0 means no answer came (`error` says why)."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    json: object | None
    """The body parsed, when the content type says JSON and it parses; else None."""
    sent_at: float
    elapsed: float
    """Seconds from sending the request to the end of the body, on the caller's clock."""
    error: str | None = None

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


def parse_json(content_type: str | None, body: bytes) -> object | None:
    """JSON bodies only (application/json, application/problem+json, ...); None if it does not parse."""
    media = (content_type or "").split(";")[0].strip().lower()
    if not (media == "application/json" or media.endswith("+json")):
        return None
    try:
        return jsonlib.loads(body)
    except ValueError:
        return None


def lowered(headers: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name.lower(), value) for name, value in headers)
