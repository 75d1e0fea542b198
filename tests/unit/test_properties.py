"""Properties, for any input hypothesis finds: the verdict is the maximum
effect, and read-time expiry agrees with DynamoDB's TTL deletion (which the
expiry function reacts to) for any clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from feedguard.effects import EFFECTS, finding_effect, strongest

effects = st.sampled_from(EFFECTS)
# Whole seconds, as feedguard.clock keeps every timestamp
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=0)
)


@given(st.lists(effects))
def test_the_verdict_is_the_highest_effect_and_allow_with_none(found: list[str]) -> None:
    verdict = strongest(found)
    assert verdict == (max(found, key=EFFECTS.index) if found else "allow")
    assert all(EFFECTS.index(effect) <= EFFECTS.index(verdict) for effect in found)


@given(st.lists(effects), effects)
def test_another_vulnerability_never_lowers_the_verdict(found: list[str], another: str) -> None:
    assert EFFECTS.index(strongest([*found, another])) >= EFFECTS.index(strongest(found))


@given(st.permutations(list(EFFECTS) * 2))
def test_the_verdict_does_not_depend_on_order(found: list[str]) -> None:
    assert strongest(found) == strongest(sorted(found))


@given(moments, moments, effects, effects)
def test_read_time_expiry_agrees_with_ttl_deletion_for_any_clock(
    expires_at: datetime, now: datetime, assessed_effect: str, unassessed_effect: str
) -> None:
    # What dal.assessments stores, and the condition DynamoDB's TTL applies
    expires_ttl = int(expires_at.timestamp())
    ttl_may_delete = expires_ttl <= int(now.timestamp())
    before_deletion = finding_effect("assessed", assessed_effect, expires_at, now, unassessed_effect)
    assert (before_deletion[0] == "expired") == ttl_may_delete
    assert before_deletion[1] == (unassessed_effect if ttl_may_delete else assessed_effect)
    # Once TTL has deleted it (the expiry function then records `expired`), it reads expired whatever the clock
    after_deletion = finding_effect("assessed", None, None, now, unassessed_effect)
    assert after_deletion == ("expired", unassessed_effect)


@given(moments, st.integers(min_value=1, max_value=10**6))
def test_an_assessment_is_in_force_until_the_second_it_expires(expires_at: datetime, seconds: int) -> None:
    before = expires_at - timedelta(seconds=seconds)
    assert finding_effect("assessed", "allow", expires_at, before, "block") == ("assessed", "allow")
    assert finding_effect("assessed", "allow", expires_at, expires_at, "block") == ("expired", "block")
