"""Telling people that a post didn't go out: one email per post, to its author and the
organization's admins, once every target has settled (never one per retry)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.brands.models import Brand
from t21.core import clock
from t21.core.db import among
from t21.core.settings import Settings
from t21.identity.models import User
from t21.notifications.service import queue_email
from t21.organizations.models import Membership
from t21.organizations.permissions import Action, Role, allows
from t21.platforms.registry import display_name
from t21.posts.models import Post, PostStatus, PostTarget, TargetStatus
from t21.social.models import SocialAccount

PROBLEMS = frozenset({TargetStatus.FAILED, TargetStatus.NEEDS_REVIEW})
UNSETTLED = frozenset(
    {TargetStatus.SCHEDULED, TargetStatus.QUEUED, TargetStatus.PUBLISHING, TargetStatus.RETRYING}
)
EXCERPT = 140
STATUS_WORDS = {
    TargetStatus.FAILED: "failed",
    TargetStatus.NEEDS_REVIEW: "may or may not have posted (needs review)",
}


# Post statuses that say a target is still to settle (`scheduled`, `publishing`) or that none
# had a problem (`published`): such a post has nothing to report yet.
NOTHING_TO_TELL = frozenset({PostStatus.SCHEDULED, PostStatus.PUBLISHING, PostStatus.PUBLISHED})


def might_need_telling(statuses: Mapping[uuid.UUID, PostStatus]) -> list[uuid.UUID]:
    """Of posts just settled (`posts.settling.settle_posts`), those `notify_problems` must look
    at: a batch of publishes leaves most posts `published`, and skips the query for them."""
    return [post_id for post_id, status in statuses.items() if status not in NOTHING_TO_TELL]


async def notify_problems(
    session: AsyncSession, settings: Settings, post_ids: Collection[uuid.UUID]
) -> None:
    """Email about each of the posts whose targets have all settled with at least one problem,
    unless that post was already reported."""
    if not post_ids:
        return
    # Only posts whose targets have all settled with a problem among them are read further.
    of_post = PostTarget.post_id == Post.id
    posts = list(
        await session.scalars(
            select(Post).where(
                among(session, Post.id, post_ids),
                Post.problem_notified_at.is_(None),
                exists().where(of_post, PostTarget.status.in_(PROBLEMS)),
                ~exists().where(of_post, PostTarget.status.in_(UNSETTLED)),
            )
        )
    )
    for post in posts:
        rows = (
            await session.execute(
                select(PostTarget, SocialAccount)
                .outerjoin(SocialAccount, SocialAccount.id == PostTarget.social_account_id)
                .where(PostTarget.post_id == post.id)
                .order_by(PostTarget.id)
            )
        ).all()
        targets = [row[0] for row in rows]
        if any(t.status in UNSETTLED for t in targets):
            continue
        problems = [
            _problem(target, account) for target, account in rows if target.status in PROBLEMS
        ]
        if not problems:
            continue
        post.problem_notified_at = clock.now()
        brand = await session.get(Brand, post.brand_id)
        context: dict[str, Any] = {
            "brand": brand.name if brand is not None else "your brand",
            "excerpt": _excerpt(post.content),
            "problems": problems,
            "published": sorted(
                {t.platform for t in targets if t.status is TargetStatus.PUBLISHED}
            ),
            "link": f"{settings.resolved_frontend_url}/posts/{post.id}",
        }
        for address in await _recipients(session, post):
            await queue_email(
                session, settings, to=address, template="post_problem", context=context
            )
    await session.flush()


def _problem(target: PostTarget, account: SocialAccount | None) -> dict[str, str]:
    name = (account.username or account.display_name or account.external_id) if account else None
    return {
        "platform": display_name(target.platform),
        "account": name or "a disconnected account",
        "status": STATUS_WORDS.get(target.status, target.status.value),
        "message": target.last_error_message or "",
    }


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


async def _recipients(session: AsyncSession, post: Post) -> list[str]:
    """The author, and everyone who may manage the organization's accounts, each once."""
    rows = await session.execute(
        select(User.id, User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == post.organization_id)
    )
    addresses: list[str] = []
    for user_id, email, role in rows:
        wanted = user_id == post.author_id or allows(Role(role), Action.MANAGE_SOCIAL_ACCOUNTS)
        if wanted and email not in addresses:
            addresses.append(email)
    return addresses
