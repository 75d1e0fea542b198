"""Each key's daily budget of coordinates the gate may look up inline (each
one a paid Sonatype Guide coordinate): one item per key and UTC day, counted
by conditional ADDs, so two checks at once can never spend more than the
budget between them. TTL removes a day's item once the next day is over."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import partial

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from feedguard.dal import conditions, transactions
from feedguard.dal.models import LookupBudget

# A reservation that keeps losing to other checks' gives up, granting none.
ATTEMPTS = 5


def _item(key_id: str, now: datetime) -> LookupBudget:
    day = now.date()
    kept_until = datetime.combine(day + timedelta(days=2), time(), tzinfo=now.tzinfo)
    return LookupBudget(budget=f"{key_id}#{day.isoformat()}", expires_ttl=int(kept_until.timestamp()))


def spent(key_id: str, now: datetime) -> int:
    """Coordinates the key's checks looked up today (UTC)."""
    item = _item(key_id, now)
    try:
        return int(LookupBudget.get(item.budget, consistent_read=True).coordinates)
    except DoesNotExist:
        return 0


def reserve(key_id: str, wanted: int, per_day: int, now: datetime) -> tuple[int, int]:
    """Takes up to `wanted` coordinates of the key's budget for today:
    (granted, what is left after). All of them while the budget holds them,
    else what is left, each by a write conditional on the count it saw."""
    item = _item(key_id, now)
    if wanted <= 0:
        return 0, max(per_day - spent(key_id, now), 0)
    seen: int | None = None
    for _ in range(ATTEMPTS):
        take = min(wanted, per_day - (seen or 0))
        if take <= 0:
            return 0, 0
        if seen is None:
            condition = LookupBudget.coordinates.does_not_exist() | (LookupBudget.coordinates <= per_day - take)
        else:
            condition = LookupBudget.coordinates == seen
            if seen == 0:
                condition |= LookupBudget.coordinates.does_not_exist()
        actions: list[Action] = [
            LookupBudget.coordinates.add(take),
            LookupBudget.expires_ttl.set(item.expires_ttl),
        ]
        try:
            transactions.retrying(partial(item.update, actions=actions, condition=condition))
        except UpdateError as error:
            if not conditions.failed(error):
                raise
            seen = spent(key_id, now)
            continue
        return take, max(per_day - int(item.coordinates), 0)
    return 0, max(per_day - spent(key_id, now), 0)
