"""Assessment types: built-ins without set-up, custom ones with rules."""

from __future__ import annotations

from typing import Any

import pytest

from feedguard.dal.models import Assessment
from handlers import assessment_types
from tests.support import key_caller, request


def create(**body: Any) -> tuple[int, Any]:
    return request(assessment_types, "POST", "/assessment-types", body={"effect": "warn", **body})


def test_a_new_deployment_has_the_builtins(aws: Any) -> None:
    status, page = request(assessment_types, "GET", "/assessment-types", caller=key_caller("k1"))
    assert status == 200
    assert [(t["id"], t["effect"], t["expiration_days"]) for t in page["items"]] == [
        ("unassessed", None, None),
        ("ignore", "allow", 90),
        ("caution", "warn", 90),
        ("blocked", "block", 90),
    ]


def test_a_custom_type_gets_a_slug_id_and_a_clash_is_409(aws: Any) -> None:
    status, created = create(
        name="Accepted Risk (legal)", expiration_days=30, color="#123abc", auto_assess={"min_cvss": 0, "max_cvss": 3.9}
    )
    assert status == 201
    assert created["id"] == "accepted-risk-legal"
    assert created["auto_assess"] == {"min_cvss": 0.0, "max_cvss": 3.9}
    assert create(name="accepted risk legal")[0] == 409
    assert create(name="Ignore")[0] == 409  # the built-in's id


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "effect": "deny"},
        {"name": "x", "expiration_days": 0},
        {"name": "x", "expiration_days": "30"},
        {"name": "x", "color": "red"},
        {"name": "x", "auto_assess": {"min_cvss": 5, "max_cvss": 4}},
        {"name": "x", "auto_assess": {"min_cvss": -1, "max_cvss": 4}},
        {"name": "x", "auto_assess": {"min_cvss": 1, "max_cvss": 10.5}},
        {"name": "!!!"},
        {"name": ""},
    ],
)
def test_invalid_types_are_422_and_nothing_is_stored(aws: Any, body: dict[str, Any]) -> None:
    assert create(**body)[0] == 422
    assert len(request(assessment_types, "GET", "/assessment-types")[1]["items"]) == 4


@pytest.mark.parametrize("builtin", ["unassessed", "ignore", "caution", "blocked"])
def test_builtins_cannot_be_changed_or_deleted(aws: Any, builtin: str) -> None:
    assert request(assessment_types, "PATCH", f"/assessment-types/{builtin}", body={"name": "Mine"})[0] == 409
    assert request(assessment_types, "DELETE", f"/assessment-types/{builtin}")[0] == 409


def test_patch_changes_only_what_is_sent(aws: Any) -> None:
    create(name="Later", expiration_days=14)
    status, changed = request(
        assessment_types, "PATCH", "/assessment-types/later", body={"effect": "block", "auto_assess": None}
    )
    assert status == 200
    assert (changed["id"], changed["effect"], changed["expiration_days"], changed["auto_assess"]) == (
        "later",
        "block",
        14,
        None,
    )
    assert request(assessment_types, "PATCH", "/assessment-types/later", body={"effect": None})[0] == 422
    assert request(assessment_types, "PATCH", "/assessment-types/nope", body={"effect": "warn"})[0] == 404


def test_a_type_in_use_by_a_live_assessment_cannot_be_deleted(aws: Any) -> None:
    create(name="Later")
    Assessment(
        feed="demo", vulnerability_id="CVE-1", type="later", effect="warn", assessed_by="a", assessed_at="t"
    ).save()
    assert request(assessment_types, "DELETE", "/assessment-types/later")[0] == 409
    Assessment.get("demo", "CVE-1").delete()
    # an expired assessment that TTL has not deleted yet does not hold the type
    Assessment(
        feed="demo",
        vulnerability_id="CVE-2",
        type="later",
        effect="warn",
        assessed_by="a",
        assessed_at="t",
        expires_ttl=1,
    ).save()
    assert request(assessment_types, "DELETE", "/assessment-types/later")[0] == 204
    assert request(assessment_types, "GET", "/assessment-types/later")[0] == 404


def test_only_the_admin_may_change_types(aws: Any) -> None:
    someone = key_caller("k1")
    assert (
        request(assessment_types, "POST", "/assessment-types", body={"name": "x", "effect": "warn"}, caller=someone)[0]
        == 403
    )
    assert request(assessment_types, "GET", "/assessment-types/ignore", caller=someone)[0] == 200


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 7, 100])
def test_pages_cover_builtins_then_custom_types_exactly_once(aws: Any, limit: int) -> None:
    for name in ("Alpha", "Beta", "Gamma"):
        create(name=name)
    seen, cursor = [], None
    while True:
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        status, page = request(assessment_types, "GET", "/assessment-types", query=query)
        assert status == 200
        assert len(page["items"]) <= limit
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["unassessed", "ignore", "caution", "blocked", "alpha", "beta", "gamma"]


def test_scores_are_rounded_to_one_decimal_so_tiny_floats_are_stored(aws: Any) -> None:
    # Found by fuzzing: 2.2e-313 is a valid number in JSON but not in DynamoDB (a 500)
    body = {"name": "Tiny", "effect": "allow", "auto_assess": {"min_cvss": 2.2250738585e-313, "max_cvss": 4.449}}
    status, answer = request(assessment_types, "POST", "/assessment-types", body=body)
    assert status == 201, answer
    assert answer["auto_assess"] == {"min_cvss": 0.0, "max_cvss": 4.4}
