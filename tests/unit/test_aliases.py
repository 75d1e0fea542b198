"""One decision per vulnerability, whatever its name (issue 28, part 2): the
canonical id rule, the plans that join and merge findings an alias links,
their execution (the stricter assessment stands, the history records the
merge, versions grow), and every read that takes an id answering by alias."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedguard import aliases, clock, findings_plan, recording, vex
from feedguard.actors import Actor
from feedguard.dal import assessments as assessment_store
from feedguard.dal import feeds as feed_store
from feedguard.dal import findings as finding_store
from feedguard.dal import history, permissions
from feedguard.dal.models import Assessment, Finding, Package
from feedguard.domain import Report, Vulnerability
from feedguard.findings_plan import Held, StoredFinding
from handlers import findings, gate
from tests.support import counted_dynamodb_calls, key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding

CVE, GHSA = "CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"
LODASH = "pkg:npm/lodash@4.17.20"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
ALICE = key_caller("kalice", "alice")


def vulnerability(vid: str, *others: str, score: float | None = 7.2, cve: str | None = None) -> Vulnerability:
    return Vulnerability(vid, vid, f"[{vid}] title", None, score, None, None, cve, None, (), tuple(others))


# ---------------------------------------------------------------- the canonical rule

ids = st.one_of(
    st.builds(lambda y, n: f"CVE-{y}-{n:04d}", st.integers(1999, 2030), st.integers(1, 99_999)),
    st.builds(lambda s: f"GHSA-{s[:4]}-{s[4:8]}-{s[8:12]}", st.text("23456789cfghjmpqrvwx", min_size=12, max_size=12)),
    st.builds(lambda n: f"PYSEC-2021-{n}", st.integers(1, 999)),
    st.builds(lambda n: f"sonatype-2021-{n:04d}", st.integers(1, 9999)),
)


def test_the_canonical_id_is_the_lowest_cve_by_year_and_number_then_a_ghsa_then_the_lowest_id() -> None:
    assert aliases.canonical([GHSA, CVE]) == CVE
    # By number, not text: CVE-2021-9999 < CVE-2021-10000; and years first
    assert aliases.canonical(["CVE-2021-10000", "CVE-2021-9999", "CVE-2022-0001"]) == "CVE-2021-9999"
    assert aliases.canonical(["PYSEC-2019-217", "GHSA-462w-v97r-4m45"]) == "GHSA-462w-v97r-4m45"
    assert aliases.canonical(["sonatype-2021-1694", "OSV-2020-111"]) == "OSV-2020-111"


@given(st.lists(ids, min_size=1), st.randoms())
def test_the_canonical_id_is_a_function_of_the_set_alone(found: list[str], random: Any) -> None:
    shuffled = list(found)
    random.shuffle(shuffled)
    assert aliases.canonical(found) == aliases.canonical(shuffled) == aliases.canonical(set(found))


@given(st.lists(ids, min_size=1), st.lists(ids, min_size=1))
def test_learning_ids_only_moves_the_canonical_id_down_so_it_never_flaps(first: list[str], more: list[str]) -> None:
    joined = aliases.canonical(first + more)
    assert joined == min(aliases.canonical(first), aliases.canonical(more), key=aliases.rank)
    assert aliases.rank(joined) <= aliases.rank(aliases.canonical(first))


@given(st.lists(st.frozensets(ids, min_size=1, max_size=3), max_size=8), st.randoms())
def test_groups_join_sets_sharing_an_id_whatever_their_order(sets: list[frozenset[str]], random: Any) -> None:
    shuffled = list(sets)
    random.shuffle(shuffled)
    assert aliases.groups(sets) == aliases.groups(shuffled)
    joined = aliases.groups(sets)
    assert frozenset().union(*joined) == frozenset().union(*sets)
    for one in sets:  # each set lies within one group
        assert sum(1 for group in joined if one & group) == 1


def test_oss_index_names_a_sonatype_ids_cve_as_its_alias() -> None:
    from feedguard import ossindex

    parsed = ossindex.parse_vulnerability({"id": "sonatype-2021-1", "cve": "CVE-2021-1234"})
    assert parsed.aliases == ("CVE-2021-1234",)
    assert ossindex.parse_vulnerability({"id": CVE, "cve": CVE}).aliases == ()


def test_a_vulnerability_without_aliases_keeps_the_fingerprint_it_had() -> None:
    plain = vulnerability(CVE)
    import hashlib
    import json

    fields = {name: getattr(plain, name) for name in findings_plan.FINGERPRINTED if name != "aliases"}
    before = hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert findings_plan.fingerprint(plain) == before
    assert findings_plan.fingerprint(vulnerability(CVE, GHSA)) != before


# ---------------------------------------------------------------- plans


def both_sources() -> dict[str, Report]:
    """OSS Index names lodash's flaw by its CVE; OSV by its GHSA, with the CVE among its aliases."""
    return {
        LODASH: Report((vulnerability(CVE, score=7.2), vulnerability(GHSA, CVE, score=7.2))),
    }


def test_two_sources_naming_one_flaw_differently_make_one_finding_under_its_cve() -> None:
    seen = findings_plan.sightings([("feed", LODASH)], both_sources())
    found = findings_plan.targets(seen, {}, {})
    assert [(t.vid, t.ids, t.linked) for t in found] == [(CVE, frozenset({CVE, GHSA}), ())]
    plan = findings_plan.plan_findings(found, {}, {}, [], NOW)
    assert [(c.vid, c.aliases) for c in plan.creations] == [(CVE, frozenset({GHSA}))]
    # Whatever order the sources answered in
    reversed_reports = {LODASH: Report(tuple(reversed(both_sources()[LODASH].vulnerabilities)))}
    again = findings_plan.targets(findings_plan.sightings([("feed", LODASH)], reversed_reports), {}, {})
    assert again == found


def stored(*, aliases_: frozenset[str] = frozenset(), title: str = "t") -> StoredFinding:
    return StoredFinding("unassessed", frozenset({LODASH}), 7.2, title, None, None, aliases_)


def test_an_alias_learnt_later_merges_the_findings_it_links_into_the_canonical_one() -> None:
    # Given a finding under the GHSA (OSV alone) and one under the CVE (OSS Index alone)
    held = {("feed", GHSA): stored(), ("feed", CVE): stored()}
    # When a batch reports the GHSA with the CVE among its aliases
    seen = findings_plan.sightings([("feed", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))})
    found = findings_plan.targets(seen, held, {})
    plan = findings_plan.plan_findings(found, held, {}, [], NOW)
    # Then the GHSA's merges into the CVE's
    assert (plan.creations, plan.changes) == ((), ())
    ((merge,),) = (plan.merges,)
    assert (merge.vid, merge.merged, merge.into_existing, merge.ids) == (CVE, (GHSA,), True, frozenset({CVE, GHSA}))


def test_a_finding_whose_canonical_id_moves_is_merged_into_a_new_key() -> None:
    held = {("feed", GHSA): stored()}
    seen = findings_plan.sightings([("feed", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))})
    (merge,) = findings_plan.plan_findings(findings_plan.targets(seen, held, {}), held, {}, [], NOW).merges
    assert (merge.vid, merge.merged, merge.into_existing) == (CVE, (GHSA,), False)


def test_a_finding_found_by_its_alias_item_is_changed_not_created() -> None:
    # Given the CVE's finding, which knows the GHSA as an alias (an alias item names it)
    held = {("feed", CVE): stored(aliases_=frozenset({GHSA}), title=f"[{GHSA}] title")}
    pointers = {("feed", GHSA): CVE}
    seen = findings_plan.sightings([("feed", LODASH)], {LODASH: Report((vulnerability(GHSA),))})
    plan = findings_plan.plan_findings(findings_plan.targets(seen, held, pointers), held, {}, [], NOW)
    assert (plan.creations, plan.merges, plan.changes) == ((), (), ())  # nothing new at all


def test_package_rows_hold_every_id_and_a_package_reporting_any_keeps_the_finding() -> None:
    rows = {LODASH: {"feed": findings_plan_known()}}
    plan = findings_plan.plan_packages(rows, {LODASH: Report((vulnerability(GHSA, CVE),))})  # type: ignore[arg-type]
    assert plan.rewrite[("feed", LODASH)] == frozenset({CVE, GHSA})
    listed = [findings_plan.Listed(CVE, frozenset({LODASH, "pkg:npm/lodash@4.17.19"}), frozenset({GHSA}))]
    # lodash 4.17.20 reports the GHSA only now; 4.17.19 nothing: the finding stays, narrowed
    withdrawals = findings_plan.plan_withdrawals(listed, {LODASH: frozenset({GHSA})})
    assert (withdrawals.narrow, withdrawals.withdraw) == ({CVE: frozenset({LODASH})}, ())


def findings_plan_known() -> Any:
    from feedguard.scanplan import Known

    return Known(vulnerabilities=frozenset(), scanned=False)


def test_the_stricter_assessment_stands_then_the_later_expiry_then_the_canonicals() -> None:
    later, sooner = NOW + timedelta(days=30), NOW + timedelta(days=1)
    warn, block = Held(CVE, "warn", None, 3), Held(GHSA, "block", sooner, 1)
    assert findings_plan.stricter([warn, block], CVE, NOW) == block
    assert findings_plan.stricter([Held(CVE, "warn", sooner, 3), Held(GHSA, "warn", later, 1)], CVE, NOW).vid == GHSA
    assert findings_plan.stricter([Held(CVE, "warn", None, 3), Held(GHSA, "warn", None, 1)], CVE, NOW).vid == CVE
    # One past its expiry counts for nothing
    assert findings_plan.stricter([Held(GHSA, "block", NOW - timedelta(1), 1), warn], CVE, NOW) == warn
    assert findings_plan.stricter([], CVE, NOW) is None


# ---------------------------------------------------------------- merging in DynamoDB

ASSESSOR = Actor("kalice", "alice")


@pytest.fixture
def two_assessed(aws: Any) -> None:
    """lodash's flaw, stored twice: under the CVE assessed `caution` (warn),
    under the GHSA assessed `blocked` (block), each assessed twice."""
    builders.a_feed("demo", [LODASH], unassessed_effect="warn")
    permissions.grant(feed_store.require("demo"), "kalice", "assessor")
    a_finding("demo", CVE, LODASH)
    a_finding("demo", GHSA, "pkg:npm/lodash@4.17.19")
    for vid, kind, effect in ((CVE, "caution", "warn"), (GHSA, "blocked", "block")):
        for _ in range(2):
            assessment_store.assess(
                "demo", vid, type_id=kind, effect=effect, comment=None, expires_at=None, actor=ASSESSOR
            )


def test_merging_two_assessed_findings_keeps_the_stricter_and_both_histories(two_assessed: None) -> None:
    # When OSV reports the GHSA with the CVE among its aliases
    recording.record_findings([("demo", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))}, clock.now())
    # Then one finding stands, under the CVE, with both packages and the GHSA as its alias
    merged = Finding.get("demo", CVE, consistent_read=True)
    assert (merged.status, set(merged.aliases), set(merged.merged_from)) == ("assessed", {GHSA}, {GHSA})
    assert merged.packages == {LODASH, "pkg:npm/lodash@4.17.19"}
    assert Finding.get("demo", GHSA, consistent_read=True).alias_of == CVE
    # The block assessment stands, at a version above every one either had (2 each)
    standing = Assessment.get("demo", CVE, consistent_read=True)
    assert (standing.type, standing.effect, standing.version) == ("blocked", "block", 3)
    assert int(merged.assessment_version) == 3
    with pytest.raises(Assessment.DoesNotExist):
        Assessment.get("demo", GHSA, consistent_read=True)
    # The history under the CVE covers both, and says what merged and what ended
    page = history.page("demo", [CVE, GHSA], 100, None)
    actions = [e.action for e in page.items]
    assert actions.count("detected") == 2
    assert actions.count("assessed") == 4
    assert actions[-1] == "merged"
    reason = page.items[-1].reason or ""
    assert GHSA in reason
    assert "blocked" in reason
    assert "caution" in reason
    assert "Ended" in reason


def test_every_route_that_takes_an_id_answers_for_the_finding_by_its_alias(two_assessed: None) -> None:
    recording.record_findings([("demo", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))}, clock.now())
    base = "/feeds/demo/vulnerabilities"
    with counted_dynamodb_calls() as by_canonical:
        status, by_cve = request(findings, "GET", f"{base}/{CVE}", caller=ALICE)
    with counted_dynamodb_calls() as by_alias:
        status, by_ghsa = request(findings, "GET", f"{base}/{GHSA}", caller=ALICE)
    assert status == 200
    assert by_ghsa == by_cve
    assert (by_ghsa["id"], by_ghsa["aliases"], by_ghsa["effect"]) == (CVE, [GHSA], "block")
    # An alias costs one GetItem more; the canonical id none
    assert by_alias["GetItem"] == by_canonical["GetItem"] + 1
    # The history by the alias is the finding's, both ids' entries
    status, entries = request(findings, "GET", f"{base}/{GHSA}/history", caller=ALICE)
    assert status == 200
    assert [e["action"] for e in entries["items"]][-1] == "merged"
    assert len(entries["items"]) == 7
    # Paged one at a time, it gives the same entries in the same order
    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = request(findings, "GET", f"{base}/{CVE}/history", caller=ALICE, query=query)
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == entries["items"]
    # PUT by the alias assesses the finding; If-Match is its version
    stale = request(
        findings, "PUT", f"{base}/{GHSA}/assessment", body={"type": "caution"}, caller=ALICE, headers={"If-Match": "2"}
    )
    assert stale[0] == 412
    status, saved = request(
        findings, "PUT", f"{base}/{GHSA}/assessment", body={"type": "caution"}, caller=ALICE, headers={"If-Match": "3"}
    )
    assert (status, saved["version"], saved["effect"]) == (200, 4, "warn")
    assert Assessment.get("demo", CVE, consistent_read=True).version == 4
    # DELETE by the alias ends it
    assert request(findings, "DELETE", f"{base}/{GHSA}/assessment", caller=ALICE)[0] == 204
    assert Finding.get("demo", CVE, consistent_read=True).status == "unassessed"


def test_a_finding_stored_before_aliases_were_kept_is_found_by_its_id(aws: Any) -> None:
    builders.a_feed("demo", [LODASH])
    permissions.grant(feed_store.require("demo"), "kalice", "assessor")
    a_finding("demo", "sonatype-2021-1694", LODASH)
    status, found = request(findings, "GET", "/feeds/demo/vulnerabilities/sonatype-2021-1694", caller=ALICE)
    assert (status, found["id"], found["aliases"]) == (200, "sonatype-2021-1694", [])


def test_the_gate_names_a_finding_once_by_its_canonical_id_with_its_aliases(two_assessed: None) -> None:
    recording.record_findings([("demo", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))}, clock.now())
    now = clock.iso(clock.now())
    Package(feed="demo", purl=LODASH, added_at=now, last_scanned_at=now, vulnerability_ids={CVE, GHSA}).save()
    permissions.grant(feed_store.require("demo"), "kviewer", "viewer")
    status, answer = request(gate, "POST", "/feeds/demo/check", body={"purls": [LODASH]}, caller=key_caller("kviewer"))
    assert status == 200, answer
    ((result,),) = (answer["results"],)
    assert [(v["id"], v["aliases"], v["effect"]) for v in result["vulnerabilities"]] == [(CVE, [GHSA], "block")]
    assert result["verdict"] == "block"


def test_a_rescan_whose_sources_answer_in_another_order_changes_nothing(two_assessed: None) -> None:
    recording.record_findings([("demo", LODASH)], both_sources(), clock.now())
    before = Finding.get("demo", CVE, consistent_read=True).attribute_values
    swapped = {LODASH: Report(tuple(reversed(both_sources()[LODASH].vulnerabilities)))}
    for again in (both_sources(), swapped):
        with counted_dynamodb_calls() as calls:
            assert recording.record_findings([("demo", LODASH)], again, clock.now()) == 0
        assert calls["TransactWriteItems"] == 0
        assert calls["UpdateItem"] == 0
        # One BatchGet of the finding under each of its ids: no second read
        assert calls["BatchGetItem"] == 1
    after = Finding.get("demo", CVE, consistent_read=True).attribute_values
    assert after == before


def test_vex_names_the_canonical_id_and_lists_the_aliases() -> None:
    decision = vex.Decision(
        vulnerability_id=CVE,
        packages=[LODASH],
        status="unassessed",
        effect="warn",
        first_seen="2026-11-25T22:16:00Z",
        cve=CVE,
        aliases=[GHSA],
    )
    cyclonedx = vex.cyclonedx_vulnerability(decision)
    assert cyclonedx["id"] == CVE
    assert cyclonedx["references"] == [
        {"id": GHSA, "source": {"name": "GitHub", "url": f"https://github.com/advisories/{GHSA}"}}
    ]
    openvex = vex.openvex_statement(decision)
    assert openvex["vulnerability"] == {"name": CVE, "aliases": [GHSA]}
    # A finding stored before aliases were kept still names its CVE
    old = vex.Decision("sonatype-1", [LODASH], "unassessed", "warn", "2026-11-25T22:16:00Z", cve=CVE)
    assert vex.openvex_statement(old)["vulnerability"] == {"name": "sonatype-1", "aliases": [CVE]}


def test_findings_read_by_alias_in_a_batch_answer_their_finding(two_assessed: None) -> None:
    recording.record_findings([("demo", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))}, clock.now())
    effects = finding_store.effects_for("demo", [GHSA], "warn")
    assert effects == {GHSA: ("assessed", "block")}


def test_a_finding_whose_canonical_id_moves_takes_its_assessment_and_history_along(aws: Any) -> None:
    # Given a GHSA-only finding (OSV, before the CVE was assigned), assessed once
    builders.a_feed("demo", [LODASH], unassessed_effect="warn")
    permissions.grant(feed_store.require("demo"), "kalice", "assessor")
    a_finding("demo", GHSA, LODASH)
    assessment_store.assess(
        "demo", GHSA, type_id="caution", effect="warn", comment="c", expires_at=None, actor=ASSESSOR
    )
    # When a rescan learns its CVE
    recording.record_findings([("demo", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))}, clock.now())
    # Then it is keyed by the CVE, its assessment there at the next version, the GHSA an alias item
    moved = Finding.get("demo", CVE, consistent_read=True)
    assert (moved.status, set(moved.aliases), int(moved.assessment_version)) == ("assessed", {GHSA}, 2)
    standing = Assessment.get("demo", CVE, consistent_read=True)
    assert (standing.type, standing.comment, standing.assessed_by, standing.version) == ("caution", "c", "alice", 2)
    assert Finding.get("demo", GHSA, consistent_read=True).alias_of == CVE
    # The history, by either id, is the GHSA's and the merge
    status, entries = request(findings, "GET", f"/feeds/demo/vulnerabilities/{GHSA}/history", caller=ALICE)
    assert status == 200
    assert [e["action"] for e in entries["items"]] == ["detected", "assessed", "merged"]
    # A rescan that names it by either id changes nothing more
    with counted_dynamodb_calls() as calls:
        recording.record_findings([("demo", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))}, clock.now())
    assert calls["TransactWriteItems"] == 0


def test_merged_findings_whose_assessments_lapsed_need_reassessing(aws: Any) -> None:
    builders.a_feed("demo", [LODASH], unassessed_effect="warn")
    a_finding("demo", CVE, LODASH)
    a_finding("demo", GHSA, LODASH)
    soon = clock.now() + timedelta(seconds=2)
    assessment_store.assess(
        "demo", GHSA, type_id="ignore", effect="allow", comment=None, expires_at=soon, actor=ASSESSOR
    )
    later = clock.now() + timedelta(seconds=5)
    recording.record_findings([("demo", LODASH)], {LODASH: Report((vulnerability(GHSA, CVE),))}, later)
    merged = Finding.get("demo", CVE, consistent_read=True)
    # No assessment was in force at the merge: none stands, and the finding needs reassessing
    assert merged.status == "expired"
    with pytest.raises(Assessment.DoesNotExist):
        Assessment.get("demo", CVE, consistent_read=True)
    assert int(merged.assessment_version) == 1  # the version it had is kept: the next is higher


def test_a_new_finding_reported_by_two_sources_is_created_once_with_its_alias_item(aws: Any) -> None:
    builders.a_feed("demo", [LODASH])
    with counted_dynamodb_calls() as calls:
        assert recording.record_findings([("demo", LODASH)], both_sources(), clock.now()) == 1
    assert calls["TransactWriteItems"] == 1
    created = Finding.get("demo", CVE, consistent_read=True)
    assert (created.cve, set(created.aliases), created.packages) == (CVE, {GHSA}, {LODASH})
    assert Finding.get("demo", GHSA, consistent_read=True).alias_of == CVE
    assert [e.action for e in history.entries("demo", CVE)] == ["detected"]
    assert history.entries("demo", GHSA) == []
