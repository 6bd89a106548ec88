"""contracts.http_rules: each pure check passes a conforming exchange and names its rule on a broken one."""

from __future__ import annotations

import json

import pytest

from stagecheck.contracts import http_rules as rules

JSON = {"content-type": "application/json"}
UUID = "3f2b7c1e-8a4d-4c2b-9e1f-0a1b2c3d4e5f"


def body(data: object) -> bytes:
    return json.dumps(data).encode()


def rule_ids(found: list[rules.Violation]) -> list[str]:
    return [v.rule for v in found]


def test_error_body_e1() -> None:
    assert rules.check_error_body(400, JSON, body({"error": "bad", "code": "invalid_request"})) == []
    assert rules.check_error_body(200, {}, b"anything") == []
    assert rule_ids(rules.check_error_body(400, JSON, body({"error": "bad"}))) == ["E1"]
    assert rule_ids(rules.check_error_body(404, {"content-type": "text/html"}, b"<h1>no</h1>")) == ["E1"]
    assert rule_ids(rules.check_error_body(400, JSON, b"[1]")) == ["E1"]


def test_server_error_e3() -> None:
    assert rules.check_server_error(404) == []
    found = rules.check_server_error(502, b"bad gateway")
    assert rule_ids(found) == ["E3"] and "502" in found[0].received


def test_error_answer_checks_status_then_body_then_code() -> None:
    ok = body({"error": "bad", "code": "invalid_request"})
    assert rules.check_error_answer("E4", "blank", 400, JSON, ok, 400, "invalid_request") == []
    assert rule_ids(rules.check_error_answer("E4", "blank", 202, JSON, ok, 400)) == ["E4"]
    assert rule_ids(rules.check_error_answer("E4", "blank", 500, JSON, ok, 400)) == ["E3"]
    wrong_code = rules.check_error_answer(
        "E4", "blank", 400, JSON, body({"error": "x", "code": "oops"}), 400, "invalid_request"
    )
    assert rule_ids(wrong_code) == ["E4"] and "oops" in wrong_code[0].received


def test_task_accepted_e4() -> None:
    good = {"task_id": UUID, "channel": "c", "stage_name": "rewrite", "status": "PENDING"}
    assert rules.check_task_accepted(202, JSON, body(good), "rewrite") == []
    found = rules.check_task_accepted(202, JSON, body({**good, "task_id": "7", "status": "STARTED"}), "rewrite")
    assert rule_ids(found) == ["E4"] and "not a UUID" in found[0].message and "STARTED" in found[0].message


def test_task_status_t1_t2_t3() -> None:
    status = {"task_id": UUID, "stage_name": "rewrite", "status": "SUCCESS", "result": {"full_text": "hi"}}
    assert rules.check_task_status_body(200, body(status), UUID) == []
    assert rule_ids(rules.check_task_status_body(200, body({**status, "status": "RUNNING"}))) == ["T1"]
    assert rule_ids(rules.check_unknown_task(200, JSON, body({**status, "status": "PENDING"}), "never issued")) == [
        "T2"
    ]
    assert rules.check_unknown_task(404, JSON, body({"error": "no", "code": "not_found"}), "never issued") == []
    assert rules.check_final_status("done", "hi", 200, body(status), UUID) == []
    assert rule_ids(rules.check_final_status("done", "other", 200, body(status), UUID)) == ["T3"]
    failure = {"task_id": UUID, "stage_name": "rewrite", "status": "FAILURE", "error": "boom"}
    assert rules.check_final_status("error", None, 200, body(failure), UUID) == []
    assert rule_ids(rules.check_final_status("error", None, 200, body(status), UUID)) == ["T3"]


@pytest.mark.parametrize(
    ("statuses", "ok"),
    [
        (["PENDING", "STARTED", "PROGRESS", "SUCCESS", "SUCCESS"], True),
        (["PENDING", "PENDING", "FAILURE"], True),
        (["PROGRESS", "PENDING"], False),
        (["SUCCESS", "FAILURE"], False),
    ],
)
def test_status_progression_t3(statuses: list[str], ok: bool) -> None:
    assert (rules.check_status_progression(statuses) == []) is ok


def test_sse_head_s6() -> None:
    head = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}
    assert rules.check_sse_head(200, head) == []
    found = rules.check_sse_head(200, {"content-type": "text/event-stream"})
    assert [(v.rule, v.severity) for v in found] == [("S6", "error"), ("S6", "warning")]
    assert rule_ids(rules.check_sse_head(200, JSON)) == ["E4"]


def test_deprecation_headers_l1() -> None:
    good = {
        "Deprecation": "@1762128000",
        "Link": '</api/v1/projects/projects/1/execute-stage/>; rel="successor-version"',
    }
    assert rules.check_deprecation_headers(good) == []
    assert rule_ids(rules.check_deprecation_headers({**good, "Deprecation": "true"})) == ["L1"]
    assert rule_ids(rules.check_deprecation_headers({"Deprecation": "@1"})) == ["L1"]
    wrong_target = {**good, "Link": '</api/v2/other/>; rel="successor-version"'}
    assert rule_ids(rules.check_deprecation_headers(wrong_target)) == ["L1"]


def test_removed_l3() -> None:
    gone = body({"error": "use execute-stage instead", "code": "gone"})
    assert rules.check_removed(410, JSON, gone) == []
    assert rule_ids(rules.check_removed(404, JSON, gone)) == ["L3"]
    assert rule_ids(rules.check_removed(410, JSON, body({"error": "gone", "code": "gone"}))) == ["L3"]


def test_close_codes_w1_w4_e2() -> None:
    assert rules.check_close("W1", "unknown stage", 4404, "no such stage", (4404,)) == []
    assert rule_ids(rules.check_close("W1", "unknown stage", 1000, "", (4404,))) == ["W1"]
    assert rule_ids(rules.check_close("W4", "binary", 1003, "", (1003,))) == ["W4"]  # a reason is required
    assert "no close" in rules.check_close("E2", "no token", None, "", (4401,))[0].received
    assert rule_ids(rules.check_unauthorized(200, JSON, b"{}", "no credentials")) == ["E2"]
