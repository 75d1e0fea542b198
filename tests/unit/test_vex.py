"""GET /feeds/{feed}/vex: a feed's findings and decisions as CycloneDX 1.6
and OpenVEX 0.2.0, each export validated against the official schema; the
assessment types' VEX fields that decide the mapping (docs/vex.md)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from feedguard import clock, vex
from feedguard.dal import exports
from feedguard.dal.models import Assessment, Vulnerability
from feedguard.effects import BUILTIN_TYPES
from handlers import assessment_types, feeds, findings, keys
from tests.support import counted_dynamodb_calls, key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding
from tests.vex_schemas import cyclonedx_problems, openvex_problems

LODASH = "pkg:npm/lodash@4.17.20"
LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


@pytest.fixture
def feed(aws: Any) -> str:
    builders.a_feed("demo", unassessed_effect="block")
    return "demo"


def a_type(name: str, effect: str, **vex_fields: str | None) -> str:
    status, kind = request(
        assessment_types, "POST", "/assessment-types", body={"name": name, "effect": effect, **vex_fields}
    )
    assert status == 201, kind
    return str(kind["id"])


def assess(feed: str, vulnerability_id: str, type_id: str, comment: str | None = "reviewed") -> None:
    status, answer = request(
        findings,
        "PUT",
        f"/feeds/{feed}/vulnerabilities/{vulnerability_id}/assessment",
        body={"type": type_id, "comment": comment},
    )
    assert status == 200, answer


def expired_assessment(feed: str, vulnerability_id: str) -> None:
    """An Ignore assessment whose expiry passed a minute ago, not yet deleted by TTL."""
    passed = int(time.time()) - 60
    a_finding(feed, vulnerability_id, LODASH, status="assessed", expires_ttl=passed)
    Assessment(
        feed=feed,
        vulnerability_id=vulnerability_id,
        type="ignore",
        effect="allow",
        comment="was fine",
        assessed_by="alice",
        assessed_at=clock.iso(clock.now()),
        expires_at=clock.iso(datetime.fromtimestamp(passed, UTC)),
        expires_ttl=passed,
    ).save()


def export(
    feed: str, format_: str, caller: dict[str, str] | None = None, **query: str
) -> tuple[int, Any, dict[str, Any]]:
    """(status, body, headers) of GET /feeds/{feed}/vex?format=…"""
    from tests.support import LambdaContext, load_event

    event = load_event("api-keys-list.json")
    event.update(httpMethod="GET", path=f"/feeds/{feed}/vex", resource=f"/feeds/{feed}/vex", body=None)
    event["requestContext"]["httpMethod"] = "GET"
    params = {"format": format_, **query}
    event["queryStringParameters"] = params
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()}
    who = caller or {"key_id": "admin", "key_name": "admin", "admin": "true"}
    event["requestContext"]["authorizer"] = {"principalId": who["key_id"], **who}
    response = findings.handler(event, LambdaContext())
    headers = {
        **{k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()},
        **(response.get("headers") or {}),
    }
    return response["statusCode"], json.loads(response["body"]), headers


def valid_cyclonedx(feed: str) -> dict[str, Any]:
    status, document, headers = export(feed, "cyclonedx")
    assert status == 200, document
    assert headers["Content-Type"].startswith("application/vnd.cyclonedx+json")
    assert cyclonedx_problems(json.dumps(document)) is None, cyclonedx_problems(json.dumps(document))
    return document


def valid_openvex(feed: str) -> dict[str, Any]:
    status, document, _ = export(feed, "openvex")
    assert status == 200, document
    assert openvex_problems(document) == []
    return document


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if "vulnerabilities" in document:
        return {v["id"]: v for v in document["vulnerabilities"]}
    return {s["vulnerability"]["name"]: s for s in document["statements"]}


def properties(vulnerability: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in vulnerability["properties"]}


# ---------------------------------------------------------------- assessment types


def test_the_built_in_types_carry_their_vex_fields(aws: Any) -> None:
    # When any key lists the types
    status, page = request(assessment_types, "GET", "/assessment-types", caller=key_caller("k1"))
    # Then Ignore is not_affected (not in the execute path), Caution and Blocked affected, Unassessed none
    assert status == 200
    fields = {t["id"]: (t["vex_status"], t["vex_justification"]) for t in page["items"]}
    assert fields == {
        "unassessed": (None, None),
        "ignore": ("not_affected", "vulnerable_code_not_in_execute_path"),
        "caution": ("affected", None),
        "blocked": ("affected", None),
    }


def test_a_custom_type_keeps_the_vex_fields_it_was_created_with(aws: Any) -> None:
    type_id = a_type(
        "Mitigated", "allow", vex_status="not_affected", vex_justification="inline_mitigations_already_exist"
    )
    status, kind = request(assessment_types, "GET", f"/assessment-types/{type_id}")
    assert status == 200
    assert (kind["vex_status"], kind["vex_justification"]) == ("not_affected", "inline_mitigations_already_exist")
    assert request(assessment_types, "GET", f"/assessment-types/{a_type('Plain', 'warn')}")[1]["vex_status"] is None


@pytest.mark.parametrize("status", ["affected", "fixed", "under_investigation", None])
def test_a_justification_without_not_affected_is_refused_and_creates_nothing(aws: Any, status: str | None) -> None:
    # When the admin creates a type with a justification and another status (or none)
    body = {"name": "Odd", "effect": "warn", "vex_justification": "component_not_present"}
    code, answer = request(assessment_types, "POST", "/assessment-types", body={**body, "vex_status": status})
    # Then it is 422, saying why, and no type exists
    assert code == 422, answer
    assert answer["message"] == "vex_justification is only for vex_status not_affected."
    assert request(assessment_types, "GET", "/assessment-types/odd")[0] == 404


def test_unknown_vex_values_are_refused(aws: Any) -> None:
    for fields in (
        {"vex_status": "exploitable"},
        {"vex_status": "not_affected", "vex_justification": "code_not_reachable"},
    ):
        code, answer = request(
            assessment_types, "POST", "/assessment-types", body={"name": "X", "effect": "warn", **fields}
        )
        assert code == 422, answer


def test_a_patch_that_would_leave_a_justification_beside_another_status_is_refused(aws: Any) -> None:
    # Given a not_affected type with a justification
    type_id = a_type("Unreachable", "allow", vex_status="not_affected", vex_justification="vulnerable_code_not_present")
    # When the admin changes only its status to affected
    code, answer = request(assessment_types, "PATCH", f"/assessment-types/{type_id}", body={"vex_status": "affected"})
    # Then it is 422 and the type is as it was
    assert code == 422, answer
    kind = request(assessment_types, "GET", f"/assessment-types/{type_id}")[1]
    assert (kind["vex_status"], kind["vex_justification"]) == ("not_affected", "vulnerable_code_not_present")
    # And with the justification cleared in the same request it changes
    code, kind = request(
        assessment_types,
        "PATCH",
        f"/assessment-types/{type_id}",
        body={"vex_status": "affected", "vex_justification": None},
    )
    assert code == 200, kind
    assert (kind["vex_status"], kind["vex_justification"]) == ("affected", None)


def test_the_built_ins_vex_fields_cannot_be_changed(aws: Any) -> None:
    code, _ = request(assessment_types, "PATCH", "/assessment-types/ignore", body={"vex_status": "affected"})
    assert code == 409


# ---------------------------------------------------------------- the mapping


@pytest.fixture
def decided(feed: str) -> str:
    """A feed with a finding for every VEX case of docs/vex.md."""
    types = {
        "fixed": a_type("Patched", "allow", vex_status="fixed"),
        "investigating": a_type("Looking", "warn", vex_status="under_investigation"),
        "no-vex": a_type("Accepted", "allow"),
        "not-present": a_type("Absent", "allow", vex_status="not_affected", vex_justification="component_not_present"),
        "statement-only": a_type("Harmless", "allow", vex_status="not_affected"),
    }
    cases = {
        "CVE-2026-0001": None,  # unassessed
        "CVE-2026-0002": "ignore",
        "CVE-2026-0003": "caution",
        "CVE-2026-0004": "blocked",
        "CVE-2026-0005": types["fixed"],
        "CVE-2026-0006": types["investigating"],
        "CVE-2026-0007": types["no-vex"],
        "CVE-2026-0008": types["not-present"],
        "CVE-2026-0009": types["statement-only"],
    }
    for vulnerability_id, type_id in cases.items():
        a_finding(feed, vulnerability_id, LODASH, LOG4J)
        if type_id:
            assess(feed, vulnerability_id, type_id)
    a_finding(feed, "CVE-2026-0010", LODASH, status="expired")  # expired, TTL done
    expired_assessment(feed, "CVE-2026-0011")  # expired, not yet deleted
    a_finding(feed, "CVE-2026-0012", LODASH, status="withdrawn")
    return feed


# (vulnerability, OpenVEX status, justification, CycloneDX state, CycloneDX justification, response)
MAPPING = [
    ("CVE-2026-0001", "under_investigation", None, "in_triage", None, None),
    (
        "CVE-2026-0002",
        "not_affected",
        "vulnerable_code_not_in_execute_path",
        "not_affected",
        "code_not_reachable",
        None,
    ),
    ("CVE-2026-0003", "affected", None, "exploitable", None, ["will_not_fix"]),
    ("CVE-2026-0004", "affected", None, "exploitable", None, ["update"]),
    ("CVE-2026-0005", "fixed", None, "resolved", None, None),
    ("CVE-2026-0006", "under_investigation", None, "in_triage", None, None),
    ("CVE-2026-0007", "affected", None, "exploitable", None, ["will_not_fix"]),
    ("CVE-2026-0008", "not_affected", "component_not_present", "not_affected", "code_not_present", None),
    ("CVE-2026-0009", "not_affected", None, "not_affected", None, None),
    ("CVE-2026-0010", "under_investigation", None, "in_triage", None, None),
    ("CVE-2026-0011", "under_investigation", None, "in_triage", None, None),
]


def test_every_case_maps_as_documented_in_both_formats(decided: str) -> None:
    # When a viewer exports the feed in both formats
    cyclonedx, openvex = by_id(valid_cyclonedx(decided)), by_id(valid_openvex(decided))
    # Then every finding but the withdrawn one is there, mapped as docs/vex.md says
    assert sorted(cyclonedx) == sorted(openvex) == [case[0] for case in MAPPING]
    for vulnerability_id, status, justification, state, cdx_justification, response in MAPPING:
        statement, analysis = openvex[vulnerability_id], cyclonedx[vulnerability_id]["analysis"]
        assert (statement["status"], statement.get("justification")) == (status, justification), vulnerability_id
        assert (analysis["state"], analysis.get("justification"), analysis.get("response")) == (
            state,
            cdx_justification,
            response,
        ), vulnerability_id
        if status == "not_affected":
            assert statement["impact_statement"].startswith("Assessed ")
        if status == "affected":
            assert statement["action_statement"]
        else:
            assert "action_statement" not in statement


def test_unassessed_and_expired_findings_say_so_and_assessed_ones_carry_the_comment(decided: str) -> None:
    cyclonedx, openvex = by_id(valid_cyclonedx(decided)), by_id(valid_openvex(decided))
    assert openvex["CVE-2026-0001"]["status_notes"] == "Not assessed yet."
    assert openvex["CVE-2026-0010"]["status_notes"] == "Its assessment expired; it needs reassessment."
    assert openvex["CVE-2026-0011"]["status_notes"].startswith("Its assessment expired at 20")
    assert openvex["CVE-2026-0002"]["status_notes"] == "reviewed"
    assert cyclonedx["CVE-2026-0002"]["analysis"]["detail"] == "reviewed"
    assert properties(cyclonedx["CVE-2026-0011"])["feedguard:status"] == "expired"
    assert properties(cyclonedx["CVE-2026-0001"])["feedguard:assessment_type"] == "unassessed"
    assert properties(cyclonedx["CVE-2026-0001"])["feedguard:effect"] == "block"  # the feed's unassessed_effect


def test_cyclonedx_names_the_expiry_type_and_effect_in_properties(decided: str) -> None:
    # Given a Blocked assessment that expires in 90 days (the type's default)
    blocked = by_id(valid_cyclonedx(decided))["CVE-2026-0004"]
    # Then its properties say so, and the analysis dates are the detection and the assessment
    named = properties(blocked)
    assert (named["feedguard:assessment_type"], named["feedguard:effect"]) == ("blocked", "block")
    expires = clock.parse_iso(named["feedguard:expires_at"])
    assert 89 <= (expires - clock.now()).days <= 90
    assert blocked["analysis"]["firstIssued"] <= blocked["analysis"]["lastUpdated"]


def test_cyclonedx_components_are_the_affected_packages_with_their_purls(decided: str) -> None:
    document = valid_cyclonedx(decided)
    components = {c["bom-ref"]: c for c in document["components"]}
    assert sorted(components) == sorted([LODASH, LOG4J])
    assert components[LOG4J] == {
        "type": "library",
        "bom-ref": LOG4J,
        "name": "log4j-core",
        "group": "org.apache.logging.log4j",
        "version": "2.14.1",
        "purl": LOG4J,
    }
    refs = {a["ref"] for v in document["vulnerabilities"] for a in v["affects"]}
    assert refs == set(components)
    assert document["metadata"]["tools"] == {"components": [{"type": "application", "name": "feedguard"}]}


def test_the_vulnerabilitys_details_fill_source_ratings_cwes_and_aliases(feed: str) -> None:
    # Given a finding OSS Index names by its own id, with a CVE, a CVSS 3.1 vector and a CWE
    a_finding(feed, "sonatype-2021-1694", LODASH, cvss=7.5)
    Vulnerability(
        id="sonatype-2021-1694",
        description="Prototype pollution",
        cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        cwe="CWE-1321",
        cve="CVE-2021-23337",
        reference="https://ossindex.sonatype.org/vulnerability/sonatype-2021-1694",
        external_references=["https://github.com/advisories/GHSA-35jh-r3h4-6jhm"],
        fingerprint="x",
        updated_at="t",
    ).save()
    from feedguard.dal.models import Finding

    finding = Finding.get(feed, "sonatype-2021-1694")
    finding.update(actions=[Finding.cve.set("CVE-2021-23337")])
    # When it is exported
    vulnerability = valid_cyclonedx(feed)["vulnerabilities"][0]
    statement = valid_openvex(feed)["statements"][0]
    # Then the details are there, and the CVE is an alias
    source = {"name": "OSS Index", "url": "https://ossindex.sonatype.org/vulnerability/sonatype-2021-1694"}
    assert vulnerability["source"] == source
    assert vulnerability["ratings"] == [
        {
            "source": source,
            "score": 7.5,
            "severity": "high",
            "method": "CVSSv31",
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        }
    ]
    assert vulnerability["cwes"] == [1321]
    assert vulnerability["description"] == "Prototype pollution"
    assert vulnerability["references"][0]["id"] == "CVE-2021-23337"
    assert vulnerability["advisories"] == [{"url": "https://github.com/advisories/GHSA-35jh-r3h4-6jhm"}]
    assert statement["vulnerability"] == {"name": "sonatype-2021-1694", "aliases": ["CVE-2021-23337"]}
    assert statement["products"] == [{"@id": LODASH}]


@pytest.mark.parametrize(
    ("vector", "method"),
    [
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "CVSSv4"),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSSv31"),
        ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSSv3"),
        ("AV:N/AC:L/Au:N/C:P/I:P/A:P", "CVSSv2"),
        (None, "other"),
    ],
)
def test_the_rating_method_follows_the_vectors_prefix(vector: str | None, method: str) -> None:
    assert vex.rating_method(vector) == method


def test_cwes_are_numbers(aws: Any) -> None:
    assert vex.cwes("CWE-79, CWE-400") == [79, 400]
    assert vex.cwes(None) == vex.cwes("none") == []


@pytest.mark.parametrize("justification", vex.VEX_JUSTIFICATIONS)
def test_every_openvex_justification_has_a_cyclonedx_one_and_validates(feed: str, justification: str) -> None:
    type_id = a_type("Why", "allow", vex_status="not_affected", vex_justification=justification)
    a_finding(feed, "CVE-2026-0100", LODASH)
    assess(feed, "CVE-2026-0100", type_id, comment=None)
    analysis = valid_cyclonedx(feed)["vulnerabilities"][0]["analysis"]
    statement = valid_openvex(feed)["statements"][0]
    assert analysis["justification"] == vex.CYCLONEDX_JUSTIFICATION[justification]
    assert statement["justification"] == justification
    assert "detail" not in analysis
    assert "status_notes" not in statement


def test_an_empty_feed_exports_a_bom_without_vulnerabilities_and_openvex_without_statements(feed: str) -> None:
    assert valid_cyclonedx(feed)["vulnerabilities"] == []
    status, document, _ = export(feed, "openvex")
    assert status == 200
    # The one way it breaks the OpenVEX schema: no statement (docs/vex.md)
    assert openvex_problems(document) == ["statements: [] should be non-empty"]


# ---------------------------------------------------------------- access and input


def test_a_key_without_a_role_on_the_feed_gets_404_and_a_viewer_the_export(decided: str) -> None:
    outsider = key_caller("k-outsider")
    status, answer, _ = export(decided, "openvex", caller=outsider)
    assert (status, set(answer)) == (404, {"message"})
    assert "CVE-2026" not in json.dumps(answer)
    viewer = request(keys, "POST", "/api-keys", body={"name": "auditor"})[1]["id"]
    assert request(feeds, "PUT", f"/feeds/{decided}/permissions/{viewer}", body={"role": "viewer"})[0] == 200
    status, document, _ = export(decided, "openvex", caller=key_caller(viewer))
    assert status == 200
    assert len(document["statements"]) == len(MAPPING)
    assert export("nope", "openvex")[0] == 404


@pytest.mark.parametrize("query", [{"format": "spdx"}, {"format": "cyclonedx", "limit": "5"}])
def test_an_unknown_format_or_parameter_is_422(feed: str, query: dict[str, str]) -> None:
    status, answer = request(findings, "GET", f"/feeds/{feed}/vex", query=query)
    assert status == 422, answer
    assert answer["details"][0]["loc"][:2] == ["query", next(k for k in query if k != "format" or query[k] == "spdx")]


def test_without_a_format_the_export_is_cyclonedx(feed: str) -> None:
    status, document = request(findings, "GET", f"/feeds/{feed}/vex")
    assert status == 200
    assert document["bomFormat"] == "CycloneDX"


# ---------------------------------------------------------------- size and pages


def test_an_export_too_large_for_one_response_comes_in_pages_that_miss_nothing(
    feed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 25 findings and a response that holds a few of them
    for n in range(25):
        a_finding(feed, f"CVE-2026-{n:04d}", LODASH if n % 2 else LOG4J)
    monkeypatch.setattr(findings, "MAX_VEX_PAYLOAD_BYTES", 3_000)
    for format_ in vex.FORMATS:
        # When a client follows the Link headers
        seen: list[str] = []
        query: dict[str, str] = {}
        pages = 0
        while True:
            status, document, headers = export(feed, format_, **query)
            assert status == 200, document
            pages += 1
            # Then each page is a whole, valid document that fits the bound
            body = json.dumps(document, separators=(",", ":"))
            assert vex.escaped_bytes(body) < 3_000
            if format_ == "cyclonedx":
                assert cyclonedx_problems(body) is None
                refs = {a["ref"] for v in document["vulnerabilities"] for a in v["affects"]}
                assert refs == {c["bom-ref"] for c in document["components"]}
            else:
                assert openvex_problems(document) == []
            seen += list(by_id(document))
            link = headers.get("Link")
            if not link:
                break
            assert link.startswith(f"<vex?format={format_}&cursor=")
            assert link.endswith('>; rel="next"')
            query = {"cursor": link[link.index("cursor=") + 7 : link.index(">")]}
        # And together they hold every finding once, in id order
        assert seen == [f"CVE-2026-{n:04d}" for n in range(25)]
        assert pages >= 3


def test_a_cursor_of_another_format_or_forged_is_422(feed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(5):
        a_finding(feed, f"CVE-2026-{n:04d}", LODASH)
    monkeypatch.setattr(findings, "MAX_VEX_PAYLOAD_BYTES", 1_000)
    link = export(feed, "openvex")[2]["Link"]
    cursor = link[link.index("cursor=") + 7 : link.index(">")]
    status, answer, _ = export(feed, "cyclonedx", cursor=cursor)
    assert status == 422
    assert "format=openvex" in answer["message"]
    assert export(feed, "openvex", cursor="bm90LWEtY3Vyc29y")[0] == 422
    # A cursor of the right shape whose id DynamoDB could not start after is refused, not a 500
    too_long = exports.cursor("CVE-" + "9" * 1100, "openvex")
    assert export(feed, "openvex", cursor=str(too_long))[0] == 422


def test_the_reads_grow_by_a_batch_of_100_findings(feed: str) -> None:
    # Given 250 findings, half assessed
    for n in range(250):
        a_finding(feed, f"CVE-2026-{n:04d}", LODASH)
        if n % 2:
            Assessment(
                feed=feed,
                vulnerability_id=f"CVE-2026-{n:04d}",
                type="ignore",
                effect="allow",
                assessed_by="alice",
                assessed_at=clock.iso(clock.now()),
            ).save()
    # When the feed is exported
    with counted_dynamodb_calls() as calls:
        status, document, _ = export(feed, "cyclonedx")
    # Then it took one Query of the findings, one of the feed's package exceptions,
    # and ceil(250 / 100) BatchGets each of assessments and vulnerabilities
    assert status == 200
    assert len(document["vulnerabilities"]) == 250
    assert calls["Query"] == 1 + 1
    assert calls["BatchGetItem"] == 3 + 3
    assert calls["GetItem"] <= 2  # the feed (and the caller's role)


def test_five_thousand_findings_in_their_largest_likely_form_fit_in_a_few_pages() -> None:
    # Given 5,000 findings of two packages each, with 1,000-character descriptions,
    # long purls, two advisories and 200-character comments (more than OSS Index's usual)
    decisions = [
        vex.Decision(
            vulnerability_id=f"CVE-2026-{n:05d}" if n % 3 else f"sonatype-2026-{n:05d}",
            packages=[
                f"pkg:maven/org.example.group{n}/artifact-name-{n}@1.2.{n}",
                f"pkg:npm/%40scope/pkg-{n}@4.17.{n}",
            ],
            status="assessed" if n % 4 else "unassessed",
            effect="warn",
            first_seen="2026-12-01T00:00:00Z",
            title="t" * 100,
            description="d" * 1000,
            cvss_score=7.5,
            cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            cwe="CWE-400",
            cve=f"CVE-2026-{n:05d}",
            reference=f"https://ossindex.sonatype.org/vulnerability/CVE-2026-{n:05d}",
            external_references=[f"https://nvd.nist.gov/vuln/detail/CVE-2026-{n:05d}", f"https://example.com/{n}"],
            kind=BUILTIN_TYPES["caution"] if n % 4 else None,
            comment="c" * 200 if n % 4 else None,
            assessed_by="alice",
            assessed_at="2026-12-02T00:00:00Z",
            expires_at="2027-03-01T00:00:00Z",
        )
        for n in range(5000)
    ]
    bound = findings.MAX_VEX_PAYLOAD_BYTES
    for format_, expected_pages in (("cyclonedx", 3), ("openvex", 1)):
        # When they are exported page by page
        rest, pages = decisions, 0
        while rest:
            page = vex.export(format_, "demo", rest, "2026-12-07T00:00:00Z", bound)
            pages += 1
            # Then every page fits in Lambda's response, the body escaped once more
            assert len(json.dumps(page.body)) <= page.payload_bytes <= bound
            rest = rest[page.findings :] if page.next_after else []
        # And CycloneDX, with the descriptions, takes three; OpenVEX one (docs/vex.md)
        assert pages == expected_pages, format_


# ---------------------------------------------------------------- package exceptions


def test_a_package_exception_states_its_packages_apart_in_both_formats(feed: str) -> None:
    from handlers import exceptions as exception_routes

    # Given a finding reported for two versions of lodash, assessed Blocked feed-wide,
    # and an Ignore exception for the older versions only
    older = "pkg:npm/lodash@4.17.15"
    a_finding(feed, "CVE-2021-23337", LODASH, older)
    assess(feed, "CVE-2021-23337", "blocked")
    status, made = request(
        exception_routes,
        "POST",
        f"/feeds/{feed}/exceptions",
        body={"purl": "pkg:npm/lodash", "versions": "vers:npm/<4.17.16", "type": "ignore", "comment": "old build"},
    )
    assert status == 201, made
    # When the feed is exported, Then each format validates and states the two packages apart
    cyclonedx = valid_cyclonedx(feed)["vulnerabilities"]
    assert [(v["id"], [a["ref"] for a in v["affects"]], v["analysis"]["state"]) for v in cyclonedx] == [
        ("CVE-2021-23337", [LODASH], "exploitable"),
        ("CVE-2021-23337", [older], "not_affected"),
    ]
    assert {"name": "feedguard:exception", "value": made["id"]} in cyclonedx[1]["properties"]
    statements = valid_openvex(feed)["statements"]
    assert [(s["products"], s["status"]) for s in statements] == [
        ([{"@id": LODASH}], "affected"),
        ([{"@id": older}], "not_affected"),
    ]
    assert statements[1]["status_notes"] == "old build"
    # And once the exception covers every package, only its statement is left
    request(
        exception_routes,
        "POST",
        f"/feeds/{feed}/exceptions",
        body={"purl": "pkg:npm/lodash", "type": "caution", "vulnerability_ids": ["CVE-2021-23337"]},
    )
    statements = valid_openvex(feed)["statements"]
    assert [(s["products"], s["status"]) for s in statements] == [([{"@id": older}, {"@id": LODASH}], "affected")]


def test_the_packages_verdicts_take_the_exceptions_that_decide_them(feed: str) -> None:
    from feedguard.dal.models import Package
    from handlers import exceptions as exception_routes

    now = clock.iso(clock.now())
    older = "pkg:npm/lodash@4.17.15"
    for purl in (LODASH, older):
        Package(feed=feed, purl=purl, added_at=now, last_scanned_at=now, vulnerability_ids={"CVE-2021-23337"}).save()
    a_finding(feed, "CVE-2021-23337", LODASH, older)  # unassessed: the feed's block
    body = {"purl": "pkg:npm/lodash", "versions": "vers:npm/<4.17.16", "type": "caution"}
    assert request(exception_routes, "POST", f"/feeds/{feed}/exceptions", body=body)[0] == 201
    listed = {p["purl"]: p["verdict"] for p in request(feeds, "GET", f"/feeds/{feed}/packages")[1]["items"]}
    assert listed == {LODASH: "block", older: "warn"}
