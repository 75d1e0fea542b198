"""API keys: stored as SHA-256 hashes, found by id."""

from __future__ import annotations

from pynamodb.exceptions import DeleteError, DoesNotExist

from feedguard import clock
from feedguard.dal import conditions, permissions
from feedguard.dal.models import ApiKey
from feedguard.dal.pages import Page, collect
from feedguard.errors import NotFound

ENTITY = "api-key"


def create(key_id: str, name: str, key_hash: str) -> ApiKey:
    item = ApiKey(id=key_id, name=name, key_hash=key_hash, created_at=clock.iso(clock.now()))
    item.save(condition=ApiKey.id.does_not_exist())
    return item


def find(key_id: str) -> ApiKey | None:
    """A consistent read, so a deleted key stops working at once."""
    try:
        return ApiKey.get(key_id, consistent_read=True)
    except DoesNotExist:
        return None


def list_page(limit: int, cursor: str | None) -> Page[ApiKey]:
    def query(**kwargs: object) -> object:
        return ApiKey.by_entity.query(ENTITY, **kwargs)  # type: ignore[arg-type]

    return collect(query, limit, cursor)  # type: ignore[arg-type]


def delete(key_id: str) -> None:
    """Deletes the key and every feed role it held."""
    try:
        ApiKey(id=key_id).delete(condition=ApiKey.id.exists())
    except DeleteError as error:
        if conditions.failed(error):
            raise NotFound(f"There is no API key with id {key_id}.") from None
        raise
    permissions.revoke_all_of_key(key_id)
