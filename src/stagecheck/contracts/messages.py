"""Message schemas per transport, read from the AsyncAPI document (rule M1).

Which message types a server may send on each transport, and the schema of each, come
from `asyncapi.yaml` alone: the `send` operations of a channel, plus the replies of its
`receive` operations. Validation uses compiled validators (jsonschema-rs) because the
load users run it on every event; the readable error comes from the same validator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs

from stagecheck.errors import SpecError

from .specs import ASYNCAPI_PATH, asyncapi_document

# The two channels of asyncapi.yaml, by transport name.
CHANNEL_FOR_TRANSPORT = {"ws": "stageSocket", "sse": "sseStream"}


def _resolve_local(document: Mapping[str, Any], ref: str, file: str) -> tuple[str, Any]:
    if not ref.startswith("#/"):
        raise SpecError(file, ref, "only local references are supported inside asyncapi.yaml")
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise SpecError(file, ref, "reference does not resolve")
        node = node[part]
    return ref, node


@dataclass(frozen=True)
class MessageType:
    """One message a server may send: its `type` value and compiled payload schema."""

    name: str
    pointer: str  # JSON pointer of the payload schema inside asyncapi.yaml
    validator: Any

    def first_error(self, payload: Any) -> str | None:
        """None when `payload` is valid, else a one-line description of the first problem."""
        try:
            if self.validator.is_valid(payload):
                return None
            errors = list(self.validator.iter_errors(payload))
        except UnicodeEncodeError:
            # A lone surrogate (Q4 reports it) cannot cross into the Rust validator: judge the rest.
            return self.first_error(_without_surrogates(payload))
        for error in errors:
            path = "/".join(str(p) for p in error.instance_path) or "(top)"
            return f"at {path}: {error.message}"
        return "invalid"  # pragma: no cover - is_valid and iter_errors agree


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_without_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


class MessageSchemas:
    """Server-sent message types of one transport, keyed by their `type` value."""

    def __init__(self, transport: str, path: Path | None = None) -> None:
        file = str(path or ASYNCAPI_PATH)
        document = asyncapi_document(path)
        channel_key = CHANNEL_FOR_TRANSPORT[transport]
        channel_ref = f"#/channels/{channel_key}"
        names: list[str] = []
        for operation in document.get("operations", {}).values():
            if operation.get("channel", {}).get("$ref") != channel_ref:
                continue
            refs: list[Mapping[str, Any]] = []
            if operation.get("action") == "send":
                refs += operation.get("messages", [])
            refs += (operation.get("reply") or {}).get("messages", [])
            for ref in refs:
                name = ref["$ref"].rsplit("/", 1)[-1]
                if name not in names:
                    names.append(name)
        # A root that holds the whole document so that local $refs resolve.
        root: dict[str, Any] = {key: document[key] for key in ("components", "channels") if key in document}
        self.transport = transport
        self.types: dict[str, MessageType] = {}
        for name in names:
            _, channel_message = _resolve_local(document, f"{channel_ref}/messages/{name}", file)
            target = channel_message.get("$ref", f"{channel_ref}/messages/{name}")
            pointer, message = _resolve_local(document, target, file)
            payload_pointer = f"{pointer}/payload"
            if "payload" not in message:
                raise SpecError(file, pointer, "message has no payload schema")
            validator = jsonschema_rs.Draft7Validator({**root, "allOf": [{"$ref": payload_pointer}]})
            self.types[name] = MessageType(name, payload_pointer, validator)

    def get(self, name: str) -> MessageType | None:
        return self.types.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.types


_CACHE: dict[tuple[str, str], MessageSchemas] = {}


def message_schemas(transport: str, path: Path | None = None) -> MessageSchemas:
    """Shared, lazily built MessageSchemas for a transport (building costs milliseconds)."""
    key = (transport, str(path or ASYNCAPI_PATH))
    if key not in _CACHE:
        _CACHE[key] = MessageSchemas(transport, path)
    return _CACHE[key]
