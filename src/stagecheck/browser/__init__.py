"""A real-browser check of the migration guide's two client paths (the "browsers" row).

`run_browser_check(base_url, ...)` drives a headless Chromium with Playwright and returns
a `stagecheck.results.browser_results.BrowserResult`. This floor stands on contracts,
results and transports; only commands/ and the CLI import it.
"""

from __future__ import annotations

from .check import DEFAULT_EXECUTABLE, run_browser_check

__all__ = ["DEFAULT_EXECUTABLE", "run_browser_check"]
