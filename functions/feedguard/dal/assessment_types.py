"""Assessment types: the built-ins from code, custom ones in their table."""

from __future__ import annotations

import time
from typing import Any

from pynamodb.exceptions import DoesNotExist

from feedguard import clock
from feedguard.dal import batching, conditions
from feedguard.dal.models import Assessment, AssessmentTypeItem
from feedguard.dal.pages import Page, collect, decode_cursor, encode_cursor
from feedguard.effects import BUILTIN_TYPES, AssessmentType
from feedguard.errors import Conflict, InvalidInput, NotFound

ENTITY = "assessment-type"
# Cursors into the built-ins, and to the start of the custom types.
_BUILTIN_CURSOR = "builtin"
_CUSTOM_START = "custom"


def _domain(item: AssessmentTypeItem) -> AssessmentType:
    return AssessmentType(
        id=item.id,
        name=item.name,
        effect=item.effect,
        expiration_days=int(item.expiration_days) if item.expiration_days is not None else None,
        description=item.description,
        color=item.color,
        auto_assess_min=float(item.auto_assess_min) if item.auto_assess_min is not None else None,
        auto_assess_max=float(item.auto_assess_max) if item.auto_assess_max is not None else None,
        created_at=item.created_at,
        vex_status=item.vex_status,
        vex_justification=item.vex_justification,
    )


def get(type_id: str) -> AssessmentType:
    if type_id in BUILTIN_TYPES:
        return BUILTIN_TYPES[type_id]
    try:
        return _domain(AssessmentTypeItem.get(type_id, consistent_read=True))
    except DoesNotExist:
        raise NotFound(f"There is no assessment type with id {type_id}.") from None


def get_many(type_ids: set[str]) -> dict[str, AssessmentType]:
    """The types of these ids that exist, by id: built-ins from code, the
    custom ones in BatchGets."""
    custom = sorted(type_ids - BUILTIN_TYPES.keys())
    found = {item.id: _domain(item) for item in batching.read(AssessmentTypeItem, custom)}
    return {**{k: v for k, v in BUILTIN_TYPES.items() if k in type_ids}, **found}


def create(assessment_type: AssessmentType) -> AssessmentType:
    if assessment_type.id in BUILTIN_TYPES:
        raise Conflict(f"{assessment_type.id} is a built-in assessment type.")
    item = AssessmentTypeItem(
        id=assessment_type.id,
        name=assessment_type.name,
        description=assessment_type.description,
        effect=assessment_type.effect,
        expiration_days=assessment_type.expiration_days,
        color=assessment_type.color,
        auto_assess_min=assessment_type.auto_assess_min,
        auto_assess_max=assessment_type.auto_assess_max,
        vex_status=assessment_type.vex_status,
        vex_justification=assessment_type.vex_justification,
        created_at=clock.iso(clock.now()),
    )
    try:
        item.save(condition=AssessmentTypeItem.id.does_not_exist())
    except Exception as error:
        if conditions.failed(error):
            raise Conflict(f"An assessment type with id {assessment_type.id} exists already.") from None
        raise
    return _domain(item)


def update(type_id: str, changes: dict[str, Any]) -> AssessmentType:
    if type_id in BUILTIN_TYPES:
        raise Conflict(f"{type_id} is a built-in assessment type and cannot be changed.")
    try:
        item = AssessmentTypeItem.get(type_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"There is no assessment type with id {type_id}.") from None
    for name, value in changes.items():
        setattr(item, name, value)
    item.save(condition=AssessmentTypeItem.id.exists())
    return _domain(item)


def in_use(type_id: str) -> bool:
    """Whether an assessment in force uses the type (expired ones do not count)."""
    now = int(time.time())
    live = Assessment.expires_ttl.does_not_exist() | (Assessment.expires_ttl > now)
    return any(True for _ in Assessment.by_type.query(type_id, filter_condition=live, page_size=100))


def delete(type_id: str) -> None:
    if type_id in BUILTIN_TYPES:
        raise Conflict(f"{type_id} is a built-in assessment type and cannot be deleted.")
    get(type_id)
    if in_use(type_id):
        raise Conflict(f"Assessment type {type_id} is used by assessments in force.")
    AssessmentTypeItem(id=type_id).delete()


def list_page(limit: int, cursor: str | None) -> Page[AssessmentType]:
    """The built-ins first, then custom types in creation order."""
    builtins = list(BUILTIN_TYPES.values())
    offset = 0
    custom_cursor: str | None = None
    if cursor:
        key = decode_cursor(cursor) or {}
        if _BUILTIN_CURSOR in key:
            text = key[_BUILTIN_CURSOR].get("N", "")
            offset = int(text) if text.isdigit() and len(text) < 4 else -1
            if not 0 <= offset < len(builtins):
                raise InvalidInput("The cursor is not one this API gave out.")
        elif _CUSTOM_START in key:
            offset = len(builtins)
        else:
            offset, custom_cursor = len(builtins), cursor
    items = builtins[offset : offset + limit]
    if len(items) == limit and offset + limit < len(builtins):
        return Page(items, encode_cursor({_BUILTIN_CURSOR: {"N": str(offset + limit)}}))
    room = limit - len(items)
    if room == 0:
        first = next(iter(AssessmentTypeItem.by_entity.query(ENTITY, limit=1)), None)
        return Page(items, encode_cursor({_CUSTOM_START: {"S": "start"}}) if first else None)
    page = collect(lambda **kwargs: AssessmentTypeItem.by_entity.query(ENTITY, **kwargs), room, custom_cursor)
    return Page(items + [_domain(item) for item in page.items], page.next_cursor)


def auto_assessing() -> list[AssessmentType]:
    """Custom types with an auto_assess range (built-ins have none)."""
    return [
        _domain(item)
        for item in AssessmentTypeItem.by_entity.query(ENTITY)
        if item.auto_assess_min is not None and item.auto_assess_max is not None
    ]
