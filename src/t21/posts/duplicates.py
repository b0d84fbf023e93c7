"""The duplicate guard: the same text on the same account within 24 hours is refused (409
`duplicate_content`) unless the caller says `allow_duplicate`.

Networks refuse or quietly bury a repeated post (X answers 403 "duplicate content"), and an API
pipeline retrying without an `Idempotency-Key` creates exactly that. Texts are compared
normalized: Unicode NFC (a precomposed "é" equals "e" + combining accent) and every run of
whitespace (line breaks, non-breaking spaces included) as one space, ends trimmed. The comparison
stays case-sensitive: "SALE today" and "sale today" are different posts to a reader, and to the
networks that check.

Only targets on their way out count, as the other side and as this one: a draft is checked when
it is scheduled, and an edit (PATCH) of a post on its way out is checked as it will go out.
Another target's time is when it went out (published) or when it is due (its post's
`scheduled_at`); drafts, failed and cancelled targets never count.

Two requests writing the same text to one account at the same moment must not both pass: the
check takes a transaction-scoped lock per account first (PostgreSQL advisory locks, in account
order so two requests never wait on each other; SQLite's `BEGIN IMMEDIATE` already admits one
writer at a time), so the second checks only once the first has committed, and sees its post.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from t21.platforms.registry import display_name
from t21.posts.errors import DuplicateContent
from t21.posts.models import Post, PostTarget, TargetStatus
from t21.posts.validation import TargetDraft

WINDOW = timedelta(hours=24)
# Targets that went, or will go, out without anyone acting again.
NOT_GOING_OUT = (TargetStatus.DRAFT, TargetStatus.FAILED, TargetStatus.CANCELLED)


def normalized(text: str) -> str:
    """`text` as the guard compares it: NFC, whitespace runs collapsed, trimmed; case kept."""
    return " ".join(unicodedata.normalize("NFC", text).split())


@dataclass(frozen=True)
class Outgoing:
    """One target about to be scheduled: its position in the request (or None), account, text."""

    index: int | None
    social_account_id: uuid.UUID
    platform: str
    text: str


def of_drafts(drafts: Sequence[TargetDraft]) -> list[Outgoing]:
    """Checked targets of a request as the guard compares them."""
    return [
        Outgoing(draft.index, draft.social_account_id, draft.platform, draft.text)
        for draft in drafts
    ]


def of_targets(post: Post, targets: Sequence[PostTarget]) -> list[Outgoing]:
    """Stored targets of `post` (those still on an account) as the guard compares them."""
    return [
        Outgoing(
            None,
            target.social_account_id,
            target.platform,
            target.content if target.content is not None else post.content,
        )
        for target in targets
        if target.social_account_id is not None
    ]


@dataclass(frozen=True)
class Duplicate:
    target: Outgoing
    post_id: uuid.UUID


async def find_duplicates(
    session: AsyncSession,
    outgoing: Sequence[Outgoing],
    at: datetime,
    *,
    besides: uuid.UUID | None = None,
) -> list[Duplicate]:
    """Each of `outgoing` whose normalized text another post (not `besides`) has on the same
    account within 24 hours of `at`, with that post (the earliest-created one when several)."""
    wanted = [target for target in outgoing if normalized(target.text)]
    if not wanted:
        return []
    when = func.coalesce(PostTarget.published_at, Post.scheduled_at)
    statement = (
        select(PostTarget.social_account_id, PostTarget.content, Post.content, Post.id)
        .join(Post, Post.id == PostTarget.post_id)
        .where(
            PostTarget.social_account_id.in_({target.social_account_id for target in wanted}),
            PostTarget.status.not_in(NOT_GOING_OUT),
            when > at - WINDOW,
            when < at + WINDOW,
        )
        .order_by(Post.created_at, Post.id)
    )
    if besides is not None:
        statement = statement.where(Post.id != besides)
    seen: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    for account_id, own, base, post_id in await session.execute(statement):
        if account_id is None:
            continue
        text = normalized(own if own is not None else base)
        seen.setdefault((account_id, text), post_id)
    found = []
    for target in wanted:
        other = seen.get((target.social_account_id, normalized(target.text)))
        if other is not None:
            found.append(Duplicate(target=target, post_id=other))
    return found


def _lock_key(account_id: uuid.UUID) -> int:
    """The advisory lock of the guard on one account: a signed 64-bit number of its own."""
    digest = hashlib.sha256(b"t21.duplicates:" + account_id.bytes).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def lock_accounts(session: AsyncSession, account_ids: Sequence[uuid.UUID]) -> None:
    """Hold the guard's lock on each account until the transaction ends (PostgreSQL)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({_lock_key(account_id) for account_id in account_ids}):
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def refuse_duplicates(
    session: AsyncSession,
    outgoing: Sequence[Outgoing],
    at: datetime,
    *,
    besides: uuid.UUID | None = None,
) -> None:
    """409 `duplicate_content` naming the other post if one of `outgoing` repeats it; the
    accounts stay locked until the transaction ends, so a concurrent request waits and sees
    this one's post."""
    await lock_accounts(session, [target.social_account_id for target in outgoing])
    found = await find_duplicates(session, outgoing, at, besides=besides)
    if not found:
        return
    first = found[0]
    raise DuplicateContent(
        f"The same text is already scheduled or published on this "
        f"{display_name(first.target.platform)} account within 24 hours (post {first.post_id}); "
        'change the text, or send "allow_duplicate": true to post it again anyway.',
        post_id=str(first.post_id),
        social_account_id=str(first.target.social_account_id),
        platform=first.target.platform,
        target=first.target.index,
        duplicates=[
            {
                "post_id": str(one.post_id),
                "social_account_id": str(one.target.social_account_id),
                "target": one.target.index,
            }
            for one in found
        ],
    )


def warnings_for(found: Sequence[Duplicate]) -> list[dict[str, str]]:
    """The dry run's heads-ups, one per target that would be refused."""
    return [
        {
            "code": "duplicate_content",
            "message": (
                f"Target {one.target.index}: the same text is already scheduled or published on "
                f"this {display_name(one.target.platform)} account within 24 hours "
                f"(post {one.post_id}); "
                'creating it answers 409 unless "allow_duplicate" is true.'
            ),
            "post_id": str(one.post_id),
        }
        for one in found
    ]


def duplicate_error(target: Outgoing, message: str, **about: Any) -> dict[str, Any]:
    """A 422 `errors` entry (rule `duplicate_content`) for one target of a request."""
    where: list[str | int] = ["body"]
    if target.index is not None:
        where += ["targets", target.index]
    return {
        "loc": where,
        "msg": message,
        "rule": "duplicate_content",
        "target": target.index,
        "social_account_id": str(target.social_account_id),
        "platform": target.platform,
        **about,
    }


def errors_for(found: Sequence[Duplicate]) -> list[dict[str, Any]]:
    """Each clash as an error entry naming the other post (an import's row errors)."""
    return [
        duplicate_error(
            one.target,
            f"The same text is already scheduled or published on this "
            f"{display_name(one.target.platform)} account within 24 hours (post {one.post_id}); "
            "change the text, or set allow_duplicate to import it anyway.",
            post_id=str(one.post_id),
        )
        for one in found
    ]


class InFile:
    """The texts earlier rows of one import send out, to refuse a row that repeats another row
    (same account, same normalized text, within 24 hours) before any of them is stored."""

    def __init__(self) -> None:
        self.seen: dict[tuple[uuid.UUID, str], list[tuple[datetime, int]]] = {}

    def clashes(self, row: int, outgoing: Sequence[Outgoing], at: datetime) -> list[dict[str, Any]]:
        """The row's targets that repeat an earlier row, as error entries."""
        found = []
        for target in outgoing:
            if not normalized(target.text):
                continue
            for when, other in self.seen.get(self._key(target), []):
                if abs(when - at) < WINDOW:
                    found.append(
                        duplicate_error(
                            target,
                            f"Row {other} of this file already sends the same text to this "
                            f"{display_name(target.platform)} account within 24 hours; change the "
                            "text, or set allow_duplicate to import both.",
                            row=other,
                        )
                    )
                    break
        return found

    def add(self, row: int, outgoing: Sequence[Outgoing], at: datetime) -> None:
        for target in outgoing:
            if normalized(target.text):
                self.seen.setdefault(self._key(target), []).append((at, row))

    @staticmethod
    def _key(target: Outgoing) -> tuple[uuid.UUID, str]:
        return target.social_account_id, normalized(target.text)
