"""Resolving `$ref`s across the contract documents, and the state of one validation run.

References are JSON pointers, local (`#/components/schemas/X`) or into a file beside
the referring one (`./asyncapi.yaml#/components/schemas/X`); nothing is fetched. A
pointer may pass through a node that is itself a `$ref` (AsyncAPI documents do this).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from stagecheck.errors import SpecError

from ..specs import load_document
from .source import Parts, SpecProblem, json_path, line_of

# Subtrees that hold example data, not schema: a `$ref` key there is not a reference.
_DATA_KEYS = frozenset({"example", "default", "const", "enum"})
# Parents whose keys are names (of properties, schemas ...), so a key like `default` there is no data.
_NAME_PARENTS = frozenset({"properties", "patternProperties", "definitions", "$defs", "schemas"})
# A chain of `$ref`s longer than this is treated as a cycle.
MAX_HOPS = 32
# Keys a Reference Object may carry next to `$ref` without becoming a new schema.
_REFERENCE_KEYS = frozenset({"$ref", "summary", "description"})


def pointer(parts: Parts) -> str:
    """The JSON pointer of `parts` as a `$ref` fragment: `#/paths/~1a~1b/get`."""
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else "#"


class Unresolved(Exception):
    """A `$ref` that does not lead anywhere; the message says why."""


@dataclass(frozen=True, slots=True)
class Location:
    """A node of one of the loaded documents."""

    file: Path
    parts: Parts
    node: Any

    def describe(self, seen_from: Path) -> str:
        """`#/a/b` inside the file `seen_from`, else `name.yaml#/a/b`."""
        prefix = "" if self.file == seen_from.resolve() else self.file.name
        return prefix + pointer(self.parts)


class Documents:
    """The documents of one validation run, loaded once each, by resolved path."""

    def __init__(self) -> None:
        self._loaded: dict[Path, dict[str, Any] | SpecError] = {}
        # (referring file, URI part of a $ref) -> resolved path: resolving touches the disk.
        self._targets: dict[tuple[Path, str], Path] = {}

    def add(self, path: Path, document: dict[str, Any]) -> None:
        self._loaded[path.resolve()] = document

    def get(self, path: Path) -> dict[str, Any]:
        """The document at `path`, which must be resolved already."""
        if path not in self._loaded:
            try:
                self._loaded[path] = load_document(path)
            except SpecError as exc:
                self._loaded[path] = exc
            except RecursionError:
                self._loaded[path] = SpecError(str(path), "$", "nested too deeply to read")
        loaded = self._loaded[path]
        if isinstance(loaded, SpecError):
            raise Unresolved(f"{path} does not load ({loaded.problem})")
        return loaded

    def resolve(self, ref: str, base: Path, depth: int = 0) -> Location:
        """Where `ref`, written in the file `base`, points to; raises Unresolved."""
        if depth > MAX_HOPS:
            raise Unresolved("the references form a cycle")
        uri, _, fragment = ref.partition("#")
        if urlsplit(uri).scheme or uri.startswith("//"):
            raise Unresolved("a remote reference; stagecheck follows only references to a local file")
        if fragment and not fragment.startswith("/"):
            raise Unresolved("only JSON-pointer fragments (#/...) are supported")
        target = self._targets.get((base, uri))
        if target is None:
            target = self._targets[(base, uri)] = (base.parent / unquote(uri)).resolve() if uri else base.resolve()
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
        raise Unresolved(f"nothing at {token!r} under {pointer(location.parts)} of {location.file.name}")

    def final(self, location: Location) -> Location:
        """Follow Reference nodes (`$ref` plus at most summary/description) to the real node."""
        seen = {(location.file, location.parts)}
        for _ in range(MAX_HOPS):
            node = location.node
            if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and set(node) <= _REFERENCE_KEYS):
                return location
            location = self.resolve(node["$ref"], location.file)
            if (location.file, location.parts) in seen:
                raise Unresolved("the references form a cycle")
            seen.add((location.file, location.parts))
        raise Unresolved(f"more than {MAX_HOPS} references in a row")


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


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


class Run:
    """Shared state of one run: loaded documents, source lines, display names, problems."""

    def __init__(self) -> None:
        self.docs = Documents()
        self.lines: dict[Path, dict[Parts, int]] = {}
        self.names: dict[Path, str] = {}
        self.problems: list[SpecProblem] = []
        self.refs_checked = 0

    def sorted_problems(self) -> list[SpecProblem]:
        """By file (in the order they were loaded), then by line: the order of an editor."""
        files = list(self.names.values())
        order = {name: index for index, name in enumerate(files)}
        return sorted(self.problems, key=lambda p: (order.get(p.file, len(files)), p.line or 0))

    def name(self, file: Path) -> str:
        return self.names.get(file.resolve(), str(file))

    def report(self, file: Path, parts: Parts, problem: str) -> None:
        lines = self.lines.get(file.resolve(), {})
        self.problems.append(SpecProblem(self.name(file), json_path(parts), problem, line_of(lines, parts)))

    def resolve(self, location: Location) -> Location | None:
        """The final node of `location`; None when a `$ref` on the way does not resolve
        (the reference check reports those, once)."""
        try:
            return self.docs.final(location)
        except Unresolved:
            return None

    def check_refs(self, document: Mapping[str, Any], path: Path) -> None:
        for parts, node in walk_mappings(document):
            ref = node.get("$ref")
            if not isinstance(ref, str):
                continue
            self.refs_checked += 1
            try:
                self.docs.final(self.docs.resolve(ref, path))  # final: a chain of bare $refs may loop
            except Unresolved as exc:
                self.report(path, parts, f"$ref {ref!r} does not resolve: {exc}")
