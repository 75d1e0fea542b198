"""What an assessment request asks for, read once for every route that
assesses (PUT …/assessment, POST /feeds/{feed}/assessments, POST
/assessments): the type to assess with and the expiry to set."""

from __future__ import annotations

from datetime import datetime, timedelta

from feedguard import clock
from feedguard.dal import assessment_types as type_store
from feedguard.effects import UNASSESSED, AssessmentType
from feedguard.errors import InvalidInput, NotFound


def type_and_expiry(
    type_id: str, expires_given: bool, expires_at: str | None
) -> tuple[AssessmentType, datetime | None]:
    """The type to assess with (never `unassessed`) and the expiry to set:
    `expires_at` when given (null: never; it must be in the future), else
    now plus the type's expiration_days. Invalid: 422, before any write."""
    if type_id == UNASSESSED:
        raise InvalidInput("unassessed is not an assessment; delete the assessment instead.")
    try:
        kind = type_store.get(type_id)
    except NotFound:
        raise InvalidInput(f"There is no assessment type {type_id}.") from None
    now = clock.now()
    if not expires_given:
        days = kind.expiration_days
        return kind, now + timedelta(days=days) if days else None
    if expires_at is None:
        return kind, None
    try:
        expires = clock.parse_iso(expires_at)
    except ValueError:
        raise InvalidInput("expires_at must be an ISO 8601 timestamp with a time zone.") from None
    if expires <= now:
        raise InvalidInput("expires_at must be in the future.")
    return kind, expires
