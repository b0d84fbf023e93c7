"""A publish job: its targets claimed in chunks that fit this process's attempt slots, their
requests sent concurrently, and their outcomes recorded as they come, a short flush at a time
(`T21_PUBLISH_FLUSH_S`); a job that finds the slots crowded hands its targets back to the broker."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError

from t21.core.logging import get_logger
from t21.core.runtime import PendingJob, Runtime
from t21.publishing.service.attempt import Attempt, Outcome, attempt_outcome, attempt_provider
from t21.publishing.service.claim import begin_batch
from t21.publishing.service.record import record_batch

log = get_logger("t21.publishing")

# Tries at writing a batch's outcomes while the database is busy, before leaving them to the reaper.
RECORD_TRIES = 4
# A publish job that finds this process's attempts all taken waits for room only while fewer
# than this many jobs wait already; otherwise it hands its targets back to the broker after a
# short pause. A waiting job holds one of the job consumer's slots (`T21_WORKER_CONCURRENCY`),
# so without the bound a burst's publish jobs fill them all and reconciliations and webhook
# deliveries wait behind the whole burst.
WAITING_JOBS_MAX = 2
HAND_BACK_PAUSE_S = 1.5
PUBLISH_BATCH_JOB = "publishing.publish_batch"


async def publish(runtime: Runtime, target_id: uuid.UUID) -> None:
    """One publishing attempt of a queued target, from claim to recorded outcome."""
    await publish_batch(runtime, [target_id])


async def publish_batch(runtime: Runtime, target_ids: Sequence[uuid.UUID]) -> None:
    """One publishing attempt of each of the queued targets: claimed together, their requests
    sent concurrently, and their outcomes recorded in a few transactions. An outcome waits at
    most `T21_PUBLISH_FLUSH_S` for slower attempts of the batch to be recorded with."""
    slots = _attempt_slots(runtime)
    ids = list(target_ids)
    for start in range(0, len(ids), slots.size):
        chunk = ids[start : start + slots.size]
        if not await slots.take_unless_crowded(len(chunk), WAITING_JOBS_MAX):
            # The targets stay queued (a compare-and-set still guards them); the job goes to
            # the back of the broker's queue, behind whatever arrived meanwhile.
            await asyncio.sleep(HAND_BACK_PAUSE_S)
            rest = [str(target_id) for target_id in ids[start:]]
            await runtime.jobs.send([PendingJob(PUBLISH_BATCH_JOB, {"target_ids": rest})])
            return
        try:
            await _publish_held(runtime, chunk)
        finally:
            await slots.give(len(chunk))


class AttemptSlots:
    """How many attempts this process holds at once (`T21_WORKER_CONCURRENCY`): a batch waits
    for room before it claims, so a worker that dies leaves no more attempts for the reaper to
    check than it would with one attempt per job."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self.waiting = 0
        self._changed = asyncio.Condition()

    async def take_unless_crowded(self, n: int, waiting_max: int) -> bool:
        """Take `n` once there is room, unless there is none now and `waiting_max` takers
        already wait for it (then False, nothing taken)."""
        async with self._changed:
            if self.free < n and self.waiting >= waiting_max:
                return False
            self.waiting += 1
            try:
                await self._changed.wait_for(lambda: self.free >= n)
            finally:
                self.waiting -= 1
            self.free -= n
            return True

    async def give(self, n: int) -> None:
        async with self._changed:
            self.free += n
            self._changed.notify_all()


def _attempt_slots(runtime: Runtime) -> AttemptSlots:
    slots: AttemptSlots | None = runtime.state.get("publishing_attempt_slots")
    if slots is None:
        slots = AttemptSlots(runtime.settings.worker_concurrency)
        runtime.state["publishing_attempt_slots"] = slots
    return slots


async def _publish_held(runtime: Runtime, target_ids: Sequence[uuid.UUID]) -> None:
    attempts = await begin_batch(runtime, target_ids)
    if not attempts:
        return
    unverifiable: dict[uuid.UUID, list[Attempt]] = {}
    pending: set[asyncio.Task[tuple[Attempt, Outcome] | None]] = set()
    for attempt in attempts:
        if _unverifiable(runtime, attempt):
            unverifiable.setdefault(attempt.account_id, []).append(attempt)
        else:
            pending.add(asyncio.create_task(attempt_outcome(runtime, attempt)))
    for account_id, alone in unverifiable.items():
        pending.add(asyncio.create_task(_one_at_a_time(runtime, account_id, alone)))
    flush_s = runtime.settings.publish_flush_s
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if pending and flush_s > 0:
                more, pending = await asyncio.wait(pending, timeout=flush_s)
                done |= more
            outcomes = [outcome for task in done if (outcome := task.result()) is not None]
            if outcomes:
                await _record_surely(runtime, outcomes)
    finally:
        for task in pending:
            task.cancel()


def _unverifiable(runtime: Runtime, attempt: Attempt) -> bool:
    """Whether T21 could not tell, after a worker died mid-attempt, if the attempt published:
    its network can't list this account's posts (a LinkedIn member without r_member_social),
    so such a doubt goes to a person. Credentials still to be refreshed count as checkable."""
    held = attempt.credentials
    if held is None:
        return False
    return attempt_provider(runtime, attempt.platform).find_recent_blocker(held) is not None


async def _one_at_a_time(runtime: Runtime, account_id: uuid.UUID, attempts: list[Attempt]) -> None:
    """The attempts of an account whose doubts can't be checked, one after the other, each
    outcome recorded before the next request leaves (not batched with others): a worker killed
    meanwhile leaves at most one of them in doubt, for a person to settle, where a batch sent
    at once and recorded together could leave all of them. Across this process's jobs too (a
    lock per account)."""
    locks: weakref.WeakValueDictionary[uuid.UUID, asyncio.Lock] = runtime.state.setdefault(
        "unverifiable_accounts", weakref.WeakValueDictionary()
    )
    lock = locks.get(account_id)
    if lock is None:
        lock = locks[account_id] = asyncio.Lock()
    for attempt in attempts:
        async with lock:
            await _record_surely(runtime, [await attempt_outcome(runtime, attempt)])


async def _record_surely(runtime: Runtime, outcomes: list[tuple[Attempt, Outcome]]) -> None:
    """`record_batch`, tried again while the database is momentarily busy (SQLite's write lock
    held past its timeout, a deadlock): an outcome left unwritten would hold its target until
    the reaper. Writing the same outcomes again is harmless (each under its attempt id)."""
    for attempt in range(RECORD_TRIES):
        try:
            await record_batch(runtime, outcomes)
            return
        except DBAPIError as error:
            if isinstance(error, IntegrityError | ProgrammingError | DataError):
                raise
            if attempt == RECORD_TRIES - 1:
                raise
            log.warning(
                "recording outcomes failed; trying again",
                targets=len(outcomes),
                error=type(error.orig).__name__,
            )
            await asyncio.sleep(0.2 * 2**attempt)
