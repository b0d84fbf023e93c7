"""Threads and first comments: a target published as a chain of steps, one step per attempt.

A target with a thread (or a first comment) goes out step by step (`posts.chain`): the first
part as the target's own post, each later part as a reply to the part before it, then the first
comment on the first part. Each step is one attempt under its own attempt id, through the same
claim, lease and outcome machinery as any publication:

- the attempt that sent a step records it on the target (`PostTarget.steps`) in the transaction
  that ends the attempt, and the target is due again at once (`continue_later`, no wait) for the
  next step: a step once recorded is never sent again;
- a step whose sending was cut off (`Ambiguous`, a worker that died) is left to the reaper, which
  looks for that step at the network (`look_for`: the account's recent posts, keeping those that
  answer the part before where the listing says; a comment among the post's comments) before
  anything is sent again;
- a chain interrupted for good ends the target `failed`, its published steps still listed in
  `parts`; publishing it again goes on from the first step not out. The target is `published`
  (with the first part's id and link) once every step is out.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.outside import NotPermitted, Permanent
from t21.core.settings import Settings
from t21.media.models import MediaAsset
from t21.platforms.base import (
    Continuing,
    Credentials,
    Provider,
    Published,
    PublishRequest,
    RecentPost,
    ReplyTo,
    commenting,
    threading,
)
from t21.posts.chain import COMMENT, PART, Step, recorded, with_step
from t21.posts.models import PostTarget
from t21.publishing.outcomes import continue_later, mark_published


async def step_media(
    session: AsyncSession, step: Step | None, post_media: list[MediaAsset]
) -> list[MediaAsset]:
    """The media a step publishes: the post's for the first part, the part's own for a later
    one (in their order), none for a comment."""
    if step is None or (step.kind == PART and step.position == 0):
        return post_media
    if not step.media_ids:
        return []
    found = {
        asset.id: asset
        for asset in await session.scalars(
            select(MediaAsset).where(MediaAsset.id.in_(step.media_ids))
        )
    }
    return [found[media_id] for media_id in step.media_ids if media_id in found]


def reply_to(step: Step) -> ReplyTo:
    """What `step` answers at the network, from the step records of the parts before it."""
    parent, root = step.parent or {}, step.root or {}
    return ReplyTo(
        parent_id=str(parent.get("external_id") or ""),
        root_id=str(root.get("external_id") or ""),
        parent_ref=dict(parent.get("ref") or {}),
        root_ref=dict(root.get("ref") or {}),
    )


async def send(
    provider: Provider, credentials: Credentials, request: PublishRequest, step: Step | None
) -> Published | Continuing:
    """Send one step: the first part as a post, a later part as a reply, the comment."""
    if step is None or not step.follows:
        return await provider.publish(credentials, request)
    if step.kind == COMMENT:
        commenter = commenting(provider)
        if commenter is None:
            raise Permanent(
                f"{provider.display_name} posts can't have a first comment.", code="invalid_options"
            )
        return await commenter.publish_comment(credentials, reply_to(step), request.text)
    threader = threading(provider)
    if threader is None:
        raise Permanent(f"{provider.display_name} has no threads.", code="thread_not_supported")
    return await threader.publish_reply(credentials, request, reply_to(step))


def in_account_listing(step: Step | None) -> bool:
    """Whether `step` is looked for among the account's recent posts (a post, or a thread's
    first part), where one listing answers every such doubt of the account."""
    return step is None or (step.kind != COMMENT and not step.follows)


async def look_for(
    provider: Provider,
    credentials: Credentials,
    step: Step | None,
    *,
    since: datetime,
    limit: int,
) -> list[RecentPost]:
    """What the network shows that could be `step` (reconciliation): the account's recent
    posts, or, for a comment, its comments on the first part. A later part must answer the part
    before it where the listing says what a post answers."""
    if step is not None and step.kind == COMMENT:
        commenter = commenting(provider)
        if commenter is None:
            raise NotPermitted("This network has no comments to look through.", code="cannot_check")
        return await commenter.find_comments(credentials, reply_to(step), since=since)
    if step is None or not step.follows:
        return await provider.find_recent(credentials, since=since, limit=limit)
    threader = threading(provider)
    if threader is None:
        raise NotPermitted("This network has no replies to look through.", code="cannot_check")
    return await threader.find_replies(credentials, reply_to(step), since=since)


async def published(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    step: Step | None,
    outcome: Published,
    counted: Counter[uuid.UUID] | None = None,
) -> bool:
    """Record a step that is out; whether the whole target is now published. A step before the
    last leaves the target due again at once for the next one. `counted` as `mark_published`."""
    if step is None or step.total == 1:
        await mark_published(
            session,
            settings,
            target,
            outcome.external_id,
            outcome.permalink,
            outcome.published_at,
            counted,
        )
        return True
    when = (outcome.published_at or clock.now()).isoformat()
    target.steps = with_step(
        target, step, outcome.external_id, outcome.permalink, when, outcome.ref or None
    )
    if step.kind == PART and step.position == 0:
        # The post itself is out: its id and link show on the target from now on, even if a
        # later step fails for good.
        target.external_id = outcome.external_id
        target.permalink = outcome.permalink
    if not step.last:
        what = "comment" if step.kind == COMMENT else f"part {step.position + 1}"
        continue_later(
            target,
            "",
            {},
            0.0,
            f"{what[0].upper()}{what[1:]} is out ({step.done + 1} of {step.total} steps); "
            "the next follows.",
        )
        return False
    await _whole_published(session, settings, target, counted)
    return True


async def last_out_unknown(
    session: AsyncSession, settings: Settings, target: PostTarget, step: Step, permalink: str | None
) -> None:
    """A person says the chain's last step went out, and neither they nor the network know its
    id: it is recorded without one, and the target is published (with the first part's id)."""
    assert step.last
    assert step.total > 1
    target.steps = with_step(target, step, None, permalink, clock.now().isoformat())
    await _whole_published(session, settings, target, None)


async def _whole_published(
    session: AsyncSession,
    settings: Settings,
    target: PostTarget,
    counted: Counter[uuid.UUID] | None,
) -> None:
    first = recorded(target, PART, 0)
    assert first is not None
    first_at = first.get("published_at")
    await mark_published(
        session,
        settings,
        target,
        first.get("external_id"),
        first.get("permalink"),
        datetime.fromisoformat(first_at) if isinstance(first_at, str) else None,
        counted,
    )


def attempt_key(target_id: uuid.UUID, step: Step | None) -> str:
    """The idempotency key of a step's publication: the same for every attempt of that step,
    different from the other steps' (a network with keys tells a repeat from a new post)."""
    if step is None or (step.kind == PART and step.position == 0):
        return str(target_id)
    return f"{target_id}:{step.kind}:{step.position}"
