"""Vulnerability sources: the item in DynamoDB, the token in Secrets Manager."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from feedguard import clock, domain
from feedguard.dal import tokens
from feedguard.dal.models import FeedAttachment, Source
from feedguard.dal.pages import Page, collect
from feedguard.errors import Conflict, NotFound

ENTITY = "source"


def as_source(item: Source) -> domain.Source:
    """The domain's source of a source's item (which holds no secret, only its name)."""
    return domain.Source(
        id=item.id,
        name=item.name,
        source_kind=item.source_kind,
        url=item.url,
        auth=item.auth,
        username=item.username,
        secret_name=item.secret_name,
        created_at=item.created_at,
        updated_at=item.updated_at,
        last_success_at=item.last_success_at,
        last_error_at=item.last_error_at,
        last_error_status=None if item.last_error_status is None else int(item.last_error_status),
        last_error_message=item.last_error_message,
        credits_exhausted=item.credits_exhausted,
    )


def create(source_id: str, fields: dict[str, Any], token: str | None) -> domain.Source:
    """The secret first: a source never exists without its token. If the item
    cannot be written, the secret is removed again. A source that needs no
    token (osv) has no secret. `fields` may name its `created_at` (else now)."""
    name = tokens.store(source_id, token) if token is not None else None
    source = Source(id=source_id, secret_name=name, **{"created_at": clock.iso(clock.now()), **fields})
    try:
        source.save(condition=Source.id.does_not_exist())
    except Exception:
        if name is not None:
            tokens.remove(name)
        raise
    return as_source(source)


def get(source_id: str) -> domain.Source:
    try:
        return as_source(Source.get(source_id, consistent_read=True))
    except DoesNotExist:
        raise NotFound(f"There is no source with id {source_id}.") from None


def exists(source_id: str) -> bool:
    try:
        Source.get(source_id, attributes_to_get=["id"])
    except DoesNotExist:
        return False
    return True


def list_page(limit: int, cursor: str | None) -> Page[domain.Source]:
    page = collect(lambda **kwargs: Source.by_entity.query(ENTITY, **kwargs), limit, cursor)
    return Page([as_source(item) for item in page.items], page.next_cursor)


def update(
    source: domain.Source, fields: dict[str, Any], token: str | None, remove: tuple[str, ...] = ()
) -> domain.Source:
    """Sets `fields` (None removes one) and removes the attributes named in
    `remove`, in one UpdateItem: what a scan recorded of the source's health
    meanwhile is kept, as a whole-item put would not."""
    if token is not None and source.secret_name:
        tokens.replace(source.secret_name, token)
    fields = {**fields, "updated_at": clock.iso(clock.now())}
    actions = _actions(fields) + [Source.get_attributes()[name].remove() for name in remove if name not in fields]
    item = Source(id=source.id)
    try:
        item.update(actions=actions, condition=Source.id.exists())  # ALL_NEW: the item as written
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound(f"There is no source with id {source.id}.") from None
        raise
    return as_source(item)


def record_health(source_id: str, fields: dict[str, Any]) -> None:
    """One UpdateItem of the health attributes (source_health); nothing for
    a source deleted meanwhile."""
    try:
        Source(id=source_id).update(actions=_actions(fields), condition=Source.id.exists())
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def _actions(fields: dict[str, Any]) -> list[Action]:
    attributes = Source.get_attributes()
    return [
        attributes[name].set(value) if value is not None else attributes[name].remove()
        for name, value in fields.items()
    ]


def feeds_using(source_id: str) -> list[str]:
    """The names of (up to ten of) the feeds the source is attached to."""
    from feedguard.dal.feeds import name_of

    names = (name_of(item.feed) for item in FeedAttachment.by_member.query(f"source#{source_id}", limit=10))
    return [name for name in names if name is not None]


def delete(source_id: str) -> None:
    source = get(source_id)
    using = feeds_using(source_id)
    if using:
        raise Conflict(f"Source {source_id} is attached to feed {using[0]}; detach it first.", details=using)
    Source(id=source_id).delete(condition=Source.id.exists())
    if source.secret_name:
        tokens.remove(source.secret_name)
