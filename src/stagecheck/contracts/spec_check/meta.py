"""The two official meta-schemas, vendored in `vendor/`, and readable findings from them.

OpenAPI 3.2 is draft 2020-12; AsyncAPI 3.0.0 is draft-07 with `$id`-keyed definitions.
Both validators resolve every reference from the vendored files (and the JSON Schema
meta-schemas shipped with jsonschema); nothing is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError, best_match
from jsonschema_specifications import REGISTRY as JSON_SCHEMA_SPECS
from referencing import Registry, Specification
from referencing.jsonschema import DRAFT7, DRAFT202012

from ..specs import VENDOR_DIR
from .refs import MAX_HOPS
from .source import Parts, SpecProblem, json_path, line_of

OPENAPI_META_SCHEMA = VENDOR_DIR / "openapi-3.2.schema.json"
ASYNCAPI_META_SCHEMA = VENDOR_DIR / "asyncapi-3.0.0.schema.json"
DRAFT202012_META_SCHEMA = "https://json-schema.org/draft/2020-12/schema"


@lru_cache(maxsize=1)
def openapi_meta_validator() -> jsonschema.Draft202012Validator:
    """The OpenAPI 3.2 meta-schema validator, built once per process.

    The official schema checks "documents without Schema Object validation": its
    `$defs/schema` accepts any object. Here that definition also refers to the JSON
    Schema 2020-12 meta-schema (shipped with jsonschema, read offline), as OpenAPI's
    own "schema-base" variant does, so that `type: strng` or `required: id` in a schema
    is caught too. 2020-12 allows unknown keywords, so OpenAPI's (`discriminator`,
    `xml`, `example`) pass.
    """
    schema = json.loads(OPENAPI_META_SCHEMA.read_text(encoding="utf-8"))
    schema["$defs"]["schema"] = {"$dynamicAnchor": "meta", "$ref": DRAFT202012_META_SCHEMA}
    return jsonschema.Draft202012Validator(schema, registry=_crawled(schema, DRAFT202012, JSON_SCHEMA_SPECS))


@lru_cache(maxsize=1)
def asyncapi_meta_validator() -> jsonschema.Draft7Validator:
    """The AsyncAPI 3.0.0 meta-schema validator, built once per process.

    Its `definitions` are keyed by, and carry, absolute `$id`s: crawling the root schema
    registers each as an embedded resource, so `http://asyncapi.com/...` refs resolve
    from the vendored file.
    """
    schema = json.loads(ASYNCAPI_META_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, registry=_crawled(schema, DRAFT7))


def _crawled(
    schema: dict[str, Any], specification: Specification[Any], base: Registry[Any] | None = None
) -> Registry[Any]:
    """A registry holding only `schema` and its embedded resources (plus `base`), crawled once.

    Nothing else: a reference the vendored files cannot satisfy is an error, never a
    download. Crawling up front matters: an uncrawled registry is crawled again on each
    validation, which made a check of the shipped pair about four times slower (measured:
    0.18 s instead of 0.046 s).
    """
    registry: Registry[Any] = (base or Registry()).with_resource(schema["$id"], specification.create_resource(schema))
    return registry.crawl()


def _reference_branch(error: ValidationError) -> bool:
    """Whether a oneOf/anyOf branch error says "this should have been a `$ref`"."""
    return error.validator == "required" and "$ref" in (error.validator_value or ())


def _most_relevant(error: ValidationError) -> ValidationError:
    """The innermost useful cause of `error`, or `error` itself.

    best_match stops at a oneOf between a Reference and, say, an Operation when both
    branches fail equally ("... is not valid under any of the given schemas"). An object
    without `$ref` was meant to be the non-Reference branch: drop the Reference branch
    and look inside the one that is left.
    """
    for _ in range(MAX_HOPS):
        if error.validator not in ("oneOf", "anyOf") or not error.context:
            return error
        branches: dict[Any, list[ValidationError]] = {}
        for cause in error.context:
            branches.setdefault(cause.relative_schema_path[0], []).append(cause)
        has_ref = isinstance(error.instance, Mapping) and "$ref" in error.instance
        if not has_ref:
            kept = {k: v for k, v in branches.items() if not any(_reference_branch(c) for c in v)}
            branches = kept or branches
        if len(branches) != 1:
            return best_match([error])
        error = best_match(next(iter(branches.values())))
    return error


def _short_message(error: ValidationError) -> str:
    """jsonschema's message, without a repr of a whole object at its start."""
    message = str(error.message)
    shown = repr(error.instance)
    if len(shown) > 60 and message.startswith(shown):
        kinds = {dict: "this object", list: "this list"}
        kind = next((k for t, k in kinds.items() if isinstance(error.instance, t)), "this value")
        message = kind + message[len(shown) :]
    return message


def meta_schema_problems(
    document: Any, validator: jsonschema.protocols.Validator, file: str, lines: Mapping[Parts, int]
) -> list[SpecProblem]:
    """Every meta-schema error of `document`, each explained by its most relevant cause."""
    return [
        SpecProblem(file, json_path(parts), problem, line_of(lines, parts))
        for parts, problem in _meta_findings(document, validator)
    ]


# Meta-schema findings by (validator, document text). Commands validate the same shipped
# documents again and again in one process; one OpenAPI check costs about 0.08 s.
_FINDINGS: dict[tuple[int, str], tuple[tuple[Parts, str], ...]] = {}
_FINDINGS_KEPT = 8


def _meta_findings(document: Any, validator: jsonschema.protocols.Validator) -> tuple[tuple[Parts, str], ...]:
    key = (id(validator), repr(document))  # repr keeps types apart (200 vs "200"), unlike JSON
    if key in _FINDINGS:
        _FINDINGS[key] = _FINDINGS.pop(key)  # least recently used goes first
        return _FINDINGS[key]
    try:
        errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    except RecursionError:  # tree_problem keeps documents shallower than this; a safety net
        return (((), "nested too deeply to check against the meta-schema"),)
    findings: list[tuple[Parts, str]] = []
    for error in errors:
        cause = _most_relevant(error)
        finding = (tuple(cause.absolute_path), _short_message(cause))
        if finding not in findings:
            findings.append(finding)
    if len(_FINDINGS) >= _FINDINGS_KEPT:
        del _FINDINGS[next(iter(_FINDINGS))]
    _FINDINGS[key] = result = tuple(findings)
    return result
