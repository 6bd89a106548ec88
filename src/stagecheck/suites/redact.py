"""Keep credentials out of every report and log line (`--header`, `?token=`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from stagecheck.results.contract_results import Finding, RequestRecord, TimelineEntry

MASK = "***"
_TOKEN_QUERY = re.compile(r"([?&](?:token|access_token|api_key)=)[^&#\s'\"]*", re.IGNORECASE)
SECRET_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "proxy-authorization", "x-auth-token"})


class Redactor:
    """Replaces every known secret, and any `?token=` value, by `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is masked whole.
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        return _TOKEN_QUERY.sub(r"\1" + MASK, value)

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        return {name: MASK if name.lower() in SECRET_HEADERS else self.text(value) for name, value in headers.items()}

    def request(self, request: RequestRecord | None) -> RequestRecord | None:
        if request is None:
            return None
        body = None if request.body is None else self.text(request.body)
        return RequestRecord(request.method, self.text(request.url), self.headers(request.headers), body)

    def finding(self, finding: Finding) -> Finding:
        return Finding(
            rule=finding.rule,
            transport=finding.transport,
            check=finding.check,
            message=self.text(finding.message),
            received=self.text(finding.received),
            expected=self.text(finding.expected),
            severity=finding.severity,
            index=finding.index,
            at=finding.at,
            task_id=finding.task_id,
            request=self.request(finding.request),
            timeline=tuple(TimelineEntry(e.at, e.kind, self.text(e.text)) for e in finding.timeline),
            reproduce=self.text(finding.reproduce),
        )
