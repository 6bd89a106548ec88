"""The driver: the guide's two client paths in a headless Chromium, judged by the rules core.

Playwright (sync API) starts Debian's Chromium, serves the page (`page.html`, `client.js`)
by request interception at the target's own origin, or at `page_origin` (then the target's
CORS is what lets the page read the answers), and asks the page to run each stream. The
page hands back raw chunks and messages with its own timestamps; `records` turns them into
events and `judge` feeds them to a `StreamValidator`. Every wait is bounded: the page's
timers bound each stream, and `timeout_s` bounds the whole check. A missing browser or
playwright module, or a target that refuses the connection, gives a result with `not_run`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

from stagecheck.errors import ConfigError
from stagecheck.results.browser_results import BrowserModeResult, BrowserResult
from stagecheck.results.load_results import MODES, Mode

from .judge import StreamVerdict, judge, summarise
from .records import PageStream, RecordError, sse_events, ws_events
from .target import PAGE_PATH, Target, origin_of, probe

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

DEFAULT_EXECUTABLE = "/usr/bin/chromium"
# The protocol's stage names (docs/protocol.md section 0): another would be the tool's misuse, not a finding.
STAGES = ("rewrite", "storyboard", "image_generation", "camera_movement", "video_generation")
DEFAULT_TEXT = "Browser check: rewrite this sentence, please."
STREAM_TIMEOUT_S = 20.0  # one stream, POST to terminal event, at most
PROBE_TIMEOUT_S = 3.0
# Kept back from the deadline for closing the browser.
CLOSE_MARGIN_S = 1.0
_ASSETS = {"page.html": "text/html; charset=utf-8", "client.js": "text/javascript; charset=utf-8"}


def _asset(name: str) -> str:
    return resources.files("stagecheck.browser").joinpath(name).read_text(encoding="utf-8")


def _missing_executable(path: str) -> str | None:
    if not os.path.isfile(path):
        return f"no Chromium at {path}; apt-get install chromium"
    if not os.access(path, os.X_OK):
        return f"{path} is not executable"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _Run:
    """One check's settings and clock, and how each mode's streams are asked of the page."""

    def __init__(
        self,
        target: Target,
        *,
        original_text: str,
        prefer: str | None,
        page_origin: str,
        idle_s: float,
        deadline: float,
    ) -> None:
        self.target = target
        self.original_text = original_text
        self.prefer = prefer
        self.page_origin = page_origin
        self.idle_s = idle_s
        self.deadline = deadline

    @property
    def cross_origin(self) -> bool:
        return self.page_origin != self.target.origin

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
        if self.prefer:
            headers["Prefer"] = self.prefer
        if self.target.token:
            headers["Authorization"] = f"Bearer {self.target.token}"
        return headers

    def body(self, streaming: bool) -> dict[str, Any]:
        return {
            "stage_name": self.target.stage,
            "input_data": {"original_text": self.original_text},
            "use_streaming": streaming,
        }

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def options(self, mode: Mode, total_s: float) -> dict[str, Any]:
        return {
            "url": self.target.execute_url,
            "headers": self.headers(),
            "body": self.body(streaming=mode == "sse"),
            "idleMs": round(min(self.idle_s, total_s) * 1000),
            "totalMs": round(total_s * 1000),
            "socketUrl": self.target.socket_prefix,
            "socketSuffix": self.target.socket_suffix,
        }

    def stream(self, page: Page, mode: Mode) -> tuple[PageStream, float]:
        total_s = min(STREAM_TIMEOUT_S, self.left() - CLOSE_MARGIN_S)
        script = "o => window.stagecheck.sseStream(o)" if mode == "sse" else "o => window.stagecheck.wsStream(o)"
        record = page.evaluate(script, self.options(mode, total_s))
        if not isinstance(record, dict):
            raise RecordError(f"the page answered {type(record).__name__}, not a record")
        read = sse_events if mode == "sse" else ws_events
        return read(record, idle_s=min(self.idle_s, total_s), total_s=total_s), total_s

    def hint(self, verdict: StreamVerdict) -> StreamVerdict:
        """A fetch the browser refused from another origin, once TCP was seen open: name CORS."""
        failure = verdict.failure
        if not (self.cross_origin and failure and "TypeError" in failure):
            return verdict
        failure = (
            f"{failure}: from the page's origin {self.page_origin} the browser needs the target's CORS "
            f"(Access-Control-Allow-Origin for that origin, and the preflight for POST with JSON)"
        )
        return StreamVerdict(
            verdict.events,
            verdict.tokens,
            verdict.terminal,
            verdict.ttft_ms,
            verdict.violations,
            verdict.warnings,
            failure,
            failure,
        )

    def mode(self, page: Page, mode: Mode, streams: int, playwright_error: type[Exception]) -> BrowserModeResult:
        verdicts: list[StreamVerdict] = []
        preference: str | None = None
        note: str | None = None
        for _ in range(streams):
            if self.left() - CLOSE_MARGIN_S < 1.0:
                note = f"the check's time ran out after {len(verdicts)} of {streams} streams"
                break
            try:
                stream, _total = self.stream(page, mode)
            except (playwright_error, RecordError) as exc:
                note = f"the page failed: {_first_line(exc)}"
                break
            if preference is None and stream.head is not None:
                preference = stream.head.header("preference-applied")
            verdict = judge(
                mode,
                stream,
                project_id=self.target.project_id,
                stage=self.target.stage,
                input_text=self.original_text,
                idle_s=self.idle_s,
                cross_origin=self.cross_origin,
            )
            verdicts.append(self.hint(verdict))
        return summarise(mode, verdicts, asked=streams, preference_applied=preference, note=note)


def _serve_page(route: Route) -> None:
    name = route.request.url.split(PAGE_PATH, 1)[-1].split("?", 1)[0]
    if name in _ASSETS:
        route.fulfill(status=200, content_type=_ASSETS[name], body=_asset(name))
    else:
        route.fulfill(status=404, content_type="text/plain", body="not part of the stagecheck page")


def _check_arguments(
    modes: tuple[Mode, ...], streams: int, timeout_s: float, idle_timeout_s: float, project_id: int, stage: str
) -> None:
    if isinstance(project_id, bool) or not isinstance(project_id, int) or project_id < 1:
        raise ConfigError(f"project_id must be a positive whole number, got {project_id!r}")
    if stage not in STAGES:
        raise ConfigError(f"stage: unknown stage {stage!r}; choose from {', '.join(STAGES)}")
    for mode in modes:
        if mode not in MODES:
            raise ConfigError(f"modes: unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if not modes:
        raise ConfigError("modes: name at least one of sse, ws")
    if streams < 1:
        raise ConfigError(f"streams must be at least 1, got {streams}")
    if not timeout_s > 0 or not idle_timeout_s > 0:
        raise ConfigError(f"timeouts must be more than 0 s, got {timeout_s} and {idle_timeout_s}")


def run_browser_check(
    base_url: str,
    *,
    project_id: int = 1,
    stage: str = "rewrite",
    original_text: str = DEFAULT_TEXT,
    prefer: str | None = None,
    token: str | None = None,
    modes: tuple[Mode, ...] = ("sse", "ws"),
    streams: int = 3,
    executable: str | None = None,
    page_origin: str | None = None,
    timeout_s: float = 30.0,
    idle_timeout_s: float = 10.0,
) -> BrowserResult:
    """Run `streams` streams of each mode in a headless Chromium; see the module docstring.

    Raises ConfigError for bad arguments; everything the check meets on the machine or the
    target is in the result (`not_run`, or per mode: failures, violations, a note).
    """
    clock = time.monotonic
    started = clock()
    modes = tuple(dict.fromkeys(modes))
    _check_arguments(modes, streams, timeout_s, idle_timeout_s, project_id, stage)
    target = Target(base_url, project_id, stage, token)
    origin = target.origin
    shown_origin = origin_of(page_origin, "page_origin") if page_origin else origin
    exe = executable or DEFAULT_EXECUTABLE
    base = BrowserResult(executable=exe, page_origin=shown_origin, cross_origin=shown_origin != origin)

    def not_run(reason: str, **more: Any) -> BrowserResult:
        return _replace(base, not_run=reason, elapsed_s=round(clock() - started, 3), **more)

    missing = _missing_executable(exe)
    if missing:
        return not_run(missing)
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        return not_run("the playwright module is not installed; pip install 'stagecheck[browser]'")
    refused = probe(origin, min(PROBE_TIMEOUT_S, timeout_s))
    if refused:
        return not_run(refused)
    run = _Run(
        target,
        original_text=original_text,
        prefer=prefer,
        page_origin=shown_origin,
        idle_s=idle_timeout_s,
        deadline=started + timeout_s,
    )
    try:
        with sync_playwright() as playwright:
            launch_ms = max(1000.0, (run.left() - CLOSE_MARGIN_S) * 1000)
            browser = playwright.chromium.launch(executable_path=exe, headless=True, timeout=launch_ms)
            try:
                version = browser.version
                results = _run_modes(browser, run, modes, streams, PlaywrightError)
            finally:
                browser.close()
    except (PlaywrightError, OSError) as exc:  # OSError: Playwright's own driver process did not start
        return not_run(f"Chromium did not run the page: {_first_line(exc)}")
    return _replace(base, version=version, modes=results, elapsed_s=round(clock() - started, 3))


def _run_modes(
    browser: Browser, run: _Run, modes: tuple[Mode, ...], streams: int, playwright_error: type[Exception]
) -> tuple[BrowserModeResult, ...]:
    # The page is fulfilled by interception, so Chromium cannot place its origin on the loopback
    # network and its Local Network Access checks would block every request to a local target:
    # grant what a user would grant such a page.
    context = browser.new_context(permissions=["local-network-access"])
    page = context.new_page()
    page.route(f"{run.page_origin}{PAGE_PATH}**", _serve_page)
    wait_ms = max(1000.0, (run.left() - CLOSE_MARGIN_S) * 1000)
    page.goto(f"{run.page_origin}{PAGE_PATH}page.html", timeout=wait_ms)
    page.wait_for_function("() => window.stagecheck && window.stagecheck.ready", timeout=wait_ms)
    return tuple(run.mode(page, mode, streams, playwright_error) for mode in modes)


def _replace(result: BrowserResult, **changes: Any) -> BrowserResult:
    return dataclasses.replace(result, **changes)
