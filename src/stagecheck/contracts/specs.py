"""Locate and load the two contract documents shipped in this package."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from stagecheck.errors import SpecError

try:  # the C loader is several times faster on the 400 kB meta-schema's neighbours
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

PACKAGE_DIR = Path(str(resources.files(__package__ or "stagecheck.contracts")))
OPENAPI_PATH = PACKAGE_DIR / "openapi.yaml"
ASYNCAPI_PATH = PACKAGE_DIR / "asyncapi.yaml"
VENDOR_DIR = PACKAGE_DIR / "vendor"


def load_document(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON document; a malformed one raises SpecError naming the spot."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        document = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(str(path), where, f"not valid YAML: {problem}") from exc
    if not isinstance(document, dict):
        raise SpecError(str(path), "", f"expected a mapping at the top, got {type(document).__name__}")
    return document


@lru_cache(maxsize=8)
def _cached(path: str) -> dict[str, Any]:
    return load_document(Path(path))


def asyncapi_document(path: Path | None = None) -> dict[str, Any]:
    """The AsyncAPI document (cached; treat it as read-only)."""
    return _cached(str(path or ASYNCAPI_PATH))


def openapi_document(path: Path | None = None) -> dict[str, Any]:
    """The OpenAPI document (cached; treat it as read-only)."""
    return _cached(str(path or OPENAPI_PATH))
