"""What a scan's coordinator reads of its sources: their kinds, which set
how many purls a batch asks (feedguard.scanplan.BATCH_LIMITS). Apart from
feedguard.dal.sources, which reaches Secrets Manager: the coordinator holds
no secret and needs no setting of one."""

from __future__ import annotations

from feedguard.dal import batching
from feedguard.dal.models import Source


def kinds(source_ids: list[str]) -> dict[str, str]:
    """Each existing source's kind, by id: one BatchGetItem of ids and kinds
    (100 keys a call)."""
    found = batching.read(Source, source_ids, attributes=["id", "source_kind"])
    return {source.id: source.source_kind or "ossindex" for source in found}
