"""Schemathesis failures are filed under the rule that requires what failed."""

from __future__ import annotations

import pytest

from stagecheck.suites.schemathesis_suite import rule_for

LEGACY = "POST /api/v1/projects/projects/{project_id}/rewrite_stream/"
EXECUTE = "POST /api/v1/projects/projects/{project_id}/execute-stage/"


@pytest.mark.parametrize(
    ("operation", "text", "expected"),
    [
        (LEGACY, "Missing header: Cache-Control", ("S6", "sse")),
        (LEGACY, "Missing header: X-Accel-Buffering", ("S6", "sse")),
        (LEGACY, "Missing header: Deprecation", ("L1", "http")),
        (LEGACY, "Missing header: Link", ("L1", "http")),
        (EXECUTE, "Missing header: Cache-Control", ("S6", "sse")),
    ],
)
def test_a_missing_header_is_filed_under_the_rule_that_requires_it(
    operation: str, text: str, expected: tuple[str, str]
) -> None:
    assert rule_for(operation, "Missing required header", text) == expected


def test_the_removed_phase_files_other_legacy_header_failures_under_l3() -> None:
    assert rule_for(LEGACY, "Missing required header", "Missing header: Deprecation", "L3") == ("L3", "http")
