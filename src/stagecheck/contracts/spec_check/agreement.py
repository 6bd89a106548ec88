"""Checks across the contract documents that no meta-schema can express.

- AsyncAPI 3.0: an operation's messages MUST be its channel's.
- OpenAPI's SSE events are exactly the messages of AsyncAPI's SSE channel, each with
  the same payload schema (docs/protocol.md S1, M1).
- Every `stage_name` in either document allows exactly AsyncAPI's stage names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..messages import CHANNEL_FOR_TRANSPORT
from .refs import Location, Run, as_mapping, pointer, walk_mappings
from .source import Parts

SSE_CHANNEL = CHANNEL_FOR_TRANSPORT["sse"]
STAGE_NAME_KEY = "stage_name"


def check_operation_messages(run: Run, asyncapi: Mapping[str, Any], path: Path) -> None:
    """AsyncAPI 3.0: an operation's (and its reply's) messages MUST be its channel's.

    The meta-schema only sees References; a message listed from another channel passes it.
    """
    for name, operation in as_mapping(asyncapi.get("operations")).items():
        operation = as_mapping(operation)
        channel = as_mapping(operation.get("channel")).get("$ref")
        reply = as_mapping(operation.get("reply"))
        reply_channel = as_mapping(reply.get("channel")).get("$ref", channel)
        for parts, messages, owner in (
            (("operations", name, "messages"), operation.get("messages"), channel),
            (("operations", name, "reply", "messages"), reply.get("messages"), reply_channel),
        ):
            if not isinstance(owner, str) or not isinstance(messages, list):
                continue
            for index, message in enumerate(messages):
                ref = as_mapping(message).get("$ref")
                if isinstance(ref, str) and not ref.startswith(f"{owner}/messages/"):
                    run.report(
                        path,
                        (*parts, index),
                        f"message {ref!r} is not a message of channel {owner!r}"
                        " (an operation's messages MUST be its channel's)",
                    )


def _event_name(run: Run, event: Location) -> str | None:
    """The `event` const (or one-value enum) of one SSE event schema."""
    properties = as_mapping(as_mapping(event.node).get("properties"))
    if "event" not in properties:
        return None
    schema = run.resolve(Location(event.file, (*event.parts, "properties", "event"), properties["event"]))
    node = as_mapping(schema.node if schema else None)
    if isinstance(node.get("const"), str):
        return str(node["const"])
    enum = node.get("enum")
    if isinstance(enum, list) and len(enum) == 1 and isinstance(enum[0], str):
        return enum[0]
    return None


def _sse_messages(run: Run, asyncapi: Mapping[str, Any], path: Path) -> dict[str, Location] | None:
    """AsyncAPI's SSE message types and the final location of each one's payload schema;
    None when there is no SSE channel to compare with."""
    channel = as_mapping(asyncapi.get("channels")).get(SSE_CHANNEL)
    if not isinstance(channel, Mapping):
        run.report(path, ("channels",), f"no channel {SSE_CHANNEL!r}: the SSE messages are not defined (S1)")
        return None
    payloads: dict[str, Location] = {}
    for key, reference in as_mapping(channel.get("messages")).items():
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
        type_const = as_mapping(as_mapping(as_mapping(payload.node).get("properties")).get("type")).get("const")
        if type_const is not None and type_const != name:
            run.report(
                payload.file,
                (*payload.parts, "properties", "type", "const"),
                f"payload type {type_const!r} differs from its SSE message name {name!r} (S1)",
            )
        payloads[str(name)] = payload
    return payloads


def _event_streams(run: Run, openapi: Mapping[str, Any], path: Path) -> list[Location]:
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
        node_schema = as_mapping(schema.node)
        if key == "schema" and node_schema.get("type") == "array" and "items" in node_schema:
            schema = run.resolve(Location(schema.file, (*schema.parts, "items"), node_schema["items"]))
        if schema is not None:
            streams.setdefault((schema.file, schema.parts), schema)
    return list(streams.values())


def _event_branches(run: Run, stream: Location) -> list[Location]:
    """The event schemas of a stream: the branches of its oneOf/anyOf, or itself."""
    for key in ("oneOf", "anyOf"):
        branches = as_mapping(stream.node).get(key)
        if isinstance(branches, list):
            resolved = (run.resolve(Location(stream.file, (*stream.parts, key, i), b)) for i, b in enumerate(branches))
            return [branch for branch in resolved if branch is not None]
    return [stream]


def check_sse_agreement(
    run: Run, openapi: Mapping[str, Any], openapi_path: Path, asyncapi: Mapping[str, Any], asyncapi_path: Path
) -> tuple[str, ...]:
    """OpenAPI's SSE events are AsyncAPI's SSE messages, with the same payload schemas.

    Returns the message types the two documents agree on.
    """
    payloads = _sse_messages(run, asyncapi, asyncapi_path)
    if payloads is None:  # reported; comparing every event with nothing would only add noise
        return ()
    channel = f"{asyncapi_path.name} channel {SSE_CHANNEL}"
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
            where = (*event.parts, "properties", "data", "contentSchema")
            if content.file != expected.file and content.file.name == expected.file.name:
                # Same file name in another folder: a bare name would read as a match.
                run.report(
                    event.file,
                    where,
                    f"SSE event {name!r} data refers to {content.file}, not to the AsyncAPI document"
                    f" being checked ({run.name(asyncapi_path)}) (M1)",
                )
                continue
            if (content.file, content.parts) != (expected.file, expected.parts):
                run.report(
                    event.file,
                    where,
                    f"SSE event {name!r} data is {content.describe(openapi_path)}, but {channel} message {name!r}"
                    f" has payload {expected.describe(openapi_path)} (M1)",
                )
                continue
            agreed.add(name)
        for name in sorted(set(payloads) - seen):
            run.report(stream.file, stream.parts, f"no SSE event for message {name!r} of {channel} (S1)")
    return tuple(sorted(agreed))


def _content_schema(run: Run, event: Location) -> tuple[bool, Location | None]:
    """Whether an SSE event has a `data.contentSchema`, and its final location if it resolves."""
    properties = as_mapping(as_mapping(event.node).get("properties"))
    if "data" not in properties:
        return False, None
    data = run.resolve(Location(event.file, (*event.parts, "properties", "data"), properties["data"]))
    if data is None:
        return True, None  # dangling: reported by the reference check
    if "contentSchema" not in as_mapping(data.node):
        return False, None
    return True, run.resolve(Location(data.file, (*data.parts, "contentSchema"), data.node["contentSchema"]))


def _stage_name_sites(run: Run, document: Mapping[str, Any], path: Path) -> list[tuple[Location, Location]]:
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
    run: Run, openapi: Mapping[str, Any], openapi_path: Path, asyncapi: Mapping[str, Any], asyncapi_path: Path
) -> tuple[str, ...]:
    """Every stage_name enum in either document is AsyncAPI's; a const is one of its names.

    The reference is AsyncAPI's shared schema (the first enum site under `components`).
    Returns the agreed stage names.
    """
    asyncapi_sites = _stage_name_sites(run, asyncapi, asyncapi_path)
    openapi_sites = _stage_name_sites(run, openapi, openapi_path)

    with_enum = [s for _, s in asyncapi_sites if isinstance(as_mapping(s.node).get("enum"), list)]
    if not with_enum:
        run.report(asyncapi_path, (), f"no {STAGE_NAME_KEY} enum: the stage names are not defined")
        return ()
    reference = min(with_enum, key=lambda s: (s.parts[:1] != ("components",), len(s.parts)))
    names = [str(n) for n in reference.node["enum"]]
    origin = f"{reference.file.name}{pointer(reference.parts)}"
    for site, resolved in asyncapi_sites + openapi_sites:
        schema = as_mapping(resolved.node)
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
