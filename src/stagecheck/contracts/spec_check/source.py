"""Where things are in a contract file: JSON paths, source lines, and a sane shape.

A problem is reported as `file:line: at $.json.path: what is wrong`. The lines come from
PyYAML's node tree, which also shows the duplicate keys a plain load silently drops.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stagecheck.errors import SpecError

try:  # same loader as specs.load_document, so that lines match what was parsed
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

# A document is a tree of at most this many nodes (the shipped ones: under 400 each).
MAX_NODES = 200_000
# ... and at most this deep (the shipped ones: 9). jsonschema recurses per level and
# overflowed Python's stack from about 100 levels on (measured on the meta-schemas).
MAX_DEPTH = 64
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Parts = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """One thing wrong with a contract document."""

    file: str
    path: str  # JSON path ("$.channels.sseStream"), or "line L, column C" for a parse error
    problem: str
    line: int | None = None  # 1-based source line of `path`, when known

    def __str__(self) -> str:
        return str(self.to_error())  # `file:line: at path: problem`, as SpecError words it

    def to_error(self, note: str = "") -> SpecError:
        """This problem as the exception that stops a command (exit code 2)."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return SpecError(where, self.path, self.problem + note)


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


def display_name(path: Path) -> str:
    """`path` as the user gave it, or relative to the working directory when under it."""
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            pass
    return str(path)


def line_of(lines: Mapping[Parts, int], parts: Parts) -> int | None:
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
    seen: set[int] = set()  # an alias is the same node again: its lines are those of its anchor
    while stack:
        node, parts = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
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


def tree_problem(document: Any) -> tuple[Parts, str] | None:
    """Where a loaded document stops being a finite, walkable tree, and why; None if it is one.

    YAML aliases can make a node contain itself (`&a [*a]`), which sends every walker
    (ours and jsonschema's) round forever, or repeat a node so often that the tree,
    walked in full, is astronomically large (the "billion laughs"). Very deep nesting
    overflows jsonschema's recursion.
    """
    expanded = 0
    on_path: set[int] = set()
    stack: list[tuple[Any, Parts, bool]] = [(document, (), False)]
    while stack:
        node, parts, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            continue
        expanded += 1
        if expanded > MAX_NODES:
            return parts[:1], f"the document expands to more than {MAX_NODES} nodes (YAML aliases repeated?)"
        if not isinstance(node, dict | list):
            continue
        if len(parts) >= MAX_DEPTH:
            return parts, f"nested more than {MAX_DEPTH} levels deep"
        if id(node) in on_path:
            return parts, "a YAML alias makes this node contain itself"
        on_path.add(id(node))
        stack.append((node, parts, True))
        children = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend((child, (*parts, key), False) for key, child in children)
    return None
