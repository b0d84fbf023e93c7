"""Claims: the dispatcher's (`scheduled/retrying → queued`, due targets in one transaction) and a
publish job's (`queued → publishing`, a batch of targets under one compare-and-set statement,
each with its own attempt id and lease, after the account, quota and budget checks)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Update,
    Uuid,
    bindparam,
    exists,
    func,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from t21.core import clock, metrics
from t21.core.db import among, bound_rows, bound_rows_values, is_postgres
from t21.core.logging import get_logger
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.media.models import MediaAsset
from t21.posts.chain import network_options, next_step
from t21.posts.events import recorded_together
from t21.posts.models import Post, PostMedia, PostTarget, TargetStatus
from t21.posts.settling import settle_posts
from t21.publishing import threads
from t21.publishing.budgets import budget_for
from t21.publishing.gates import (
    budget_waits,
    continuing_under_shared_budget,
    fail_unpostable,
    far_from_quota,
    within_quota,
)
from t21.publishing.service.attempt import Attempt, content_fingerprint, resumable
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import (
    held_credentials,
    needs_refresh,
)

log = get_logger("t21.publishing")

# TEST-ONLY. Set to 1 (outside production), a publish job takes its target whatever its status:
# the compare-and-set that makes a duplicate delivery do nothing is gone. It exists so the chaos
# test and the mutation check can show that they catch a second send; inert unless set.
DISABLE_CLAIM_CAS_ENV = "T21_TEST_DISABLE_CLAIM_CAS"


@dataclass
class TakenFrontier:
    """The latest due time among the targets this process has taken, and when it last took
    any: the reaper's measure of how far the engine has got through the queue. The dispatcher
    queues targets in due order and their jobs go through the broker in about that order, so a
    target due after the latest one taken, while targets are being taken, is still waiting for
    its job, not lost. (Not `queued_at`: the reaper moves it when it sends a job again.)"""

    due_at: datetime | None = None
    taken_at: datetime | None = None

    def note(self, targets: Sequence[PostTarget], now: datetime) -> None:
        due = [target.due_at for target in targets if target.due_at is not None]
        if not due:
            return
        latest = max(due)
        if self.due_at is None or latest > self.due_at:
            self.due_at = latest
        self.taken_at = now

    def reached(self, settings: Settings, now: datetime) -> datetime | None:
        """The latest due time taken, if this process took targets within
        `T21_QUEUED_STALE_S` (otherwise it says nothing of where the queue is)."""
        quiet = timedelta(seconds=settings.queued_stale_s)
        if self.taken_at is None or now - self.taken_at > quiet:
            return None
        return self.due_at


def taken_frontier(runtime: Runtime) -> TakenFrontier:
    found: TakenFrontier | None = runtime.state.get("publishing_taken_frontier")
    if found is None:
        found = runtime.state["publishing_taken_frontier"] = TakenFrontier()
    return found


_targets = PostTarget.metadata.tables[PostTarget.__tablename__]
_posts = Post.metadata.tables[Post.__tablename__]
_post_media = PostMedia.metadata.tables[PostMedia.__tablename__]


def _claim_guarded(settings: Settings) -> bool:
    """Whether a publish job takes its target only from `queued` (always, but in that test)."""
    return os.environ.get(DISABLE_CLAIM_CAS_ENV) != "1" or settings.is_production


async def claim_due(session: AsyncSession, settings: Settings) -> list[uuid.UUID]:
    """Claim up to a batch of due targets (`queued`), in due order; the caller enqueues their
    jobs. One statement: the due targets picked (locked, skipping those another claimer holds,
    on PostgreSQL) and moved, returning what the caller and settling need."""
    now = clock.now()
    claimed = list(
        await session.execute(
            _claiming(is_postgres(session)),
            {"now": now, "batch": settings.dispatch_batch},
        )
    )
    if not claimed:
        return []
    claimed.sort(key=lambda row: (row.due_at, row.id))
    await settle_posts(session, {row.post_id for row in claimed})
    return [row.id for row in claimed]


@lru_cache(maxsize=2)
def _claiming(postgres: bool) -> Update:
    """`scheduled/retrying → queued` for the earliest due targets, up to `:batch`."""
    now = bindparam("now", type_=_targets.c.due_at.type)
    due = (
        select(_targets.c.id)
        .where(
            _targets.c.status.in_([TargetStatus.SCHEDULED, TargetStatus.RETRYING]),
            _targets.c.due_at <= now,
        )
        .order_by(_targets.c.due_at)
        .limit(bindparam("batch", type_=Integer()))
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    return (
        update(_targets)
        .where(_targets.c.id.in_(due.scalar_subquery()))
        .values(status=TargetStatus.QUEUED, queued_at=now)
        .returning(_targets.c.id, _targets.c.post_id, _targets.c.due_at)
    )


@dataclass(frozen=True)
class Pipeline:
    """What the dispatcher learns of the queue after a claim: targets due but not claimed
    (another claimer's, or past the batch), and the earliest due time within `horizon_s`."""

    due_unclaimed: int
    next_due_at: datetime | None


async def sample_pipeline(
    session: AsyncSession, horizon_s: float, *, by_status: bool = True
) -> Pipeline:
    """Publish the pipeline's depth to the metrics (targets per status when `by_status`, due
    but unclaimed), and say when the next target falls due, if within `horizon_s`."""
    if by_status:
        rows = await session.execute(
            select(PostTarget.status, func.count())
            .where(
                PostTarget.status.in_(
                    [
                        TargetStatus.SCHEDULED,
                        TargetStatus.QUEUED,
                        TargetStatus.PUBLISHING,
                        TargetStatus.RETRYING,
                        TargetStatus.NEEDS_REVIEW,
                    ]
                )
            )
            .group_by(PostTarget.status)
        )
        counts: dict[TargetStatus, int] = {row[0]: row[1] for row in rows}
        for status in TargetStatus:
            metrics.TARGETS_BY_STATUS.labels(status.value).set(counts.get(status, 0))
    now = clock.now()
    found = (
        await session.execute(
            _DUE_SOON, {"now": now, "horizon": now + timedelta(seconds=horizon_s)}
        )
    ).one()
    metrics.DUE_UNCLAIMED.set(found.due or 0)
    return Pipeline(due_unclaimed=found.due or 0, next_due_at=found.next_due_at)


def _due_soon() -> Select[int, Any]:
    now = bindparam("now", type_=_targets.c.due_at.type)
    horizon = bindparam("horizon", type_=_targets.c.due_at.type)
    # Bounded by the horizon, the read covers the targets due up to then, not every scheduled one.
    return select(
        func.count().filter(_targets.c.due_at <= now).label("due"),
        func.min(_targets.c.due_at).filter(_targets.c.due_at > now).label("next_due_at"),
    ).where(
        _targets.c.status.in_([TargetStatus.SCHEDULED, TargetStatus.RETRYING]),
        _targets.c.due_at <= horizon,
    )


_DUE_SOON = _due_soon()


async def begin(runtime: Runtime, target_id: uuid.UUID) -> Attempt | None:
    """Take the target for one attempt (`queued → publishing`), or `None` when it isn't ours to
    take: a duplicate delivery, a cancelled post, an account that can't post, a budget spent."""
    attempts = await begin_batch(runtime, [target_id])
    return attempts[0] if attempts else None


async def begin_batch(runtime: Runtime, target_ids: Sequence[uuid.UUID]) -> list[Attempt]:
    """Take each of the targets for one attempt (`queued → publishing`, each under its own
    attempt id) in one transaction, and load what the attempts publish. A target that isn't
    ours to take is left out: a duplicate delivery, a cancelled post, an account that can't
    post, the plan's quota spent (it fails), the account's budget spent (it waits)."""
    settings = runtime.settings
    guarded = _claim_guarded(settings)
    async with session_scope(runtime) as session, recorded_together(session):
        # In id order, so that two batches sharing targets lock them in the same order; their
        # accounts read with them (not locked).
        found = await session.execute(
            select(PostTarget, SocialAccount)
            .outerjoin(SocialAccount, SocialAccount.id == PostTarget.social_account_id)
            .where(among(session, PostTarget.id, set(target_ids)))
            .order_by(PostTarget.id)
            .with_for_update(of=PostTarget)
            .execution_options(populate_existing=True)
        )
        targets: list[PostTarget] = []
        accounts: dict[uuid.UUID, SocialAccount] = {}
        for target, its_account in found:
            targets.append(target)
            if its_account is not None:
                accounts[its_account.id] = its_account
        if guarded:
            # A job sent again by the reaper, or delivered twice, mostly finds its targets taken
            # already: it ends here, without reading quotas and budgets.
            targets = [target for target in targets if target.status is TargetStatus.QUEUED]
            if not targets:
                return []
        now = clock.now()
        postable: list[PostTarget] = []
        for target in targets:
            account = accounts.get(target.social_account_id) if target.social_account_id else None
            if account is None or account.status is not AccountStatus.ACTIVE:
                await fail_unpostable(session, settings, target, account)
                continue
            postable.append(target)
        ready = await _within_budgets(
            session, accounts, await _within_quotas(session, settings, postable), now
        )
        attempt_ids = {target.id: uuid.uuid4().hex for target in ready}
        taken = await _take(session, settings, attempt_ids, now, guarded) if ready else {}
        held = [target for target in ready if target.id in taken]
        if not held:
            return []
        taken_frontier(runtime).note(held, now)
        post_ids = list({target.post_id for target in held})
        media: dict[uuid.UUID, list[MediaAsset]] = {post_id: [] for post_id in post_ids}
        with_media = list({target.post_id for target in held if taken[target.id].has_media})
        if with_media:
            for post_id, asset in await session.execute(
                select(PostMedia.post_id, MediaAsset)
                .join(PostMedia, PostMedia.media_id == MediaAsset.id)
                .where(among(session, PostMedia.post_id, with_media))
                .order_by(PostMedia.post_id, PostMedia.position)
            ):
                media[post_id].append(asset)
        if not guarded:
            # Taken from `queued`, a target leaves its post `publishing` (both are in flight,
            # and the dispatcher settled the post when it queued the target): only a target
            # taken from another status can change its post's.
            await settle_posts(session, post_ids)
        attempts: list[Attempt] = []
        for target in held:
            text = target.content if target.content is not None else taken[target.id].text
            options = network_options(target.platform, target.options)
            step = next_step(target, text)
            assets = await threads.step_media(session, step, media[target.post_id])
            text = step.text if step is not None else text
            account = accounts[target.social_account_id]  # type: ignore[index]
            attempts.append(
                Attempt(
                    target_id=target.id,
                    attempt_id=attempt_ids[target.id],
                    post_id=target.post_id,
                    account_id=account.id,
                    platform=target.platform,
                    text=text,
                    options=options,
                    media=assets,
                    started_at=now,
                    due_at=target.due_at,
                    progress=resumable(target.progress, content_fingerprint(text, options, assets)),
                    step=step,
                    credentials=None
                    if needs_refresh(account, settings, now)
                    else held_credentials(runtime, account),
                )
            )
        return attempts


async def _within_quotas(
    session: AsyncSession, settings: Settings, targets: list[PostTarget]
) -> list[PostTarget]:
    """The targets the organizations' plans still have room for. An organization far from its
    limit passes its whole share of the batch at once; near it, each target is checked and
    taken one at a time under the organization's lock (`within_quota`), so concurrent batches
    can't pass the limit together."""
    by_organization: dict[uuid.UUID, list[PostTarget]] = {}
    for target in targets:
        by_organization.setdefault(target.organization_id, []).append(target)
    passing: list[PostTarget] = []
    for organization_id, share in by_organization.items():
        if await far_from_quota(session, settings, organization_id, len(share)):
            passing.extend(share)
            continue
        for target in share:
            if await within_quota(session, settings, target):
                passing.append(target)
    return passing


async def _within_budgets(
    session: AsyncSession,
    accounts: dict[uuid.UUID, SocialAccount],
    targets: list[PostTarget],
    now: datetime,
) -> list[PostTarget]:
    """The targets their accounts' budgets let publish now; the others wait (a later due),
    saying why when the budget has words for it."""
    by_account: dict[uuid.UUID, list[PostTarget]] = {}
    ready: list[PostTarget] = []
    for target in targets:
        assert target.social_account_id is not None
        if continuing_under_shared_budget(target):
            ready.append(target)
            continue
        by_account.setdefault(target.social_account_id, []).append(target)
    waits = await budget_waits(
        session,
        [(accounts[account_id], len(share)) for account_id, share in by_account.items()],
        now,
    )
    deferred: set[uuid.UUID] = set()
    for account_id, share in by_account.items():
        for target, wait_until in zip(share, waits[account_id], strict=True):
            if wait_until is None:
                ready.append(target)
                continue
            said = _budget_words(accounts[account_id], target.platform, now)
            await session.execute(
                update(PostTarget)
                .where(PostTarget.id == target.id, PostTarget.status == TargetStatus.QUEUED)
                .values(status=TargetStatus.SCHEDULED, due_at=wait_until, **said)
                .execution_options(synchronize_session=False)
            )
            deferred.add(target.post_id)
            metrics.PUBLISH_OUTCOMES.labels(target.platform, "deferred").inc()
            log.info(
                "publishing deferred by the account's budget",
                target_id=str(target.id),
                until=wait_until.isoformat(),
            )
    if deferred:
        await settle_posts(session, deferred)
    return ready


def _budget_words(account: SocialAccount, platform: str, now: datetime) -> dict[str, str]:
    """What a target waiting for its network's budget says of it, if the budget has words and
    the wait is the budget's (not a hold the network asked for)."""
    budget = budget_for(platform)
    held = account.rate_limited_until is not None and account.rate_limited_until > now
    if budget is None or budget.reason is None or held:
        return {}
    return {"last_error_code": budget.code, "last_error_message": budget.reason}


# The targets a batch takes, each with its attempt id (`core.db.bound_rows`).
_TAKING = (("id", Uuid()), ("attempt_id", String()))


@lru_cache(maxsize=4)
def _taking(postgres: bool, guarded: bool) -> Update:
    """`queued → publishing` for the bound targets, each under its attempt id, returning each
    taken target's id, its post's text and whether the post has media: one statement whatever
    the batch's length."""
    taking = bound_rows("taking", _TAKING, postgres)
    text = select(_posts.c.content).where(_posts.c.id == _targets.c.post_id).scalar_subquery()
    # SQLite's RETURNING names the updated table's columns unqualified (`post_id`), which in a
    # subquery of `post_media` would be its own column: there every post's media is read (a
    # statement on SQLite is no round trip). The text's subquery has no such clash.
    has_media: ColumnElement[Any] = (
        exists().where(_post_media.c.post_id == _targets.c.post_id).correlate(_targets)
        if postgres
        else true()
    )
    status: ColumnElement[Any] = _targets.c.status
    if not postgres:
        # `+status` keeps SQLite from driving the update by the status index (every queued
        # target, each matched against the bound rows) rather than by the ids taken.
        status = UnaryExpression(status, operator=custom_op("+"), type_=status.type)
    return (
        update(_targets)
        .where(
            _targets.c.id == taking.c.id,
            status == TargetStatus.QUEUED if guarded else true(),
        )
        .values(
            status=TargetStatus.PUBLISHING,
            attempt_id=taking.c.attempt_id,
            attempt_started_at=bindparam("started_at", type_=_targets.c.attempt_started_at.type),
            lease_expires_at=bindparam("lease_until", type_=_targets.c.lease_expires_at.type),
            attempts=_targets.c.attempts + 1,
        )
        .returning(_targets.c.id, text.label("text"), has_media.label("has_media"))
    )


@dataclass(frozen=True)
class _Taken:
    text: str
    has_media: bool


async def _take(
    session: AsyncSession,
    settings: Settings,
    attempt_ids: dict[uuid.UUID, str],
    now: datetime,
    guarded: bool,
) -> dict[uuid.UUID, _Taken]:
    """Move the targets `queued → publishing` in one statement, each under its attempt id (the
    compare-and-set: a target no longer queued is not taken); what each taken target's post
    holds."""
    postgres = is_postgres(session)
    parameters = bound_rows_values(
        "taking", [name for name, _kind in _TAKING], list(attempt_ids.items()), postgres
    )
    taken = await session.execute(
        _taking(postgres, guarded),
        {
            **parameters,
            "started_at": now,
            "lease_until": now + timedelta(seconds=settings.publish_lease_s),
        },
    )
    return {row.id: _Taken(row.text, bool(row.has_media)) for row in taken}
