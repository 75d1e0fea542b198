"""The rules of findings as plans, without AWS: what a batch's reports and
the stored state make a scan write (feedguard.findings_plan)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedguard import findings_plan as plans
from feedguard.domain import Report, Vulnerability
from feedguard.effects import AssessmentType
from feedguard.findings_plan import (
    AutoAssessment,
    Listed,
    Reopen,
    StoredAssessment,
    StoredFinding,
)
from feedguard.scanplan import Known

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LODASH = "pkg:npm/lodash@4.17.20"
LODASH_NEXT = "pkg:npm/lodash@4.17.21"


def vulnerability(vid: str = "CVE-1", score: float | None = 5.3, title: str | None = "One") -> Vulnerability:
    return Vulnerability(vid, vid, title, None, score, None, None, None, None, ())


def report(*vulnerabilities: Vulnerability) -> Report:
    return Report(tuple(vulnerabilities))


def stored(
    status: str = "unassessed",
    packages: tuple[str, ...] = (LODASH,),
    score: float | None = 5.3,
    title: str | None = "One",
    detected_in: str | None = "s0#0",
    band: str | None = None,
) -> StoredFinding:
    return StoredFinding(status, frozenset(packages), score, title, detected_in, band)  # type: ignore[arg-type]


TRIAGE = AssessmentType("triage", "Triage", "warn", 30, auto_assess_min=0.0, auto_assess_max=6.9)
STOP = AssessmentType("stop", "Stop", "block", None, auto_assess_min=5.0, auto_assess_max=10.0)
WAVE = AssessmentType("wave", "Wave", "allow", 7, auto_assess_min=0.0, auto_assess_max=10.0)


def plan(
    reported: Vulnerability,
    finding: StoredFinding | None,
    assessment: StoredAssessment | None = None,
    types: list[AssessmentType] | None = None,
    batch: str | None = "s1#0",
    purls: tuple[str, ...] = (LODASH,),
) -> plans.FindingsPlan:
    seen = plans.sightings([("feed", purl) for purl in purls], {purl: report(reported) for purl in purls})
    key = ("feed", reported.id)
    return plans.plan_findings(
        seen,
        {key: finding} if finding else {},
        {key: assessment} if assessment else {},
        types or [],
        NOW,
        batch,
    )


# ---------------------------------------------------------------- creations


@pytest.mark.parametrize(
    ("score", "types", "auto"),
    [
        (5.3, [], None),
        (None, [TRIAGE, STOP, WAVE], None),  # no score, no range holds it
        (
            5.3,
            [TRIAGE],
            AutoAssessment("triage", "warn", "CVSS 5.3 is in the Triage range 0.0-6.9.", NOW + timedelta(30)),
        ),
        (7.5, [TRIAGE], None),  # outside the range
        (6.0, [TRIAGE, STOP, WAVE], AutoAssessment("stop", "block", "CVSS 6.0 is in the Stop range 5.0-10.0.", None)),
        (
            3.0,
            [TRIAGE, WAVE],
            AutoAssessment("triage", "warn", "CVSS 3.0 is in the Triage range 0.0-6.9.", NOW + timedelta(30)),
        ),
        (9.8, [WAVE], AutoAssessment("wave", "allow", "CVSS 9.8 is in the Wave range 0.0-10.0.", NOW + timedelta(7))),
    ],
)
def test_a_new_finding_is_created_assessed_by_the_most_severe_range_that_holds_its_score(
    score: float | None, types: list[AssessmentType], auto: AutoAssessment | None
) -> None:
    made = plan(vulnerability(score=score), None, types=types, purls=(LODASH, LODASH_NEXT))
    assert made.changes == ()
    assert made.redelivered == 0
    (creation,) = made.creations
    assert (creation.feed, creation.vid, creation.purls, creation.auto) == (
        "feed",
        "CVE-1",
        {LODASH, LODASH_NEXT},
        auto,
    )
    assert creation.items == (4 if auto else 2)
    assert creation.reason == f"Reported for {LODASH}, {LODASH_NEXT}."


# ---------------------------------------------------------------- changes

ASSESSED_LOW = StoredAssessment(version=3, type="ignore", band="low")


@pytest.mark.parametrize(
    ("reported", "finding", "assessment", "expected"),
    [
        # reported as stored: nothing to write
        (vulnerability(), stored(), None, None),
        # a package it did not list
        (vulnerability(), stored(packages=()), None, {"add_packages": {LODASH}}),
        # a new score, a new title, a score gone
        (vulnerability(score=6.1), stored(), None, {"rescore": True}),
        (vulnerability(title="Renamed"), stored(), None, {"rescore": True}),
        (vulnerability(score=None), stored(), None, {"rescore": True}),
        # withdrawn, reported again
        (vulnerability(), stored(status="withdrawn"), None, {"revive": True}),
        # assessed at low, now critical: reopened, the assessment as read
        (
            vulnerability(score=9.1),
            stored(status="assessed", score=9.1, band="low"),
            ASSESSED_LOW,
            {"reopen": Reopen(ASSESSED_LOW, "critical")},
        ),
        # the assessment's own band is the one compared: made at critical already, nothing
        (
            vulnerability(score=9.1),
            stored(status="assessed", score=9.1, band="low"),
            StoredAssessment(4, "caution", "critical"),
            None,
        ),
        # reported lower than assessed: nothing
        (vulnerability(score=2.0), stored(status="assessed", score=2.0, band="high"), ASSESSED_LOW, None),
    ],
)
def test_a_finding_reported_again_changes_only_where_the_report_differs(
    reported: Vulnerability,
    finding: StoredFinding,
    assessment: StoredAssessment | None,
    expected: dict[str, object] | None,
) -> None:
    made = plan(reported, finding, assessment)
    assert made.creations == ()
    if expected is None:
        assert made.changes == ()
        return
    (change,) = made.changes
    defaults: dict[str, object] = {
        "auto": None,
        "reopen": None,
        "add_packages": frozenset(),
        "rescore": False,
        "revive": False,
    }
    assert {name: getattr(change, name) for name in defaults} == {**defaults, **expected}
    assert (change.feed, change.vid, change.vulnerability) == ("feed", reported.id, reported)


def test_a_reopening_says_both_bands() -> None:
    assert Reopen(ASSESSED_LOW, "critical").reason == "Severity rose from low to critical."
    assert Reopen(StoredAssessment(1, "ignore", None), "high").reason == "Severity rose from none to high."


@pytest.mark.parametrize(
    ("finding", "read"),
    [
        (stored(status="assessed", score=9.1, band="medium"), True),  # reported above its assessment's band
        (stored(status="assessed", score=9.1, band="critical"), False),
        (stored(status="assessed", score=9.1, band=None), True),  # assessed before the band was copied
        (stored(status="unassessed", score=9.1), False),
        (stored(status="expired", score=9.1), False),
    ],
)
def test_only_assessments_reported_above_their_band_are_read(finding: StoredFinding, read: bool) -> None:
    seen = plans.sightings([("feed", LODASH)], {LODASH: report(vulnerability(score=9.1))})
    assert plans.assessments_to_read(seen, {("feed", "CVE-1"): finding}) == ([("feed", "CVE-1")] if read else [])


def test_a_score_of_none_is_above_no_band() -> None:
    seen = plans.sightings([("feed", LODASH)], {LODASH: report(vulnerability(score=None))})
    assert plans.assessments_to_read(seen, {("feed", "CVE-1"): stored(status="assessed", band=None)}) == []


# ---------------------------------------------------------------- redelivery


@pytest.mark.parametrize(
    ("finding", "batch", "counted", "auto"),
    [
        (stored(detected_in="s1#0"), "s1#0", 1, True),  # this batch created it, left unassessed
        (stored(detected_in="s1#0", status="assessed", band="medium"), "s1#0", 1, False),
        (stored(detected_in="s1#0"), "s1#1", 0, False),  # another batch's
        (stored(detected_in="s1#0"), None, 0, False),  # a recording with no batch
        (stored(detected_in=None), "s1#0", 0, False),
    ],
)
def test_a_redelivered_batch_counts_its_findings_again_and_assesses_those_left_unassessed(
    finding: StoredFinding, batch: str | None, counted: int, auto: bool
) -> None:
    made = plan(vulnerability(), finding, types=[TRIAGE], batch=batch)
    assert made.redelivered == counted
    assert [change.auto is not None for change in made.changes] == ([True] if auto else [])
    assert plans.needs_types(
        plans.sightings([("feed", LODASH)], {LODASH: report(vulnerability())}), {("feed", "CVE-1"): finding}, batch
    ) == (auto or False)


def test_types_are_needed_for_a_new_finding() -> None:
    seen = plans.sightings([("feed", LODASH)], {LODASH: report(vulnerability())})
    assert plans.needs_types(seen, {}, None)


# ---------------------------------------------------------------- properties

vids = st.sampled_from(["CVE-1", "CVE-2", "CVE-3", "SONATYPE-4"])
purls = st.sampled_from([LODASH, LODASH_NEXT, "pkg:npm/a@1.0.0", "pkg:pypi/b@2.0"])
scores = st.none() | st.floats(min_value=0, max_value=10, allow_nan=False).map(lambda s: round(s, 1))
reported_by_purl = st.dictionaries(
    purls,
    st.lists(st.builds(vulnerability, vids, scores, st.sampled_from(["One", "Two", None])), max_size=3),
    max_size=4,
)


def consistent(reports: dict[str, list[Vulnerability]]) -> dict[str, Report]:
    """One version of each vulnerability, as one source reports it."""
    chosen: dict[str, Vulnerability] = {}
    for found in reports.values():
        for v in found:
            chosen.setdefault(v.id, v)
    return {purl: report(*{chosen[v.id] for v in found}) for purl, found in reports.items()}


@given(reported_by_purl, st.sets(st.sampled_from(["f1", "f2"]), min_size=1))
def test_a_batch_recorded_as_planned_then_reported_again_plans_nothing(
    raw: dict[str, list[Vulnerability]], feeds: set[str]
) -> None:
    reports = consistent(raw)
    answered = [(feed, purl) for purl in reports for feed in sorted(feeds)]
    seen = plans.sightings(answered, reports)
    first = plans.plan_findings(seen, {}, {}, [TRIAGE], NOW, "s1#0")
    # Every finding seen is created once, with the packages that report it
    assert sorted((c.feed, c.vid) for c in first.creations) == sorted(seen.purls)
    assert all(c.purls == seen.purls[(c.feed, c.vid)] for c in first.creations)
    assert first.changes == ()
    # Stored as planned, the same reports plan nothing (another batch of the scan)
    after = {
        (c.feed, c.vid): stored(
            status="assessed" if c.auto else "unassessed",
            packages=tuple(c.purls),
            score=c.vulnerability.cvss_score,
            title=c.vulnerability.title,
            detected_in="s1#0",
            band=plans.severity(c.vulnerability.cvss_score) if c.auto else None,
        )
        for c in first.creations
    }
    again = plans.plan_findings(seen, after, {}, [TRIAGE], NOW, "s1#1")
    assert again == plans.FindingsPlan((), (), 0)
    assert plans.assessments_to_read(seen, after) == []
    assert not plans.needs_types(seen, after, "s1#1")


# ---------------------------------------------------------------- vulnerabilities


def test_a_vulnerabilitys_fingerprint_is_the_one_stored_by_earlier_versions() -> None:
    # A changed fingerprint would make the next scan rewrite every vulnerability stored.
    from feedguard import ossindex
    from tests.unit.test_detections import TEMPLATE_INJECTION

    v = ossindex.parse_vulnerability(TEMPLATE_INJECTION)
    assert plans.fingerprint(v) == "f5f1b1b60e307a8156443e0468003ec1da7d3f3cb4cef39445c7ab1d7effb9a3"


def test_only_new_or_changed_vulnerabilities_are_written() -> None:
    one, two, three = vulnerability("CVE-1"), vulnerability("CVE-2"), vulnerability("CVE-3")
    reported = plans.latest([report(one, two), report(three)])
    known = {"CVE-1": plans.fingerprint(one), "CVE-2": plans.fingerprint(vulnerability("CVE-2", score=9.9))}
    assert plans.changed_vulnerabilities(reported, known) == [
        (two, plans.fingerprint(two)),
        (three, plans.fingerprint(three)),
    ]


# ---------------------------------------------------------------- packages

IDS = frozenset({"CVE-1"})


@pytest.mark.parametrize(
    ("known", "answer", "covered", "rewrite", "changes"),
    [
        (Known(IDS, True), report(vulnerability()), (), None, {}),  # unchanged and scanned: nothing
        (Known(IDS, False), report(vulnerability()), ("feed",), None, {}),  # unchanged, the feed stamped whole
        (Known(IDS, False), report(vulnerability()), (), IDS, {}),  # unchanged, never scanned, feed not covered
        (Known(frozenset(), True), report(vulnerability()), (), IDS, {"feed": 1}),  # a new vulnerability
        (Known(IDS, True), report(), ("feed",), frozenset(), {"feed": 1}),  # clean now
        (Known(IDS, True), None, (), None, {}),  # not answered: left alone, and not answered
    ],
)
def test_a_package_row_is_rewritten_only_when_its_answer_changed_or_it_needs_its_own_stamp(
    known: Known,
    answer: Report | None,
    covered: tuple[str, ...],
    rewrite: frozenset[str] | None,
    changes: dict[str, int],
) -> None:
    made = plans.plan_packages({LODASH: {"feed": known}}, {LODASH: answer} if answer else {}, covered)
    assert made.answered == ((("feed", LODASH),) if answer else ())
    assert dict(made.rewrite) == ({("feed", LODASH): rewrite} if rewrite is not None else {})
    assert dict(made.changes) == changes


# ---------------------------------------------------------------- withdrawals


@pytest.mark.parametrize(
    ("listed", "reports", "narrow", "withdraw"),
    [
        ({LODASH}, {LODASH: IDS}, {}, ()),  # still reported by what it lists
        ({LODASH, LODASH_NEXT}, {LODASH: IDS, LODASH_NEXT: frozenset()}, {"CVE-1": {LODASH}}, ()),
        ({LODASH, LODASH_NEXT}, {LODASH: IDS}, {"CVE-1": {LODASH}}, ()),  # one package removed
        ({LODASH}, {LODASH: frozenset({"CVE-2"})}, {}, ("CVE-1",)),  # no longer reported
        ({LODASH}, {}, {}, ("CVE-1",)),  # its package removed
        (set(), {}, {}, ("CVE-1",)),  # lists nothing
    ],
)
def test_a_whole_feed_scan_withdraws_what_no_package_reports_and_narrows_the_rest(
    listed: set[str], reports: dict[str, frozenset[str]], narrow: dict[str, set[str]], withdraw: tuple[str, ...]
) -> None:
    findings = [Listed("CVE-1", frozenset(listed))]
    assert plans.listed_packages(findings) == sorted(listed)
    made = plans.plan_withdrawals(findings, reports)
    assert (dict(made.narrow), made.withdraw) == (narrow, withdraw)


@given(
    st.dictionaries(vids, st.frozensets(purls), max_size=4),
    st.dictionaries(purls, st.frozensets(vids), max_size=4),
)
def test_each_finding_is_kept_narrowed_or_withdrawn_by_what_its_packages_report(
    listed: dict[str, frozenset[str]], reports: dict[str, frozenset[str]]
) -> None:
    made = plans.plan_withdrawals([Listed(vid, packages) for vid, packages in listed.items()], reports)
    for vid, packages in listed.items():
        reporting = {purl for purl in packages if vid in reports.get(purl, ())}
        if not reporting:
            assert vid in made.withdraw
            assert vid not in made.narrow
        elif reporting != packages:
            assert made.narrow[vid] == reporting
            assert vid not in made.withdraw
        else:
            assert vid not in made.narrow
            assert vid not in made.withdraw
