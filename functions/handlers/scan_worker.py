"""Scan queue worker: one message is one batch of at most 128 purls for one
source. A message whose batch fails for a reason OSS Index gave is counted as
a failed batch (the scan ends partial or failed); an unexpected error is
reported for that message alone, so SQS redelivers it, until its last
delivery, when it is counted as failed too, so the scan always finishes.

Up to three messages of an invocation are worked on at once, in order: one
batch is recorded while the next asks OSS Index and a third reads the cache,
so OSS Index never waits on DynamoDB. The first message goes alone until it
asks (the others' reads would only delay the invocation's first request).
The request itself takes the worker's one request slot
(scanner.request_slot), so a worker has one request in flight, never more,
and the mapping's MaximumConcurrency of 4 is the most a source sees.

An invocation does not end while the queue holds batches it has time for:
as its batches finish it takes more off the queue itself (`Intake`), and
deletes them once done. Nor while a scan of its batches is still being
planned: a queue that looks empty then only means the coordinator has not
sent the next batches yet, so it looks again every tenth of a second, for
up to a second, instead of ending (invocations that started on a scan's
first batches ended after one or two, and each new one cost its worker's
request slot 150-400 ms). It takes none before its first request leaves:
at a scan's start that would delay the request, and take the batches sent
one a call to start the other workers. Between two invocations a worker's
request slot stood idle while the last batch was recorded, the invocation
returned and the next one read its scan and cache: about 190 ms, twelve
times in a scan of 79 batches on four workers, a fifth of the slots' time.
The main thread reports each message's outcome in order, the event's
first."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from feedguard import scan_queue, scanner
from feedguard.dal import scans
from feedguard.dal.models import Scan
from feedguard.observability import metrics, tracer
from feedguard.scanplan import Batch
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("allow_private_sources", "scan_queue_url", "scan_request_queue_url", "source_secret_prefix")
processor = BatchProcessor(event_type=EventType.SQS)

# The scan queue's redrive policy moves a message to the DLQ after 5 receives.
LAST_TRY = 4

BATCHES_AT_ONCE = 3
# Batches an invocation holds, worked on or waiting: one more than it works
# on at once, so a thread that finishes one finds the next.
AHEAD = BATCHES_AT_ONCE + 1
# The longest a batch may take: the OSS Index client gives up after 60 s of
# retrying plus one request's 10 s; then its record. An invocation takes
# batches off the queue only while it has this long for each it would hold.
WORST_BATCH_SECONDS = 75
# How long an invocation's read of a scan serves its batches: a source
# another worker's batch stopped is seen within it.
SCAN_MAX_AGE = 5.0
# How long an invocation waits for a batch of a scan still being planned
# when the queue looks empty (the coordinator sends every few hundred
# milliseconds while it plans), looking again every PLANNING_POLL_SECONDS
# with the scan read again: short polls, not one long poll, so that an
# invocation ends within one of them once its scans are planned, not up to
# a second later, perhaps with the next scan's batches.
PLANNING_WAIT_SECONDS = 1.0
PLANNING_POLL_SECONDS = 0.1
# How long a thread may hold the GIL while another waits for it (Python's
# default is 5 ms). A worker's threads hand its request slot on: the batch
# whose answer has come in reads it and lets the slot go while the next
# batch, waiting for the slot, and a third, recording, want the GIL too.
# At 5 ms each handoff could wait that long behind a recording batch, with
# OSS Index idle; at 1 ms a scan of 79 batches took 3.5 % less time, for no
# more CPU (docs/performance.md, Scanning).
SWITCH_INTERVAL_SECONDS = 0.001
sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
working = ThreadPoolExecutor(max_workers=BATCHES_AT_ONCE, thread_name_prefix="batch")
# message id -> its batch being processed, for the invocation under way
underway: dict[str, Future[tuple[Batch, scanner.Result | None]]] = {}


def parse(record: SQSRecord) -> Batch:
    return Batch.from_message(json.loads(record.body))


def internal_error(error: BaseException) -> str:
    """One sentence for the scan's errors: the exception's kind, and the AWS
    error code behind it when there is one (throttling, a missing table)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ClientError):
        cause = cause.__cause__ or cause.__context__
    code = f" ({cause.response.get('Error', {}).get('Code')})" if isinstance(cause, ClientError) else ""
    return f"Internal error: {type(error).__name__}{code}."


def identity(record: SQSRecord) -> tuple[str, int, str | None] | None:
    """(scan id, batch number, source id) of a message, even one whose batch
    cannot be read; None when not even those can."""
    try:
        message = json.loads(record.body)
        return str(message["scan_id"]), int(message["batch"]), message.get("source_id")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def record_handler(record: SQSRecord) -> None:
    try:
        ahead = underway.pop(record.message_id, None)
        batch, result = ahead.result() if ahead is not None else _process(record)
    except Exception as error:
        known = identity(record)
        if _receives(record) < LAST_TRY or known is None:
            _retry_soon(record)
            raise  # retried; a message that names no scan ends in the dead-letter queue
        scan_id, number, source_id = known
        logger.append_keys(scan_id=scan_id, batch=number)
        logger.exception("batch failed on its last delivery; counted as failed")
        outcome = scans.BatchOutcome(failed=True, error_source=source_id, error_message=internal_error(error))
        if scans.count_batch(scan_id, number, outcome) is scans.Counted.PERHAPS_LAST:
            scanner.finish(scan_id)
        return
    if result is None:
        logger.append_keys(scan_id=batch.scan_id, batch=batch.number)
        logger.info("batch already counted; redelivery ignored")


def _process(
    record: SQSRecord,
    after: threading.Event | None = None,
    turn: threading.Event | None = None,
    read_scan: Callable[[str], Scan | None] | None = None,
) -> tuple[Batch, scanner.Result | None]:
    """The message's batch, parsed once, and what processing it came to.
    `after`: set once the invocation's first message holds the request
    slot (or needs it no more); only then does this one read the scan and
    the cache, so the first request leaves without those reads in its way.
    `turn`: set in the same way by this one."""
    try:
        batch = parse(record)
        # What this thread logs names its batch, whichever message the main thread is on.
        logger.thread_safe_append_keys(scan_id=batch.scan_id, batch=batch.number)
        if after is not None:
            after.wait()
        result = scanner.process(
            batch,
            redelivered=_receives(record) > 1,
            asking=turn.set if turn else lambda: None,
            read_scan=read_scan,
        )
        return batch, result
    finally:
        if turn is not None:
            turn.set()


class ScanReads:
    """The scan records an invocation reads, each at most once every
    SCAN_MAX_AGE seconds: its messages are mostly of one scan. A source that
    another worker's batch stopped meanwhile is seen once it is read again;
    a batch of this worker that the source refuses stops its others at once
    (scanner.refusals)."""

    def __init__(self) -> None:
        self.read: dict[str, tuple[float, Scan | None]] = {}
        self.lock = threading.Lock()

    def __call__(self, scan_id: str) -> Scan | None:
        with self.lock:
            read_at, scan = self.read.get(scan_id, (0.0, None))
            if not read_at or time.monotonic() - read_at > SCAN_MAX_AGE:
                scan = scans.get(scan_id)
                self.read[scan_id] = (time.monotonic(), scan)
            return scan


def being_planned(scan_ids: set[str]) -> bool:
    """Whether one of these scans is still being planned (the coordinator
    has more of its batches to send), read afresh: asked only when the
    queue looks empty."""
    return any(scan is not None and not scans.planned(scan) for scan in map(scans.get, sorted(scan_ids)))


class Intake:
    """An invocation's messages: the event's, then more taken off the queue
    as its batches finish, so that it holds AHEAD of them, while it has
    WORST_BATCH_SECONDS for each and the queue has any, or will soon (a
    scan of its messages is still being planned); none before `after` is
    set. Each is submitted to the working threads as it comes; `taken`
    lists those taken here, in order, for the main thread to report and
    delete."""

    def __init__(
        self,
        context: LambdaContext,
        submit: Callable[[SQSRecord], Future[Any]],
        after: threading.Event | None = None,
    ) -> None:
        self.context = context
        self.submit = submit
        self.after = after
        self.changed = threading.Condition()
        self.held = 0
        # the scans of its messages, each message read once for them
        self.scan_ids: set[str] = set()
        self.taken: list[SQSRecord] = []
        self.taking = True
        self.stopping = False
        self.thread = threading.Thread(target=self._take, name="intake", daemon=True)

    def add(self, record: SQSRecord) -> None:
        known = identity(record)
        with self.changed:
            self.held += 1
            if known is not None:
                self.scan_ids.add(known[0])
        self.submit(record).add_done_callback(self._finished)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        self.thread.join()

    def next_taken(self, position: int) -> SQSRecord | None:
        """The message taken `position`-th, once it is; None once no more will be."""
        with self.changed:
            self.changed.wait_for(lambda: position < len(self.taken) or not self.taking)
            return self.taken[position] if position < len(self.taken) else None

    def _finished(self, _: Future[Any]) -> None:
        with self.changed:
            self.held -= 1
            self.changed.notify_all()

    def _room(self) -> int:
        """How many more to take now; 0 when no more will be."""
        with self.changed:
            self.changed.wait_for(lambda: self.held < AHEAD or self.stopping)
            if self.stopping:
                return 0
            seconds = self.context.get_remaining_time_in_millis() / 1000
            return max(0, min(AHEAD, int(seconds // WORST_BATCH_SECONDS)) - self.held)

    def _take(self) -> None:
        try:
            while self.after is not None and not self.after.wait(0.1):
                with self.changed:
                    if self.stopping:
                        return
            while wanted := self._room():
                records = self._receive(wanted)
                if not records:
                    break
                for record in records:
                    with self.changed:
                        self.taken.append(record)
                        self.changed.notify_all()
                    self.add(record)
        except Exception:  # the mapping delivers what is left
            logger.exception("could not take more batches off the queue")
        finally:
            with self.changed:
                self.taking = False
                self.changed.notify_all()

    def _receive(self, wanted: int) -> list[SQSRecord]:
        """Up to `wanted` off the queue; when it looks empty while a scan of
        ours is still being planned, the first of its next batches to come
        within PLANNING_WAIT_SECONDS. Empty: no more will be taken."""
        waited_until = time.monotonic() + PLANNING_WAIT_SECONDS
        while not (raw := scan_queue.take(wanted)):
            with self.changed:
                scan_ids = set(self.scan_ids)
            if time.monotonic() >= waited_until or not being_planned(scan_ids):
                return []
            with self.changed:
                if self.changed.wait_for(lambda: self.stopping, PLANNING_POLL_SECONDS):
                    return []
        return [SQSRecord(message) for message in raw]


def _retry_soon(record: SQSRecord) -> None:
    try:
        scan_queue.retry_soon(record.receipt_handle, _receives(record))
    except Exception:  # the message still comes back, after the visibility timeout
        logger.exception("could not bring the failed batch back sooner")


def _receives(record: SQSRecord) -> int:
    return int(record.attributes.approximate_receive_count or 1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # The invocation's first request leaves first: the other messages read
    # the scan and the cache once it holds the request slot.
    first, read_scan = threading.Event(), ScanReads()

    def submit(record: SQSRecord) -> Future[tuple[Batch, scanner.Result | None]]:
        after, turn = (first, None) if underway or first.is_set() else (None, first)
        underway[record.message_id] = working.submit(_process, record, after, turn, read_scan)
        return underway[record.message_id]

    intake = Intake(context, submit, after=first)
    for raw in event["Records"]:
        intake.add(SQSRecord(raw))
    intake.start()
    try:
        try:
            return process_partial_response(
                event=event, record_handler=record_handler, processor=processor, context=context
            )
        except Exception:
            intake.stop()  # takes no more; those it took are still reported
            raise
        finally:
            _report_taken(intake)
    finally:
        intake.stop()
        for ahead in underway.values():  # only if processing stopped half-way
            ahead.cancel()
        first.set()  # so none of them waits for one cancelled
        underway.clear()


def _report_taken(intake: Intake) -> None:
    """The outcome of each message the invocation took off the queue itself,
    in order, as record_handler reports the event's: one done is deleted;
    one failed is left to come back, as the mapping leaves it."""
    done: list[str] = []
    position = 0
    while (record := intake.next_taken(position)) is not None:
        position += 1
        try:
            record_handler(record)
        except Exception:  # record_handler made it visible again soon
            logger.exception("batch failed; it comes back")
            continue
        done.append(record.receipt_handle)
        if len(done) == scan_queue.SEND_BATCH:
            scan_queue.delete(done)
            done = []
    scan_queue.delete(done)
