"""Spec validation: the shipped contracts pass; broken copies fail with file, JSON path and problem."""

from __future__ import annotations

import copy
import json
import random
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import yaml
from click.testing import CliRunner
from referencing import Registry, Resource

from stagecheck.commands.validate_specs import command
from stagecheck.contracts.spec_check import meta as spec_meta
from stagecheck.contracts.spec_check.validation import (
    ASYNCAPI_META_SCHEMA,
    OPENAPI_META_SCHEMA,
    ensure_valid_specs,
    json_path,
    validate_specs,
)
from stagecheck.contracts.specs import ASYNCAPI_PATH, OPENAPI_PATH, load_document
from stagecheck.errors import SpecError

Doc = dict[str, Any]
SHIPPED = {"openapi": load_document(OPENAPI_PATH), "asyncapi": load_document(ASYNCAPI_PATH)}
EXECUTE = "/api/v1/projects/projects/{project_id}/execute-stage/"
TASK_STATUS = "/api/v1/projects/projects/{project_id}/task-status/"


def write_pair(tmp_path: Path, openapi: Doc | None = None, asyncapi: Doc | None = None) -> tuple[Path, Path]:
    """Copies of the two contracts side by side, so `./asyncapi.yaml#...` refs resolve to the copy."""
    paths = (tmp_path / "openapi.yaml", tmp_path / "asyncapi.yaml")
    for path, document in zip(paths, (openapi or SHIPPED["openapi"], asyncapi or SHIPPED["asyncapi"]), strict=True):
        text = yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
        path.write_text(text, encoding="utf-8")
    return paths


def run_cli(openapi: Path, asyncapi: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(command, ["--openapi", str(openapi), "--asyncapi", str(asyncapi)])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


# --- the shipped contracts ---------------------------------------------------------------------


def test_shipped_contracts_are_valid() -> None:
    assert validate_specs() == []
    ensure_valid_specs()  # raises nothing


def test_cli_accepts_shipped_contracts() -> None:
    result = CliRunner().invoke(command, [])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ")
    assert "3 SSE message types (done, error, token)" in result.stdout
    assert "5 stage names" in result.stdout
    assert result.stdout.count("\n") == 1


def test_installed_command_accepts_shipped_contracts() -> None:
    executable = Path(sys.executable).parent / "stagecheck"
    done = subprocess.run([str(executable), "validate-specs"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: ")
    assert done.stderr == ""


def test_copies_of_the_shipped_contracts_are_valid(tmp_path: Path) -> None:
    openapi, asyncapi = write_pair(tmp_path)
    assert validate_specs(openapi, asyncapi) == []


# --- broken copies ---------------------------------------------------------------------------

Mutation = Callable[[Doc, Doc], None]


def _set(path: tuple[Any, ...], value: Any) -> Mutation:
    """A mutation of the asyncapi (path[0] == 'a') or openapi ('o') document."""

    def mutate(openapi: Doc, asyncapi: Doc) -> None:
        node: Any = asyncapi if path[0] == "a" else openapi
        for key in path[1:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return mutate


_DELETE = object()
SSE_EVENTS = ("o", "components", "schemas")


def _drop_sse_error_message(openapi: Doc, asyncapi: Doc) -> None:
    del asyncapi["channels"]["sseStream"]["messages"]["error"]
    asyncapi["operations"]["sendSseEvents"]["messages"].pop()  # keep the document otherwise valid


# (id, mutation, file that is wrong, JSON path in the message, words of the problem)
BROKEN: list[tuple[str, Mutation, str, str, str]] = [
    (
        "asyncapi-version",
        _set(("a", "asyncapi"), "2.6.0"),
        "asyncapi.yaml",
        "$.asyncapi",
        "'3.0.0' was expected",
    ),
    (
        "asyncapi-channel-address-type",
        _set(("a", "channels", "sseStream", "address"), 5),
        "asyncapi.yaml",
        "$.channels.sseStream.address",
        "is not of type 'string', 'null'",
    ),
    (
        "asyncapi-operation-without-action",
        _set(("a", "operations", "sendSseEvents", "action"), _DELETE),
        "asyncapi.yaml",
        "$.operations.sendSseEvents",
        "'action' is a required property",
    ),
    (
        "asyncapi-bad-action",
        _set(("a", "operations", "receivePing", "action"), "listen"),
        "asyncapi.yaml",
        "$.operations.receivePing.action",
        "'listen' is not one of ['send', 'receive']",
    ),
    (
        "asyncapi-payload-schema-type",
        _set(("a", "components", "schemas", "TaskId", "minLength"), "one"),
        "asyncapi.yaml",
        "$.components.schemas.TaskId.minLength",
        "'one' is not of type 'integer'",
    ),
    (
        "asyncapi-dangling-ref",
        _set(("a", "operations", "sendSseEvents", "channel", "$ref"), "#/channels/sse"),
        "asyncapi.yaml",
        "$.operations.sendSseEvents.channel",
        "$ref '#/channels/sse' does not resolve: nothing at 'sse' under #/channels",
    ),
    (
        "asyncapi-operation-message-of-another-channel",
        _set(("a", "operations", "sendSseEvents", "messages", 0, "$ref"), "#/channels/stageSocket/messages/token"),
        "asyncapi.yaml",
        "$.operations.sendSseEvents.messages[0]",
        "is not a message of channel '#/channels/sseStream'",
    ),
    (
        "asyncapi-payload-type-differs-from-message-name",
        _set(("a", "components", "schemas", "TokenPayload", "properties", "type", "const"), "tokens"),
        "asyncapi.yaml",
        "$.components.schemas.TokenPayload.properties.type.const",
        "payload type 'tokens' differs from its SSE message name 'token' (S1)",
    ),
    (
        "asyncapi-stage-enum-copy-drifts",
        _set(("a", "channels", "stageSocket", "parameters", "stage_name", "enum"), ["rewrite", "storyboard"]),
        "asyncapi.yaml",
        "$.channels.stageSocket.parameters.stage_name",
        "stage_name enum differs from asyncapi.yaml#/components/schemas/StageName: missing ['image_generation'",
    ),
    (
        "openapi-version",
        _set(("o", "openapi"), "3.1.0"),
        "openapi.yaml",
        "$.openapi",
        "'3.1.0' does not match",
    ),
    (
        "openapi-parameter-without-in",
        _set(("o", "paths", TASK_STATUS, "get", "parameters", 0, "in"), _DELETE),
        "openapi.yaml",
        f"$.paths[{TASK_STATUS!r}].get.parameters[0]",
        "'in' is a required property",
    ),
    (
        "openapi-response-unknown-field",
        _set(("o", "paths", TASK_STATUS, "get", "responses", "200", "body"), "x"),
        "openapi.yaml",
        f"$.paths[{TASK_STATUS!r}].get.responses['200']",
        "'body' was unexpected",
    ),
    (
        "openapi-schema-object-type-typo",
        _set(("o", "components", "schemas", "TaskStatus", "properties", "status", "type"), "strng"),
        "openapi.yaml",
        "$.components.schemas.TaskStatus.properties.status.type",
        "'strng' is not valid under any of the given schemas",
    ),
    (
        "openapi-schema-object-required-not-a-list",
        _set(("o", "components", "schemas", "ErrorBody", "required"), "error"),
        "openapi.yaml",
        "$.components.schemas.ErrorBody.required",
        "'error' is not of type 'array'",
    ),
    (
        "openapi-dangling-local-ref",
        _set(("o", "components", "responses", "NotFound", "content", "application/json", "schema", "$ref"), "#/x/y"),
        "openapi.yaml",
        "$.components.responses.NotFound.content['application/json'].schema",
        "$ref '#/x/y' does not resolve: nothing at 'x' under #",
    ),
    (
        "openapi-dangling-cross-file-ref",
        _set(
            ("o", "components", "schemas", "TaskStatus", "properties", "stage_name", "$ref"),
            "./asyncapi.yaml#/components/schemas/StageNames",
        ),
        "openapi.yaml",
        "$.components.schemas.TaskStatus.properties.stage_name",
        "nothing at 'StageNames' under #/components/schemas of asyncapi.yaml",
    ),
    (
        "openapi-ref-to-missing-file",
        _set(("o", "components", "schemas", "TaskAccepted", "properties", "stage_name", "$ref"), "./nope.yaml#/a"),
        "openapi.yaml",
        "$.components.schemas.TaskAccepted.properties.stage_name",
        "nope.yaml does not load (cannot read the file",
    ),
    (
        "content-schema-disagrees-with-payload",
        _set(
            (*SSE_EVENTS, "SseTokenEvent", "properties", "data", "contentSchema", "$ref"),
            "./asyncapi.yaml#/components/schemas/DonePayload",
        ),
        "openapi.yaml",
        "$.components.schemas.SseTokenEvent.properties.data.contentSchema",
        "SSE event 'token' data is asyncapi.yaml#/components/schemas/DonePayload, but asyncapi.yaml channel"
        " sseStream message 'token' has payload asyncapi.yaml#/components/schemas/TokenPayload (M1)",
    ),
    (
        "content-schema-copied-inline",
        _set(
            (*SSE_EVENTS, "SseDoneEvent", "properties", "data", "contentSchema"),
            {"type": "object", "required": ["type", "full_text"]},
        ),
        "openapi.yaml",
        "$.components.schemas.SseDoneEvent.properties.data.contentSchema",
        "SSE event 'done' data is #/components/schemas/SseDoneEvent/properties/data/contentSchema, but",
    ),
    (
        "sse-event-missing-in-openapi",
        _set((*SSE_EVENTS, "SseEvent", "oneOf"), [{"$ref": "#/components/schemas/SseTokenEvent"}]),
        "openapi.yaml",
        "$.components.schemas.SseEvent",
        "no SSE event for message 'done' of asyncapi.yaml channel sseStream (S1)",
    ),
    (
        "sse-event-missing-in-asyncapi",
        _drop_sse_error_message,
        "openapi.yaml",
        "$.components.schemas.SseErrorEvent",
        "SSE event 'error' is not a message of asyncapi.yaml channel sseStream (S1)",
    ),
    (
        "sse-event-without-event-const",
        _set((*SSE_EVENTS, "SseDoneEvent", "properties", "event"), {"type": "string"}),
        "openapi.yaml",
        "$.components.schemas.SseDoneEvent",
        "SSE event schema has no `event` const naming its type (S1)",
    ),
    (
        "openapi-stage-name-const-not-a-stage",
        _set(
            ("o", "components", "schemas", "ExecuteStageRequest", "if", "properties", "stage_name", "const"), "rwrite"
        ),
        "openapi.yaml",
        "$.components.schemas.ExecuteStageRequest.if.properties.stage_name",
        "stage_name 'rwrite' is not a stage name of asyncapi.yaml#/components/schemas/StageName",
    ),
    (
        "openapi-stage-name-inline-enum",
        _set(
            ("o", "components", "schemas", "TaskAccepted", "properties", "stage_name"),
            {"type": "string", "enum": ["rewrite", "storyboard", "image_generation", "camera_movement", "video"]},
        ),
        "openapi.yaml",
        "$.components.schemas.TaskAccepted.properties.stage_name",
        "missing ['video_generation'], extra ['video']",
    ),
    (
        "openapi-stage-name-unconstrained",
        _set(("o", "components", "schemas", "TaskStatus", "properties", "stage_name"), {"type": "string"}),
        "openapi.yaml",
        "$.components.schemas.TaskStatus.properties.stage_name",
        "stage_name allows any value",
    ),
]


@pytest.mark.parametrize(("mutate", "file", "path", "problem"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_copy_is_reported(tmp_path: Path, mutate: Mutation, file: str, path: str, problem: str) -> None:
    openapi, asyncapi = copy.deepcopy(SHIPPED["openapi"]), copy.deepcopy(SHIPPED["asyncapi"])
    mutate(openapi, asyncapi)
    openapi_path, asyncapi_path = write_pair(tmp_path, openapi, asyncapi)

    exit_code, stdout, stderr = run_cli(openapi_path, asyncapi_path)

    assert exit_code == 2, stdout
    matching = [line for line in stderr.splitlines() if f"at {path}: " in line and problem in line]
    assert matching, f"no line with {path!r} and {problem!r} in:\n{stderr}"
    where = matching[0].split(": at ", 1)[0]
    assert where.rsplit(":", 1)[0].endswith(file), matching[0]
    assert where.rsplit(":", 1)[1].isdigit(), "the line number of the JSON path is given"
    assert stderr.splitlines()[-1].startswith("validate-specs: ")


def test_line_number_points_at_the_broken_node(tmp_path: Path) -> None:
    asyncapi = copy.deepcopy(SHIPPED["asyncapi"])
    asyncapi["channels"]["sseStream"]["address"] = 5
    _, asyncapi_path = write_pair(tmp_path, asyncapi=asyncapi)
    (problem,) = validate_specs(tmp_path / "openapi.yaml", asyncapi_path)
    assert problem.line is not None
    assert asyncapi_path.read_text().splitlines()[problem.line - 1].strip() == "address: 5"


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    openapi, asyncapi = copy.deepcopy(SHIPPED["openapi"]), copy.deepcopy(SHIPPED["asyncapi"])
    openapi["openapi"] = "3.0.3"
    asyncapi["asyncapi"] = "2.6.0"
    del asyncapi["operations"]["receivePing"]["action"]
    problems = validate_specs(*write_pair(tmp_path, openapi, asyncapi))
    assert [(p.file.rsplit("/", 1)[-1], p.path) for p in problems] == [
        ("openapi.yaml", "$.openapi"),
        ("asyncapi.yaml", "$.asyncapi"),
        ("asyncapi.yaml", "$.operations.receivePing"),
    ]


def test_openapi_3_2_response_description_is_optional(tmp_path: Path) -> None:
    # OpenAPI 3.2 dropped the REQUIRED on Response Object `description` (3.0 and 3.1 had it):
    # the official 3.2 meta-schema accepts a response without one, and so does stagecheck.
    openapi = copy.deepcopy(SHIPPED["openapi"])
    del openapi["paths"][TASK_STATUS]["get"]["responses"]["200"]["description"]
    assert validate_specs(*write_pair(tmp_path, openapi)) == []


# --- files that do not load ------------------------------------------------------------------

NOT_LOADING = [
    ("invalid-yaml", "openapi: 3.2.0\ninfo: [unclosed\n", "at line 3, column 1: not valid YAML"),
    ("tabs", "openapi: 3.2.0\n\tinfo: {}\n", "at line 2, column 1: not valid YAML"),
    ("top-level-list", "- openapi\n- 3.2.0\n", "at $: expected a mapping at the top, got list"),
    ("empty-file", "", "at $: expected a mapping at the top, got NoneType"),
]


@pytest.mark.parametrize(("text", "problem"), [n[1:] for n in NOT_LOADING], ids=[n[0] for n in NOT_LOADING])
def test_unloadable_file_exits_2_with_one_clear_line(tmp_path: Path, text: str, problem: str) -> None:
    openapi, asyncapi = write_pair(tmp_path)
    openapi.write_text(text, encoding="utf-8")
    exit_code, _, stderr = run_cli(openapi, asyncapi)
    assert exit_code == 2
    assert stderr.splitlines()[0].startswith(f"{openapi}: {problem}"), stderr
    assert "Traceback" not in stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    openapi, _ = write_pair(tmp_path)
    exit_code, _, stderr = run_cli(openapi, tmp_path / "nowhere.yaml")
    assert exit_code == 2
    assert f"{tmp_path / 'nowhere.yaml'}: at $: cannot read the file: No such file or directory" in stderr


def test_directory_is_refused_by_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(command, ["--asyncapi", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a directory" in result.stderr


def test_duplicate_keys_are_reported(tmp_path: Path) -> None:
    openapi, asyncapi = write_pair(tmp_path)
    # Appending a second `components:` would silently replace the first one in a plain YAML load.
    asyncapi.write_text(asyncapi.read_text() + "components:\n  schemas: {}\n", encoding="utf-8")
    problems = validate_specs(openapi, asyncapi)
    duplicate = [p for p in problems if p.problem == "duplicate key 'components'"]
    assert duplicate and duplicate[0].path == "$"
    assert duplicate[0].line == len(asyncapi.read_text().splitlines()) - 1


def test_ensure_valid_specs_names_the_first_problem(tmp_path: Path) -> None:
    openapi = copy.deepcopy(SHIPPED["openapi"])
    openapi["openapi"] = "3.1.0"
    openapi["info"]["version"] = 1
    with pytest.raises(SpecError) as caught:
        ensure_valid_specs(*write_pair(tmp_path, openapi))
    assert caught.value.exit_code == 2
    assert caught.value.path == "$.openapi"
    assert "(1 more; run `stagecheck validate-specs`)" in str(caught.value)


# --- the vendored meta-schemas -----------------------------------------------------------------


def _refs(node: Any, base: str) -> list[str]:
    """Absolute targets of every $ref/$dynamicRef of a schema, skipping example data."""
    found: list[str] = []
    if isinstance(node, dict):
        if isinstance(node.get("$id"), str):  # not a property named $id
            base = urljoin(base, node["$id"])
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str):
                found.append(urljoin(base, value))
            elif key not in ("examples", "example", "default", "enum", "const"):
                found += _refs(value, base)
    elif isinstance(node, list):
        for item in node:
            found += _refs(item, base)
    return found


@pytest.mark.parametrize("schema_path", [OPENAPI_META_SCHEMA, ASYNCAPI_META_SCHEMA], ids=["openapi", "asyncapi"])
def test_meta_schema_references_resolve_offline(schema_path: Path) -> None:
    # The validators are built with an empty registry; every reference must be found in the file.
    schema = json.loads(schema_path.read_text())
    resource = Resource.from_contents(schema)
    resolver = Registry().with_resource(schema["$id"], resource).crawl().resolver()
    refs = _refs(schema, schema["$id"])
    assert len(refs) > 30
    for ref in refs:
        resolver.lookup(ref)  # raises referencing.exceptions.Unresolvable


def test_json_path_quotes_what_is_not_an_identifier() -> None:
    assert json_path(()) == "$"
    assert json_path(("paths", "/a/{id}/", "get", "responses", "200", "parameters", 0)) == (
        "$.paths['/a/{id}/'].get.responses['200'].parameters[0]"
    )


# --- documents that would hang or crash a naive walker -------------------------------------------

NASTY_TAILS = [
    ("alias-cycle", "x-loop: &loop\n  - *loop\n", "at $['x-loop'][0]: a YAML alias makes this node contain itself"),
    (
        "alias-bomb",
        'x-a: &a ["l","l","l","l","l","l","l","l","l"]\n'
        + "".join(
            f"x-{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "the document expands to more than 200000 nodes (YAML aliases repeated?)",
    ),
    ("deep-nesting", "x-deep: " + "[" * 80 + "]" * 80 + "\n", "nested more than 64 levels deep"),
]


@pytest.mark.parametrize(("tail", "problem"), [n[1:] for n in NASTY_TAILS], ids=[n[0] for n in NASTY_TAILS])
def test_yaml_that_would_hang_a_walker_is_refused(tmp_path: Path, tail: str, problem: str) -> None:
    openapi, asyncapi = write_pair(tmp_path)
    openapi.write_text(openapi.read_text() + tail, encoding="utf-8")
    (found,) = validate_specs(openapi, asyncapi)
    assert problem in str(found)


REF_PROBLEMS = [
    ("self", {"$ref": "#/components/schemas/Loop"}, "the references form a cycle"),
    ("through-itself", {"$ref": "#/components/schemas/Loop/properties"}, "the references form a cycle"),
    ("remote", {"$ref": "https://example.com/schemas.yaml#/X"}, "a remote reference"),
    ("anchor", {"$ref": "#StageName"}, "only JSON-pointer fragments (#/...) are supported"),
    ("list-index-out-of-range", {"$ref": "#/components/schemas/SseEvent/oneOf/7"}, "nothing at '7' under"),
]


@pytest.mark.parametrize(("schema", "problem"), [r[1:] for r in REF_PROBLEMS], ids=[r[0] for r in REF_PROBLEMS])
def test_bad_references_are_reported(tmp_path: Path, schema: Doc, problem: str) -> None:
    openapi = copy.deepcopy(SHIPPED["openapi"])
    openapi["components"]["schemas"]["Loop"] = schema
    problems = validate_specs(*write_pair(tmp_path, openapi))
    assert [p.path for p in problems] == ["$.components.schemas.Loop"], problems
    assert problem in problems[0].problem


def test_ref_through_a_reference_node_is_followed(tmp_path: Path) -> None:
    # `#/channels/sseStream/messages/token` is itself {$ref: ...}; a pointer may continue past it.
    openapi = copy.deepcopy(SHIPPED["openapi"])
    data = openapi["components"]["schemas"]["SseTokenEvent"]["properties"]["data"]
    data["contentSchema"]["$ref"] = "./asyncapi.yaml#/channels/sseStream/messages/token/payload"
    assert validate_specs(*write_pair(tmp_path, openapi)) == []


JUNK: list[Any] = [5, None, [], {}, "x", True, {"$ref": 5}, {"$ref": "#"}, {"$ref": "#/x"}, [{"$ref": "./nope.yaml"}]]


def _nodes(document: Any, parts: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [parts]
    if isinstance(document, dict):
        for key, value in document.items():
            found += _nodes(value, (*parts, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _nodes(value, (*parts, index))
    return found


def test_junk_anywhere_gives_problems_never_an_exception(tmp_path: Path) -> None:
    # Seeded, so a failure reproduces; each round replaces a few random nodes of each document.
    rnd = random.Random(20261128)
    for round_ in range(8):
        documents = copy.deepcopy(SHIPPED)
        for document in documents.values():
            for _ in range(rnd.randint(1, 3)):
                *parents, last = rnd.choice(_nodes(document)[1:])
                node = document
                for key in parents:
                    node = node[key]
                node[last] = copy.deepcopy(rnd.choice(JUNK))
        directory = tmp_path / str(round_)
        directory.mkdir()
        problems = validate_specs(*write_pair(directory, documents["openapi"], documents["asyncapi"]))
        assert all(p.file.endswith(".yaml") and p.path.startswith("$") and p.problem for p in problems)


def test_asyncapi_from_another_folder_is_not_the_one_openapi_refers_to(tmp_path: Path) -> None:
    # openapi.yaml's `./asyncapi.yaml#...` refs name the file next to it, whatever --asyncapi says.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    openapi, _ = write_pair(tmp_path / "a")
    asyncapi = copy.deepcopy(SHIPPED["asyncapi"])
    asyncapi["info"]["title"] = "another copy"
    _, other_asyncapi = write_pair(tmp_path / "b", asyncapi=asyncapi)
    problems = validate_specs(openapi, other_asyncapi)
    assert {p.path for p in problems} == {
        f"$.components.schemas.Sse{kind}Event.properties.data.contentSchema" for kind in ("Token", "Done", "Error")
    }
    assert all(f"data refers to {tmp_path / 'a' / 'asyncapi.yaml'}, not to the AsyncAPI" in p.problem for p in problems)


def test_validation_never_touches_the_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    spec_meta._FINDINGS.clear()  # so that both meta-schemas are walked again, references and all
    openapi = copy.deepcopy(SHIPPED["openapi"])
    openapi["components"]["schemas"]["TaskStatus"]["properties"]["status"]["type"] = "strng"
    problems = validate_specs(*write_pair(tmp_path, openapi))
    assert [p.path for p in problems] == ["$.components.schemas.TaskStatus.properties.status.type"]
