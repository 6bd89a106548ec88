"""Request validation against the request schemas of `contracts/openapi.yaml`.

The schemas are not restated here: each validator is built from the OpenAPI document
itself, under a base URI from which `./asyncapi.yaml#/...` references resolve to the
AsyncAPI document. Validation is compiled (jsonschema-rs): it runs on every request,
and the Python validator costs about a millisecond per body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema_rs
import orjson

from stagecheck.contracts.specs import asyncapi_document, openapi_document

_BASE = "https://stagecheck.invalid/contracts/"
OPENAPI_URI = _BASE + "openapi.yaml"
ASYNCAPI_URI = _BASE + "asyncapi.yaml"


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a request body was refused: a sentence and where in the body."""

    message: str
    path: str


class InvalidJson(ValueError):
    """The body is not a JSON text (or holds NaN/Infinity or lone surrogates, which JSON text cannot carry)."""


def _retrieve(uri: str) -> Any:
    # Only the two contract documents can be referenced; nothing is fetched.
    if uri.split("#", 1)[0] == ASYNCAPI_URI:
        return asyncapi_document()
    if uri.split("#", 1)[0] == OPENAPI_URI:
        return openapi_document()
    raise ValueError(f"{uri} is not one of the contract documents")


@lru_cache(maxsize=8)
def request_validator(schema_name: str) -> Any:
    """A compiled validator for `#/components/schemas/<schema_name>` of openapi.yaml."""
    schema = {
        "$id": OPENAPI_URI,
        "components": openapi_document()["components"],
        "$ref": f"#/components/schemas/{schema_name}",
    }
    return jsonschema_rs.Draft202012Validator(schema, retriever=_retrieve)


def stage_names() -> tuple[str, ...]:
    """The stage names of the contract (asyncapi.yaml StageName)."""
    return tuple(asyncapi_document()["components"]["schemas"]["StageName"]["enum"])


def _reject_constant(name: str) -> Any:
    raise InvalidJson(f"the body is not valid JSON: {name} is not a JSON value")


def parse_json(body: bytes) -> Any:
    """Decode a strict UTF-8 JSON body; InvalidJson with a sentence when it is not one."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # the fast parser refuses a few valid texts (numbers beyond a double): ask the slow one
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"the body is not UTF-8 (byte {exc.start})") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidJson(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise InvalidJson("the body nests too deeply") from exc
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidJson("the body holds a lone surrogate escape (\\ud800-\\udfff): not Unicode text") from exc
    return value


def check_request(schema_name: str, payload: Any) -> Invalid | None:
    """None when the payload satisfies the schema, else its first problem."""
    validator = request_validator(schema_name)
    if validator.is_valid(payload):
        return None
    for error in validator.iter_errors(payload):
        path = "/".join(str(part) for part in error.instance_path)
        message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
        return Invalid(message, "/" + path)
    return Invalid("the body does not match the schema", "/")  # pragma: no cover - is_valid and iter_errors agree
