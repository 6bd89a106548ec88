"""What the real-browser check saw: a `BrowserResult` (one per check) and its JSON form.

The check (`stagecheck.browser`) runs the migration guide's two client paths in a headless
Chromium against the target; the page stamps every chunk or message, and the rules core
judges the bytes the browser received. One `BrowserModeResult` per mode: `sse` is the
guide's `fetch` + `response.body.getReader()` client, `ws` its POST (202) + `WebSocket`
client. No I/O here.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Any

from .modes import Mode, ResultsFormatError
from .probe_json import build, fields_of

# What the page's client is, per mode, in the guide's words.
CLIENT_OF_MODE: dict[str, str] = {"sse": "fetch stream reader", "ws": "WebSocket"}


@dataclass(frozen=True, slots=True)
class BrowserModeResult:
    """One mode's streams, as the page saw them and the rules core judged them."""

    mode: Mode
    streams_asked: int = 0
    streams_run: int = 0
    streams_held: int = 0  # streams that reached a terminal event with no violation and no failure
    events: int = 0  # SSE events or WebSocket messages the rules core was fed, summed
    tokens: int = 0  # summed over streams
    ttft_ms: tuple[float, ...] = ()  # per stream with a token: request sent -> first token, page clock
    violations: dict[str, int] = field(default_factory=dict)  # rule id -> streams that broke it (errors)
    warnings: dict[str, int] = field(default_factory=dict)  # rule id -> streams (SHOULD rules)
    failures: tuple[str, ...] = ()  # one sentence per stream that could not be read to its end
    examples: tuple[str, ...] = ()  # the first violation message of a few streams
    preference_applied: str | None = None  # the `Preference-Applied` header as the page could read it
    note: str | None = None  # e.g. the check's time ran out before every stream had run

    @property
    def client(self) -> str:
        return CLIENT_OF_MODE[self.mode]

    @property
    def held(self) -> bool:
        """Every stream asked for ran, reached its terminal event, and broke no MUST rule."""
        return self.streams_asked > 0 and self.streams_held == self.streams_asked

    @property
    def ttft_ms_p50(self) -> float | None:
        return statistics.median(self.ttft_ms) if self.ttft_ms else None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for name in ("ttft_ms", "failures", "examples"):
            data[name] = list(data[name])
        data["held"] = self.held  # derived, written so that readers need not recompute it
        data["client"] = self.client
        return data

    @classmethod
    def from_json(cls, data: Any) -> BrowserModeResult:
        what = "browser mode result"
        raw = fields_of(cls, data, what, derived=("held", "client"))
        try:
            raw["ttft_ms"] = tuple(float(v) for v in raw.get("ttft_ms", ()))
            raw["failures"] = tuple(str(v) for v in raw.get("failures", ()))
        except (TypeError, ValueError) as exc:
            raise ResultsFormatError(f"{what}: {exc}") from exc
        result: BrowserModeResult = build(cls, raw, what)
        return result


@dataclass(frozen=True, slots=True)
class BrowserResult:
    """The whole check: which browser, from which page origin, and each mode's streams.

    `not_run` is a measured reason (no Chromium, no playwright module, the target refused
    the connection); then `modes` is empty.
    """

    browser: str = "Chromium"
    version: str | None = None  # Playwright's `browser.version`
    executable: str | None = None
    headless: bool = True
    page_origin: str | None = None  # where the page was served from (the target's own origin, or another)
    cross_origin: bool = False  # the page's origin differs from the target's: the target's CORS was needed
    modes: tuple[BrowserModeResult, ...] = ()
    not_run: str | None = None
    elapsed_s: float = 0.0

    def mode(self, mode: Mode) -> BrowserModeResult | None:
        return next((m for m in self.modes if m.mode == mode), None)

    @property
    def held(self) -> bool:
        return self.not_run is None and bool(self.modes) and all(m.held for m in self.modes)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["modes"] = [m.to_json() for m in self.modes]
        data["held"] = self.held
        return data

    @classmethod
    def from_json(cls, data: Any) -> BrowserResult:
        what = "browser result"
        raw = fields_of(cls, data, what, derived=("held",), moded=False)
        modes = raw.get("modes", [])
        if not isinstance(modes, list):
            raise ResultsFormatError(f"{what}: modes is a list")
        raw["modes"] = tuple(BrowserModeResult.from_json(m) for m in modes)
        result: BrowserResult = build(cls, raw, what)
        return result
