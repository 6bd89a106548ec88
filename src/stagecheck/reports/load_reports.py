"""Write a sweep's reports: `results.json` (every figure), `index.html`, `summary.md`."""

from __future__ import annotations

import json
from pathlib import Path

from stagecheck.results.load_results import LoadResults

from .load_html import render_html
from .load_markdown import render_markdown


def write_load_reports(results: LoadResults, directory: str | Path) -> dict[str, Path]:
    """Write the three files (creating the directory); returns their paths by name."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "results.json", "html": out / "index.html", "markdown": out / "summary.md"}
    paths["results"].write_text(json.dumps(results.to_json(), indent=2) + "\n", encoding="utf-8")
    paths["html"].write_text(render_html(results), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(results), encoding="utf-8")
    return paths
