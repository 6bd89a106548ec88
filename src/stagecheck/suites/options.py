"""What a contract run is told about its target, shared by the CLI and the pytest plugin."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from stagecheck.contracts.rule_catalog import RULES_BY_ID
from stagecheck.errors import ConfigError

from .profiles import PROFILES, Profile, check_budget_s
from .redact import SECRET_HEADERS

STAGES = ("rewrite", "storyboard", "image_generation", "camera_movement", "video_generation")
API = "/api/v1/projects/projects"


@dataclass(frozen=True)
class SuiteOptions:
    base_url: str
    ws_url: str
    project_ids: tuple[int, int] = (1, 2)
    missing_project_id: int = 999_999_999
    headers: tuple[tuple[str, str], ...] = ()
    auth_required: bool = False
    scenarios: bool = False
    legacy_phase: Literal["compat", "removed"] | None = None
    deterministic: bool = False
    profile: Profile = field(default_factory=lambda: PROFILES["ci"])
    rules: frozenset[str] | None = None
    request_timeout_s: float = 10.0
    first_event_timeout_s: float = 10.0
    idle_timeout_s: float = 10.0
    seed: int = 0
    allowed_types: frozenset[str] = frozenset()
    skip_checks: frozenset[str] = frozenset()
    max_time_s: float | None = None  # the whole run's budget; None: the profile's

    @property
    def run_budget_s(self) -> float:
        return self.max_time_s if self.max_time_s is not None else self.profile.max_time_s

    @property
    def check_budget_s(self) -> float:
        return check_budget_s(self.request_timeout_s, self.first_event_timeout_s, self.idle_timeout_s)

    # -- URLs ---------------------------------------------------------------------------

    def execute_url(self, project_id: int) -> str:
        return f"{self.base_url}{API}/{project_id}/execute-stage/"

    def status_url(self, project_id: int) -> str:
        return f"{self.base_url}{API}/{project_id}/task-status/"

    def legacy_url(self, project_id: int) -> str:
        return f"{self.base_url}{API}/{project_id}/rewrite_stream/"

    def socket_url(self, project_id: int, stage: str, task_id: str | None = None, with_token: bool = True) -> str:
        query = []
        if task_id is not None:
            query.append(f"task_id={task_id}")
        token = self.bearer_token
        if with_token and token is not None:
            query.append(f"token={token}")
        url = f"{self.ws_url}/ws/projects/{project_id}/stage/{stage}/"
        return url + ("?" + "&".join(query) if query else "")

    @property
    def bearer_token(self) -> str | None:
        for name, value in self.headers:
            if name.lower() == "authorization" and value.lower().startswith("bearer "):
                return value[7:].strip()
        return None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Header values that must never appear in a report (credentials)."""
        found = [value for name, value in self.headers if name.lower() in SECRET_HEADERS]
        token = self.bearer_token
        if token:
            found.append(token)
        return tuple(sorted(set(found), key=len, reverse=True))

    def wants(self, *rules: str) -> bool:
        """True when any of `rules` is selected (all are, without --rules)."""
        return self.rules is None or any(rule in self.rules for rule in rules)

    def describe(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["profile"] = self.profile.name
        data["rules"] = sorted(self.rules) if self.rules is not None else None
        data["allowed_types"] = sorted(self.allowed_types)
        data["skip_checks"] = sorted(self.skip_checks)
        data["headers"] = [[name, "***" if name.lower() in SECRET_HEADERS else value] for name, value in self.headers]
        return data


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--header {text.split(':', maxsplit=1)[0]!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def parse_ids(text: str) -> tuple[int, int]:
    try:
        ids = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--project-ids {text!r}: expected two positive integers like 1,2") from None
    if len(ids) != 2 or min(ids) < 1 or ids[0] == ids[1]:
        raise ConfigError(f"--project-ids {text!r}: expected two different positive integers like 1,2")
    return ids[0], ids[1]


def parse_rules(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    rules = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = sorted(rules - set(RULES_BY_ID))
    if unknown:
        raise ConfigError(f"--rules: unknown rule id {', '.join(unknown)}; known: {', '.join(RULES_BY_ID)}")
    return rules


def normalise_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--base-url {url!r}: expected http(s)://host[:port]")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def ws_url_for(base_url: str, ws_url: str | None) -> str:
    if ws_url:
        parts = urlsplit(ws_url)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ConfigError(f"--ws-url {ws_url!r}: expected ws(s)://host[:port]")
        return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
    parts = urlsplit(base_url)
    return urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc, parts.path, "", ""))


def build_options(raw: dict[str, Any], embedded: tuple[str, str] | None = None) -> SuiteOptions:
    """SuiteOptions from the CLI's (or the pytest plugin's) raw option values; `embedded`: the mock's URLs."""
    if embedded is not None:
        base_url, ws_url = embedded
    else:
        base_url = normalise_base_url(raw["base_url"])
        ws_url = ws_url_for(base_url, raw["ws_url"])
    for name in ("request_timeout", "first_event_timeout", "idle_timeout"):
        if raw[name] <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be more than 0, got {raw[name]}")
    max_time = raw.get("max_time")
    if max_time is not None and max_time <= 0:
        raise ConfigError(f"--max-time must be more than 0 seconds, got {max_time:g}")
    if raw["missing_project_id"] < 1:
        raise ConfigError(f"--missing-project-id must be a positive integer, got {raw['missing_project_id']}")
    return SuiteOptions(
        base_url=base_url,
        ws_url=ws_url,
        project_ids=parse_ids(raw["project_ids"]),
        missing_project_id=raw["missing_project_id"],
        headers=tuple(parse_header(h) for h in raw["header"]),
        auth_required=raw["auth_required"],
        scenarios=raw["scenarios"] or embedded is not None,
        legacy_phase=raw["legacy_phase"] or ("compat" if embedded is not None else None),
        deterministic=raw["deterministic"] or embedded is not None,
        profile=PROFILES[raw["profile"]],
        rules=parse_rules(raw["rules"]),
        request_timeout_s=raw["request_timeout"],
        first_event_timeout_s=raw["first_event_timeout"],
        idle_timeout_s=raw["idle_timeout"],
        seed=raw["seed"],
        allowed_types=frozenset(t.strip() for t in (raw.get("allow_type") or ()) if t.strip()),
        skip_checks=frozenset({"http.schemathesis"} if raw.get("no_schemathesis") else ()),
        max_time_s=max_time,
    )
