"""Validate the two contract documents: meta-schemas, `$ref`s, and their agreement.

Three checks, every problem reported (not only the first):
1. Each document against its official meta-schema, vendored in `vendor/`: OpenAPI 3.2
   (draft 2020-12) and AsyncAPI 3.0.0 (draft-07, whose `definitions` carry `$id`s and
   resolve as embedded resources; nothing is fetched over the network).
2. Every `$ref` resolves: local `#/...` pointers and relative cross-file references such
   as `./asyncapi.yaml#/components/schemas/TokenPayload`.
3. The documents agree: the SSE events of OpenAPI's `text/event-stream` responses are
   exactly the messages of AsyncAPI's SSE channel, each event's `data.contentSchema`
   is the payload schema of the message of the same type (S1, M1), and every
   `stage_name` enum is AsyncAPI's.

Sans-I/O apart from reading the documents. A problem carries the file, a JSON path
into the document, the source line when known, and what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry

from .errors import SpecError
from .messages import CHANNEL_FOR_TRANSPORT
from .specs import ASYNCAPI_PATH, OPENAPI_PATH, VENDOR_DIR, load_document

try:  # same loader as specs.load_document, so that lines match what was parsed
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

OPENAPI_META_SCHEMA = VENDOR_DIR / "openapi-3.2.schema.json"
ASYNCAPI_META_SCHEMA = VENDOR_DIR / "asyncapi-3.0.0.schema.json"
SSE_CHANNEL = CHANNEL_FOR_TRANSPORT["sse"]
STAGE_NAME_KEY = "stage_name"

# Subtrees that hold example data, not schema: a `$ref` key there is not a reference.
_DATA_KEYS = frozenset({"example", "default", "const", "enum"})
# A chain of `$ref`s longer than this is treated as a cycle.
_MAX_HOPS = 32
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keys a Reference Object may carry next to `$ref` without becoming a new schema.
_REFERENCE_KEYS = frozenset({"$ref", "summary", "description"})

Parts = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One thing wrong with a contract document."""

    file: str
    path: str  # JSON path ("$.channels.sseStream"), or "line L, column C" for a parse error
    problem: str
    line: int | None = None  # 1-based source line of `path`, when known

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: at {self.path}: {self.problem}"

    def to_error(self) -> SpecError:
        return SpecError(self.file, self.path, self.problem)


def json_path(parts: Parts) -> str:
    """`$.a['/b'][0]`, in the style of jsonschema's `ValidationError.json_path`."""
    text = "$"
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}"
        else:
            text += "[" + repr(part) + "]"
    return text


def _pointer(parts: Parts) -> str:
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else "#"


# --- meta-schemas ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def openapi_meta_validator() -> jsonschema.Draft202012Validator:
    """The OpenAPI 3.2 meta-schema validator, built once per process."""
    schema = json.loads(OPENAPI_META_SCHEMA.read_text(encoding="utf-8"))
    # An empty registry: a reference the vendored file cannot satisfy is an error, never a download.
    return jsonschema.Draft202012Validator(schema, registry=Registry())


@lru_cache(maxsize=1)
def asyncapi_meta_validator() -> jsonschema.Draft7Validator:
    """The AsyncAPI 3.0.0 meta-schema validator, built once per process.

    Its `definitions` are keyed by, and carry, absolute `$id`s; jsonschema finds them as
    resources embedded in the root schema, so the empty registry is enough.
    """
    schema = json.loads(ASYNCAPI_META_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, registry=Registry())


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
    for _ in range(_MAX_HOPS):
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
    message = error.message
    shown = repr(error.instance)
    if len(shown) > 60 and message.startswith(shown):
        kind = (
            "this object"
            if isinstance(error.instance, dict)
            else "this list"
            if isinstance(error.instance, list)
            else "this value"
        )
        message = kind + message[len(shown) :]
    return message


def meta_schema_problems(
    document: Any, validator: jsonschema.protocols.Validator, file: str, lines: Mapping[Parts, int]
) -> list[SpecProblem]:
    """Every meta-schema error of `document`, each explained by its most relevant cause."""
    problems: list[SpecProblem] = []
    seen: set[tuple[str, str]] = set()
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    for error in errors:
        cause = _most_relevant(error)
        parts: Parts = tuple(cause.absolute_path)
        key = (json_path(parts), _short_message(cause))
        if key not in seen:
            seen.add(key)
            problems.append(SpecProblem(file, key[0], key[1], _line_of(lines, parts)))
    return problems


# --- source lines and duplicate keys -------------------------------------------------------


def _line_of(lines: Mapping[Parts, int], parts: Parts) -> int | None:
    """The line of `parts`, or of its nearest ancestor that has one."""
    for end in range(len(parts), -1, -1):
        line = lines.get(parts[:end])
        if line is not None:
            return line
    return None


def source_lines(text: str, file: str) -> tuple[dict[Parts, int], list[SpecProblem]]:
    """Line of every node of a YAML/JSON text by path, and its duplicate mapping keys.

    PyYAML keeps the last of two equal keys without a word, which silently drops a
    response or a schema; the node tree still has both.
    """
    lines: dict[Parts, int] = {}
    duplicates: list[SpecProblem] = []
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:  # load_document already reported it
        return lines, duplicates
    stack: list[tuple[yaml.Node, Parts]] = [(root, ())] if root is not None else []
    lines[()] = 1
    while stack:
        node, parts = stack.pop()
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                child = (*parts, key)
                if key in keys:
                    duplicates.append(
                        SpecProblem(file, json_path(parts), f"duplicate key {key!r}", key_node.start_mark.line + 1)
                    )
                keys.add(key)
                lines.setdefault(child, key_node.start_mark.line + 1)
                stack.append((value_node, child))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                child = (*parts, index)
                lines[child] = item.start_mark.line + 1
                stack.append((item, child))
    return lines, duplicates


# --- documents and references ----------------------------------------------------------------


class _Unresolved(Exception):
    """A `$ref` that does not lead anywhere; the message says why."""


@dataclass(frozen=True, slots=True)
class Location:
    """A node of one of the loaded documents."""

    file: Path
    parts: Parts
    node: Any

    def describe(self, relative_to: Path) -> str:
        prefix = "" if self.file == relative_to else self.file.name
        return prefix + _pointer(self.parts)


class Documents:
    """The documents of one validation run, loaded once each, by resolved path."""

    def __init__(self) -> None:
        self._loaded: dict[Path, dict[str, Any] | SpecError] = {}

    def add(self, path: Path, document: dict[str, Any]) -> None:
        self._loaded[path.resolve()] = document

    def get(self, path: Path) -> dict[str, Any]:
        path = path.resolve()
        if path not in self._loaded:
            try:
                self._loaded[path] = load_document(path)
            except SpecError as exc:
                self._loaded[path] = exc
        loaded = self._loaded[path]
        if isinstance(loaded, SpecError):
            raise _Unresolved(f"{path} does not load ({loaded.problem})")
        return loaded

    def resolve(self, ref: str, base: Path, depth: int = 0) -> Location:
        """Where `ref`, written in the file `base`, points to; raises _Unresolved."""
        if depth > _MAX_HOPS:
            raise _Unresolved("the references form a cycle")
        uri, _, fragment = ref.partition("#")
        if urlsplit(uri).scheme or uri.startswith("//"):
            raise _Unresolved("a remote reference; stagecheck follows only references to a local file")
        if fragment and not fragment.startswith("/"):
            raise _Unresolved("only JSON-pointer fragments (#/...) are supported")
        target = (base.parent / unquote(uri)).resolve() if uri else base.resolve()
        location = Location(target, (), self.get(target))
        for token in fragment.split("/")[1:]:
            location = self._step(location, unquote(token).replace("~1", "/").replace("~0", "~"), depth)
        return location

    def _step(self, location: Location, token: str, depth: int) -> Location:
        """One pointer step; a mapping without the key but with a `$ref` is followed first."""
        node = location.node
        if isinstance(node, Mapping):
            if token in node:
                return Location(location.file, (*location.parts, token), node[token])
            if isinstance(node.get("$ref"), str):
                return self._step(self.resolve(node["$ref"], location.file, depth + 1), token, depth + 1)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            return Location(location.file, (*location.parts, int(token)), node[int(token)])
        raise _Unresolved(f"nothing at {token!r} under {_pointer(location.parts)} of {location.file.name}")

    def final(self, location: Location) -> Location:
        """Follow Reference nodes (`$ref` plus at most summary/description) to the real node."""
        seen = {(location.file, location.parts)}
        for _ in range(_MAX_HOPS):
            node = location.node
            if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and set(node) <= _REFERENCE_KEYS):
                return location
            location = self.resolve(node["$ref"], location.file)
            if (location.file, location.parts) in seen:
                raise _Unresolved("the references form a cycle")
            seen.add((location.file, location.parts))
        raise _Unresolved(f"more than {_MAX_HOPS} references in a row")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# Parents whose keys are names (of properties, schemas ...), so a key like `default` there is no data.
_NAME_PARENTS = frozenset({"properties", "patternProperties", "definitions", "$defs", "schemas"})


def walk_mappings(document: Any) -> Iterator[tuple[Parts, Mapping[str, Any]]]:
    """Every mapping of `document` with its path, skipping example and default data."""
    stack: list[tuple[Any, Parts]] = [(document, ())]
    while stack:
        node, parts = stack.pop()
        if isinstance(node, Mapping):
            yield parts, node
            in_names = bool(parts) and parts[-1] in _NAME_PARENTS
            for key, value in reversed(list(node.items())):
                if not in_names and (key in _DATA_KEYS or (key == "examples" and isinstance(value, list))):
                    continue
                stack.append((value, (*parts, key)))
        elif isinstance(node, list):
            stack.extend((item, (*parts, index)) for index, item in reversed(list(enumerate(node))))


# --- one validation run ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpecCheck:
    """What a validation run found, with the figures of the one-line OK summary."""

    problems: list[SpecProblem]
    openapi_version: str | None
    asyncapi_version: str | None
    refs_checked: int
    sse_message_types: tuple[str, ...]
    stage_names: tuple[str, ...]


class _Run:
    """Shared state of one run: loaded documents, source lines, display names, problems."""

    def __init__(self) -> None:
        self.docs = Documents()
        self.lines: dict[Path, dict[Parts, int]] = {}
        self.names: dict[Path, str] = {}
        self.problems: list[SpecProblem] = []
        self.refs_checked = 0

    def name(self, file: Path) -> str:
        return self.names.get(file.resolve(), str(file))

    def report(self, file: Path, parts: Parts, problem: str) -> None:
        lines = self.lines.get(file.resolve(), {})
        self.problems.append(SpecProblem(self.name(file), json_path(parts), problem, _line_of(lines, parts)))

    def load(self, path: Path, validator: jsonschema.protocols.Validator) -> dict[str, Any] | None:
        """Load one document and check it against its meta-schema; None when it does not load."""
        self.names[path.resolve()] = str(path)
        try:
            document = load_document(path)
        except SpecError as exc:
            self.problems.append(SpecProblem(exc.file, exc.path or "$", exc.problem))
            return None
        self.docs.add(path, document)
        try:
            lines, duplicates = source_lines(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError):  # changed under our feet; lines are a nicety
            lines, duplicates = {}, []
        self.lines[path.resolve()] = lines
        self.problems += duplicates
        self.problems += meta_schema_problems(document, validator, str(path), lines)
        return document

    def resolve(self, location: Location) -> Location | None:
        """The final node of `location`; None when a `$ref` on the way does not resolve
        (the reference check reports those, once)."""
        try:
            return self.docs.final(location)
        except _Unresolved:
            return None

    def check_refs(self, document: Mapping[str, Any], path: Path) -> None:
        for parts, node in walk_mappings(document):
            ref = node.get("$ref")
            if not isinstance(ref, str):
                continue
            self.refs_checked += 1
            try:
                self.docs.resolve(ref, path)
            except _Unresolved as exc:
                self.report(path, parts, f"$ref {ref!r} does not resolve: {exc}")


def check_operation_messages(run: _Run, asyncapi: Mapping[str, Any], path: Path) -> None:
    """AsyncAPI 3.0: an operation's (and its reply's) messages MUST be its channel's.

    The meta-schema only sees References; a message listed from another channel passes it.
    """
    for name, operation in _mapping(asyncapi.get("operations")).items():
        operation = _mapping(operation)
        channel = _mapping(operation.get("channel")).get("$ref")
        reply = _mapping(operation.get("reply"))
        reply_channel = _mapping(reply.get("channel")).get("$ref", channel)
        for parts, messages, owner in (
            (("operations", name, "messages"), operation.get("messages"), channel),
            (("operations", name, "reply", "messages"), reply.get("messages"), reply_channel),
        ):
            if not isinstance(owner, str) or not isinstance(messages, list):
                continue
            for index, message in enumerate(messages):
                ref = _mapping(message).get("$ref")
                if isinstance(ref, str) and not ref.startswith(f"{owner}/messages/"):
                    run.report(
                        path,
                        (*parts, index),
                        f"message {ref!r} is not a message of channel {owner!r}"
                        " (an operation's messages MUST be its channel's)",
                    )


def _event_name(run: _Run, event: Location) -> str | None:
    """The `event` const (or one-value enum) of one SSE event schema."""
    properties = _mapping(event.node.get("properties"))
    if "event" not in properties:
        return None
    schema = run.resolve(Location(event.file, (*event.parts, "properties", "event"), properties["event"]))
    node = _mapping(schema.node if schema else None)
    if isinstance(node.get("const"), str):
        return str(node["const"])
    enum = node.get("enum")
    if isinstance(enum, list) and len(enum) == 1 and isinstance(enum[0], str):
        return enum[0]
    return None


def _sse_messages(run: _Run, asyncapi: Mapping[str, Any], path: Path) -> dict[str, Location]:
    """AsyncAPI's SSE message types and the final location of each one's payload schema."""
    channel = _mapping(asyncapi.get("channels")).get(SSE_CHANNEL)
    if not isinstance(channel, Mapping):
        run.report(path, ("channels",), f"no channel {SSE_CHANNEL!r}: the SSE messages are not defined (S1)")
        return {}
    payloads: dict[str, Location] = {}
    for key, reference in _mapping(channel.get("messages")).items():
        message = run.resolve(Location(path, ("channels", SSE_CHANNEL, "messages", key), reference))
        if message is None or not isinstance(message.node, Mapping):
            continue
        name = message.node.get("name", key)
        if "payload" not in message.node:
            run.report(message.file, message.parts, f"SSE message {name!r} has no payload schema (M1)")
            continue
        payload = run.resolve(Location(message.file, (*message.parts, "payload"), message.node["payload"]))
        if payload is None:
            continue
        type_const = _mapping(_mapping(_mapping(payload.node).get("properties")).get("type")).get("const")
        if type_const is not None and type_const != name:
            run.report(
                payload.file,
                (*payload.parts, "properties", "type", "const"),
                f"payload type {type_const!r} differs from its SSE message name {name!r} (S1)",
            )
        payloads[str(name)] = payload
    return payloads


def _event_streams(run: _Run, openapi: Mapping[str, Any], path: Path) -> list[Location]:
    """The per-event schema of every `text/event-stream` response body, each once."""
    streams: dict[tuple[Path, Parts], Location] = {}
    for parts, node in walk_mappings(openapi):
        if not parts or parts[-1] != "content" or "text/event-stream" not in node:
            continue
        media = run.resolve(Location(path, (*parts, "text/event-stream"), node["text/event-stream"]))
        if media is None or not isinstance(media.node, Mapping):
            continue
        # OpenAPI 3.2 `itemSchema` is one event; a `schema` is one event (3.0/3.1) or the array of them.
        key = "itemSchema" if "itemSchema" in media.node else "schema"
        if key not in media.node:
            continue
        schema = run.resolve(Location(media.file, (*media.parts, key), media.node[key]))
        if schema is None:
            continue
        node_schema = _mapping(schema.node)
        if key == "schema" and node_schema.get("type") == "array" and "items" in node_schema:
            schema = run.resolve(Location(schema.file, (*schema.parts, "items"), node_schema["items"]))
        if schema is not None:
            streams.setdefault((schema.file, schema.parts), schema)
    return list(streams.values())


def _event_branches(run: _Run, stream: Location) -> list[Location]:
    """The event schemas of a stream: the branches of its oneOf/anyOf, or itself."""
    for key in ("oneOf", "anyOf"):
        branches = _mapping(stream.node).get(key)
        if isinstance(branches, list):
            resolved = (run.resolve(Location(stream.file, (*stream.parts, key, i), b)) for i, b in enumerate(branches))
            return [branch for branch in resolved if branch is not None]
    return [stream]


def check_sse_agreement(
    run: _Run, openapi: Mapping[str, Any], openapi_path: Path, asyncapi: Mapping[str, Any], asyncapi_path: Path
) -> tuple[str, ...]:
    """OpenAPI's SSE events are AsyncAPI's SSE messages, with the same payload schemas.

    Returns the message types the two documents agree on.
    """
    payloads = _sse_messages(run, asyncapi, asyncapi_path)
    channel = f"{run.name(asyncapi_path)} channel {SSE_CHANNEL}"
    streams = _event_streams(run, openapi, openapi_path)
    if not streams:
        run.report(openapi_path, ("paths",), "no text/event-stream response: the SSE events are not described (S1)")
    agreed: set[str] = set()
    for stream in streams:
        seen: set[str] = set()
        for event in _event_branches(run, stream):
            name = _event_name(run, event)
            if name is None:
                run.report(event.file, event.parts, "SSE event schema has no `event` const naming its type (S1)")
                continue
            if name in seen:
                run.report(event.file, event.parts, f"SSE event {name!r} is described twice (S1)")
            seen.add(name)
            if name not in payloads:
                run.report(event.file, event.parts, f"SSE event {name!r} is not a message of {channel} (S1)")
                continue
            present, content = _content_schema(run, event)
            if not present:
                run.report(
                    event.file,
                    (*event.parts, "properties", "data"),
                    f"SSE event {name!r} has no data.contentSchema (M1)",
                )
            if content is None:  # absent, or a dangling $ref that the reference check reports
                continue
            expected = payloads[name]
            if (content.file, content.parts) != (expected.file, expected.parts):
                run.report(
                    event.file,
                    (*event.parts, "properties", "data", "contentSchema"),
                    f"SSE event {name!r} data is {content.describe(openapi_path)}, but {channel} message {name!r}"
                    f" has payload {expected.describe(openapi_path)} (M1)",
                )
                continue
            agreed.add(name)
        for name in sorted(set(payloads) - seen):
            run.report(stream.file, stream.parts, f"no SSE event for message {name!r} of {channel} (S1)")
    return tuple(sorted(agreed))


def _content_schema(run: _Run, event: Location) -> tuple[bool, Location | None]:
    """Whether an SSE event has a `data.contentSchema`, and its final location if it resolves."""
    properties = _mapping(event.node.get("properties"))
    if "data" not in properties:
        return False, None
    data = run.resolve(Location(event.file, (*event.parts, "properties", "data"), properties["data"]))
    if data is None:
        return True, None  # dangling: reported by the reference check
    if "contentSchema" not in _mapping(data.node):
        return False, None
    return True, run.resolve(Location(data.file, (*data.parts, "contentSchema"), data.node["contentSchema"]))


def _stage_name_sites(run: _Run, document: Mapping[str, Any], path: Path) -> list[tuple[Location, Location]]:
    """Every schema (or AsyncAPI parameter) that constrains a `stage_name`: (where, resolved)."""
    sites: list[tuple[Location, Location]] = []
    for parts, node in walk_mappings(document):
        if parts and parts[-1] in ("properties", "parameters") and STAGE_NAME_KEY in node:
            site = Location(path, (*parts, STAGE_NAME_KEY), node[STAGE_NAME_KEY])
        elif node.get("name") == STAGE_NAME_KEY and "in" in node and "schema" in node:
            site = Location(path, (*parts, "schema"), node["schema"])  # an OpenAPI parameter
        else:
            continue
        resolved = run.resolve(site)
        if resolved is None:
            continue
        # An OpenAPI parameter component named stage_name: its schema says the names.
        if isinstance(resolved.node, Mapping) and "in" in resolved.node and "schema" in resolved.node:
            resolved = run.resolve(Location(resolved.file, (*resolved.parts, "schema"), resolved.node["schema"]))
        if resolved is not None:
            sites.append((site, resolved))
    return sites


def check_stage_names(
    run: _Run, openapi: Mapping[str, Any], openapi_path: Path, asyncapi: Mapping[str, Any], asyncapi_path: Path
) -> tuple[str, ...]:
    """Every stage_name enum in either document is AsyncAPI's; a const is one of its names.

    The reference is AsyncAPI's shared schema (the first enum site under `components`).
    Returns the agreed stage names.
    """
    asyncapi_sites = _stage_name_sites(run, asyncapi, asyncapi_path)
    openapi_sites = _stage_name_sites(run, openapi, openapi_path)

    with_enum = [s for _, s in asyncapi_sites if isinstance(_mapping(s.node).get("enum"), list)]
    if not with_enum:
        run.report(asyncapi_path, (), f"no {STAGE_NAME_KEY} enum: the stage names are not defined")
        return ()
    reference = min(with_enum, key=lambda s: (s.parts[:1] != ("components",), len(s.parts)))
    names = [str(n) for n in reference.node["enum"]]
    origin = f"{run.name(reference.file)}{_pointer(reference.parts)}"
    for site, resolved in asyncapi_sites + openapi_sites:
        schema = _mapping(resolved.node)
        enum, const = schema.get("enum"), schema.get("const")
        if isinstance(enum, list):
            missing = [n for n in names if n not in enum]
            extra = [n for n in enum if n not in names]
            if missing or extra:
                run.report(
                    site.file,
                    site.parts,
                    f"{STAGE_NAME_KEY} enum differs from {origin}: missing {missing}, extra {extra}",
                )
        elif const is not None:
            if const not in names:
                run.report(site.file, site.parts, f"{STAGE_NAME_KEY} {const!r} is not a stage name of {origin}")
        else:
            run.report(site.file, site.parts, f"{STAGE_NAME_KEY} allows any value: use the enum of {origin}")
    return tuple(names)


def check_specs(openapi_path: Path | None = None, asyncapi_path: Path | None = None) -> SpecCheck:
    """Validate the pair of contract documents; every problem found is in `.problems`."""
    openapi_path = Path(openapi_path or OPENAPI_PATH)
    asyncapi_path = Path(asyncapi_path or ASYNCAPI_PATH)
    run = _Run()
    openapi = run.load(openapi_path, openapi_meta_validator())
    asyncapi = run.load(asyncapi_path, asyncapi_meta_validator())
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
        problems=run.problems,
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
        first = problems[0]
        more = f" ({len(problems) - 1} more; run `stagecheck validate-specs`)" if len(problems) > 1 else ""
        raise SpecError(
            first.file if first.line is None else f"{first.file}:{first.line}", first.path, first.problem + more
        )
