"""Planning batches: at most 128 purls, each once per source, cut early only
when a message would outgrow SQS; messages round-trip."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedguard import scan_queue
from feedguard.scanplan import MAX_COORDINATES, Batch, Known, Planner

ids = st.frozensets(st.from_regex(r"CVE-20[0-9]{2}-[0-9]{4,6}", fullmatch=True), max_size=3)
known = st.builds(Known, vulnerabilities=ids, scanned=st.just(True)) | st.just(Known())


@given(
    st.dictionaries(
        st.from_regex(r"pkg:npm/[a-z]{1,12}@1\.[0-9]", fullmatch=True),
        st.dictionaries(st.sampled_from(["a", "b", "c"]), known, min_size=1),
        max_size=300,
    )
)
def test_a_batch_message_round_trips_and_every_purl_is_planned_once_per_source(
    rows: dict[str, dict[str, Known]],
) -> None:
    planner = Planner("s1", False, {"src-1": {"a", "b"}, "src-2": {"c"}})
    batches = [batch for purl in sorted(rows) for batch in planner.add(purl, rows[purl])] + planner.finish()
    for batch in batches:
        assert 0 < len(batch.packages) <= MAX_COORDINATES
        assert Batch.from_message(json.loads(json.dumps(batch.message()))) == batch
    for source, feeds in (("src-1", {"a", "b"}), ("src-2", {"c"})):
        planned = [purl for batch in batches if source in batch.source_ids for purl in batch.packages]
        assert planned == sorted(purl for purl, held in rows.items() if feeds & set(held))
    assert [batch.number for batch in batches] == list(range(len(batches)))
    assert planner.purls == len(rows)


def test_a_purl_in_very_many_feeds_cuts_its_batch_early_to_fit_an_sqs_message() -> None:
    feeds = {f"a-feed-with-a-rather-long-name-{n:04d}" for n in range(300)}
    rows = dict.fromkeys(feeds, Known(frozenset({"CVE-2021-44228"}), scanned=True))
    planner = Planner("s1", False, {"src-1": feeds})
    purls = [f"pkg:maven/org.example/component-{n}@1.0.0" for n in range(128)]
    batches = [batch for purl in purls for batch in planner.add(purl, rows)] + planner.finish()
    assert len(batches) > 1  # fewer than 128 purls a batch
    for batch in batches:
        assert len(json.dumps(batch.message(), separators=(",", ":"))) < scan_queue.SEND_BYTES
    assert [purl for batch in batches for purl in batch.packages] == purls


def test_batches_go_on_the_queue_ten_a_call_as_they_are_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []

    def send(chunk: list[tuple[Batch, str]]) -> int:
        steps.append(f"sent {len(chunk)}")
        return len(chunk)

    monkeypatch.setattr(scan_queue, "_send", send)
    planner = Planner("s1", False, {"src-1": {"demo"}})

    def planned() -> Iterator[Batch]:
        for n in range(25 * 128):
            for batch in planner.add(f"pkg:npm/package-{n}@1.0.0", {"demo": Known()}):
                steps.append("planned")
                yield batch
        yield from planner.finish()

    assert scan_queue.enqueue(planned(), before_last=lambda total: steps.append(f"total {total}")) == 25
    # Each call leaves as soon as its ten are planned, not once the whole scan is
    assert steps == ["planned"] * 11 + ["sent 10"] + ["planned"] * 10 + ["sent 10"] + ["planned"] * 4 + [
        "total 25",
        "sent 5",
    ]


def test_the_queue_sends_up_to_ten_messages_a_call_within_sqs_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def send(chunk: list[tuple[Batch, str]]) -> int:
        assert len(chunk) <= scan_queue.SEND_BATCH
        assert sum(len(body) for _, body in chunk) <= scan_queue.SEND_BYTES
        calls.append(len(chunk))
        return len(chunk)

    monkeypatch.setattr(scan_queue, "_send", send)
    # Messages of about 100 KB: two fit a call, not ten
    feeds = {f"a-feed-with-a-rather-long-name-{n:04d}" for n in range(20)}
    planner = Planner("s1", False, {"src-1": feeds})
    purls = [f"pkg:npm/package-{n}@1.0.0" for n in range(30 * 128)]
    batches = [batch for purl in purls for batch in planner.add(purl, dict.fromkeys(feeds, Known()))]
    batches += planner.finish()
    assert scan_queue.enqueue(batches) == len(batches) == 30
    assert sum(calls) == 30
    assert max(calls) < scan_queue.SEND_BATCH


def test_feeds_with_both_sources_share_batches_sized_by_the_smaller_limit() -> None:
    planner = Planner("s1", False, {"oss": {"a", "b"}, "osv": {"b", "c"}}, {"oss": 128, "osv": 1000})
    rows = {"a": Known(), "b": Known(), "c": Known()}
    batches = [batch for n in range(1500) for batch in planner.add(f"pkg:npm/p{n:04d}@1.0.0", rows)]
    batches += planner.finish()
    by_group: dict[tuple[str, ...], list[Batch]] = {}
    for batch in batches:
        by_group.setdefault(batch.source_ids, []).append(batch)
    # Feed a on OSS Index alone, b on both, c on OSV alone: each purl once per set
    assert sorted(by_group) == [("oss",), ("oss", "osv"), ("osv",)]
    assert [len(b.packages) for b in by_group[("osv",)]] == [1000, 500]
    assert max(len(b.packages) for b in by_group[("oss", "osv")]) == 128
    assert all(set(feeds) == {"b"} for b in by_group[("oss", "osv")] for feeds in b.packages.values())
    assert planner.purls == 1500
