"""docs/protocol.md is the rule catalogue rendered, with every rule proven able to fail."""

from __future__ import annotations

import re

from stagecheck.contracts.rule_catalog import RULES, RULES_BY_ID
from tests.protocol_doc import DOC, GAPS, PROOFS, REPO, functions_in, proofs, render


def test_the_reference_on_disk_is_the_rendered_catalogue() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "regenerate: .venv/bin/python -m tests.protocol_doc"


def test_the_reference_lists_every_rule_once_and_no_other() -> None:
    anchors = re.findall(r'<a id="([a-z][0-9])"></a>', DOC.read_text(encoding="utf-8"))
    assert sorted(anchors) == sorted(rule.id.lower() for rule in RULES)
    assert len(anchors) == len(set(anchors))


def test_every_rule_has_a_test_that_breaks_it() -> None:
    found = proofs()
    assert [rule.id for rule in RULES if not found.get(rule.id)] == []
    assert set(found) <= set(RULES_BY_ID) and set(GAPS) <= set(RULES_BY_ID)


def test_every_named_proof_is_a_real_test() -> None:
    missing = []
    for nodes in PROOFS.values():
        for node in nodes:
            path, _, name = node.partition("::")
            if not (REPO / path).is_file() or name.split("[")[0] not in functions_in(path):
                missing.append(node)
    assert missing == []


def test_every_rule_links_to_its_section() -> None:
    assert {rule.anchor for rule in RULES} == {f"docs/protocol.md#{rule.id.lower()}" for rule in RULES}
