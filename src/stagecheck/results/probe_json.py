"""Reading a probe's result back from results.json: the checks every probe's `from_json` makes.

A probe result is a flat JSON object with a mode, rule counts and examples; these turn the
ways it can be malformed into one `ResultsFormatError` that names the result and the field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .modes import MODES, ResultsFormatError


def fields_of(
    cls: type[Any], data: Any, what: str, *, derived: tuple[str, ...] = (), moded: bool = True
) -> dict[str, Any]:
    """`data` as keyword arguments of `cls`: a JSON object, derived keys dropped, no unknown field.

    The common fields are typed on the way: `examples` (strings), `violations` and `warnings`
    (rule id -> count). `moded`: the object has a `mode`, one of MODES.
    """
    if not isinstance(data, dict):
        raise ResultsFormatError(f"a {what} is a JSON object, not {type(data).__name__}")
    raw = {k: v for k, v in data.items() if k not in derived}
    if moded and raw.get("mode") not in MODES:
        raise ResultsFormatError(f"{what}: mode {raw.get('mode')!r} is not one of {', '.join(MODES)}")
    unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ResultsFormatError(f"{what}: unknown fields {', '.join(unknown)}")
    try:
        if "examples" in raw:
            raw["examples"] = tuple(str(e) for e in raw["examples"])
        for name in ("violations", "warnings"):
            if name in raw:
                raw[name] = {str(k): int(v) for k, v in dict(raw[name]).items()}
    except (TypeError, ValueError) as exc:
        raise ResultsFormatError(f"{what}: {exc}") from exc
    return raw


def build(cls: type[Any], raw: dict[str, Any], what: str) -> Any:
    """`cls(**raw)`, a wrong type of value being a ResultsFormatError."""
    try:
        return cls(**raw)
    except (TypeError, ValueError) as exc:
        raise ResultsFormatError(f"{what}: {exc}") from exc
