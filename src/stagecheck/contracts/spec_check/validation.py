"""Validate the two contract documents: the entry point of `stagecheck validate-specs`.

Every problem is reported, not only the first:
1. The file is a sane tree: it loads, has no duplicate keys, and no YAML alias makes it
   endless or huge (`source`).
2. Each document matches its official meta-schema, vendored in `vendor/`: OpenAPI 3.2
   (draft 2020-12, Schema Objects included) and AsyncAPI 3.0.0 (draft-07); nothing is
   fetched over the network (`meta`).
3. Every `$ref` resolves: local `#/...` pointers and relative cross-file references
   such as `./asyncapi.yaml#/components/schemas/TokenPayload` (`refs`).
4. The documents agree: OpenAPI's SSE events are exactly the messages of AsyncAPI's SSE
   channel with the same payload schemas (S1, M1), every `stage_name` allows exactly
   AsyncAPI's stage names, and AsyncAPI operations list only their channel's messages
   (`agreement`).

Sans-I/O apart from reading the documents. A problem carries the file, a JSON path
into the document, the source line when known, and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from stagecheck.errors import SpecError

from ..specs import ASYNCAPI_PATH, OPENAPI_PATH, load_document
from .agreement import check_operation_messages, check_sse_agreement, check_stage_names
from .meta import (
    ASYNCAPI_META_SCHEMA,
    OPENAPI_META_SCHEMA,
    asyncapi_meta_validator,
    meta_schema_problems,
    openapi_meta_validator,
)
from .refs import Run
from .source import SpecProblem, display_name, json_path, source_lines, tree_problem

__all__ = [
    "ASYNCAPI_META_SCHEMA",
    "OPENAPI_META_SCHEMA",
    "SpecCheck",
    "SpecProblem",
    "check_specs",
    "ensure_valid_specs",
    "json_path",
    "validate_specs",
]


@dataclass(frozen=True, slots=True)
class SpecCheck:
    """What a validation run found, with the figures of the one-line OK summary."""

    problems: list[SpecProblem]
    openapi_file: str
    asyncapi_file: str
    openapi_version: str | None
    asyncapi_version: str | None
    refs_checked: int
    sse_message_types: tuple[str, ...]
    stage_names: tuple[str, ...]


def _load(run: Run, path: Path, validator: jsonschema.protocols.Validator) -> dict[str, Any] | None:
    """Load one document and check it against its meta-schema; None when it does not load."""
    shown = run.names[path.resolve()] = display_name(path)
    try:
        document = load_document(path)
    except SpecError as exc:
        run.problems.append(SpecProblem(shown, exc.path or "$", exc.problem))
        return None
    except RecursionError:
        run.problems.append(SpecProblem(shown, "$", "the document is nested too deeply to read"))
        return None
    shape = tree_problem(document)
    if shape is not None:  # nothing below may walk it: it is endless, or too big to walk
        run.problems.append(SpecProblem(shown, json_path(shape[0]), shape[1]))
        return None
    run.docs.add(path, document)
    try:
        lines, duplicates = source_lines(path.read_text(encoding="utf-8"), shown)
    except (OSError, UnicodeDecodeError):  # changed under our feet; lines are a nicety
        lines, duplicates = {}, []
    run.lines[path.resolve()] = lines
    run.problems += duplicates
    run.problems += meta_schema_problems(document, validator, shown, lines)
    return document


def check_specs(openapi_path: Path | None = None, asyncapi_path: Path | None = None) -> SpecCheck:
    """Validate the pair of contract documents; every problem found is in `.problems`."""
    openapi_path = Path(openapi_path or OPENAPI_PATH)
    asyncapi_path = Path(asyncapi_path or ASYNCAPI_PATH)
    run = Run()
    openapi = _load(run, openapi_path, openapi_meta_validator())
    asyncapi = _load(run, asyncapi_path, asyncapi_meta_validator())
    for document, path in ((openapi, openapi_path), (asyncapi, asyncapi_path)):
        if document is not None:
            run.check_refs(document, path)
    if asyncapi is not None:
        check_operation_messages(run, asyncapi, asyncapi_path)
    sse_types: tuple[str, ...] = ()
    stage_names: tuple[str, ...] = ()
    if openapi is not None and asyncapi is not None:
        sse_types = check_sse_agreement(run, openapi, openapi_path, asyncapi, asyncapi_path)
        stage_names = check_stage_names(run, openapi, openapi_path, asyncapi, asyncapi_path)
    return SpecCheck(
        problems=run.sorted_problems(),
        openapi_file=run.name(openapi_path),
        asyncapi_file=run.name(asyncapi_path),
        openapi_version=str(openapi.get("openapi")) if openapi else None,
        asyncapi_version=str(asyncapi.get("asyncapi")) if asyncapi else None,
        refs_checked=run.refs_checked,
        sse_message_types=sse_types,
        stage_names=stage_names,
    )


def validate_specs(openapi_path: Path | None = None, asyncapi_path: Path | None = None) -> list[SpecProblem]:
    """Every problem of the contract pair (defaults: the shipped documents); empty when valid."""
    return check_specs(openapi_path, asyncapi_path).problems


def ensure_valid_specs(openapi_path: Path | None = None, asyncapi_path: Path | None = None) -> None:
    """Raise SpecError (exit code 2) naming the first problem, for commands about to use the specs."""
    problems = validate_specs(openapi_path, asyncapi_path)
    if problems:
        more = f" ({len(problems) - 1} more; run `stagecheck validate-specs`)" if len(problems) > 1 else ""
        raise problems[0].to_error(more)
