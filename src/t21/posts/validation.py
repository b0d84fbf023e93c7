"""Checking a post before it is accepted: each target against its account and its network's
rules, the media against the brand's library, the schedule, and the month's quota (a warning).

Every problem becomes one entry of a 422's `errors`, naming the target (its index, account and
network) and the rule, so a client can show it next to the right field.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from t21.ai.models import AiCall
from t21.billing import plans
from t21.brands.models import Brand
from t21.core import clock
from t21.core.errors import ValidationFailed
from t21.core.outside import Permanent
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.media.models import MediaAsset, MediaStatus
from t21.media.service import media_item
from t21.organizations.models import Organization
from t21.organizations.tenancy import (
    Principal,
)
from t21.platforms import registry
from t21.platforms.base import (
    MediaItem,
    Provider,
    PublishRequest,
    commenting,
    parse_options,
    threading,
)
from t21.platforms.rules import Violation, violations
from t21.platforms.text import text_length
from t21.posts.chain import FIRST_COMMENT, network_options
from t21.posts.known import Known, known_of, thread_media_ids
from t21.posts.schemas import PostIn, TargetIn
from t21.social.models import AccountStatus, SocialAccount

# Rules about the text point at the target's content; rules about one media item at the post's
# media list; the rest at the target as a whole.
TEXT_RULES = frozenset({"text_too_long", "empty"})

# A time this close to now still counts as "now": clocks and networks are not exact.
SCHEDULE_GRACE = timedelta(seconds=60)
FURTHEST_AHEAD = timedelta(days=5 * 366)


@dataclass(frozen=True)
class TargetDraft:
    """One target as it will be: its index in the request, account, text and options."""

    index: int
    social_account_id: uuid.UUID
    platform: str
    text: str
    options: dict[str, Any]
    # What the account may do at its network, as last read (SocialAccount.capabilities).
    capabilities: dict[str, Any] = field(default_factory=dict)
    # The thread's parts after the first: (text, media ids), in order.
    thread: tuple[tuple[str, tuple[uuid.UUID, ...]], ...] = ()


def error(loc: Sequence[str | int], message: str, **extra: Any) -> dict[str, Any]:
    return {"loc": list(loc), "msg": message, **extra}


def target_errors(target: TargetDraft, media: Sequence[MediaItem]) -> list[dict[str, Any]]:
    """Every rule of the target's network that the target breaks, as 422 `errors` entries."""
    provider = registry.rules_provider(target.platform)
    network = provider.display_name
    where: list[str | int] = ["body", "targets", target.index]
    about: dict[str, Any] = {
        "target": target.index,
        "social_account_id": str(target.social_account_id),
        "platform": target.platform,
    }
    options = target.options
    if FIRST_COMMENT in options and commenting(provider) is not None:
        problem = first_comment_problem(provider, options.get(FIRST_COMMENT))
        if problem is not None:
            return [
                error([*where, "options", FIRST_COMMENT], problem, rule="first_comment", **about)
            ]
        options = network_options(target.platform, options)
        blocked = comment_blocker(provider, options, target.capabilities)
        if blocked is not None:
            return [
                error(
                    [*where, "options", FIRST_COMMENT], blocked.message, rule=blocked.rule, **about
                )
            ]
    try:
        parse_options(provider.options, options, network)
    except Permanent as failure:
        return [error([*where, "options"], failure.message, rule="invalid_options", **about)]
    found = post_violations(provider, target, options, target.text, media)
    return [
        error(_loc(where, violation), violation.message, rule=violation.rule, **about)
        for violation in found
    ]


def post_violations(
    provider: Provider,
    target: TargetDraft,
    options: dict[str, Any],
    text: str,
    media: Sequence[MediaItem],
) -> list[Violation]:
    """What the network's rules say of one post of the target (its first part or a later one)."""
    network = provider.display_name
    found = violations(provider.limits_for(options), network, text, media)
    if not found:
        try:
            provider.check(
                PublishRequest(
                    text=text, media=list(media), options=options, capabilities=target.capabilities
                )
            )
        except Permanent as failure:
            found = [Violation(failure.code or "not_accepted", failure.message)]
    return found


def first_comment_problem(provider: Provider, value: Any) -> str | None:
    """Why `value` can't be the target's first comment on this network; None if it can."""
    network = provider.display_name
    allowed = commenting(provider)
    if allowed is None:
        return f"{network} posts can't have a first comment through T21."
    if not isinstance(value, str) or not value.strip():
        return "first_comment must be non-empty text."
    length = text_length(value, provider.limits.text_counting)
    if length > allowed.max_comment:
        return (
            f"A {network} comment takes at most {allowed.max_comment} characters; "
            f"this has {length}."
        )
    return None


def comment_blocker(
    provider: Provider, options: dict[str, Any], capabilities: dict[str, Any]
) -> Violation | None:
    """Why the account or the post can't take a first comment at all, where the network's
    adapter says (its optional `comment_blocker`, `platforms.base.CommentingProvider`)."""
    check = getattr(provider, "comment_blocker", None)
    if check is None:
        return None
    found = check(options, capabilities)
    return found if isinstance(found, Violation) else None


def thread_errors(
    target: TargetDraft, parts_media: Sequence[Sequence[MediaItem] | None]
) -> list[dict[str, Any]]:
    """Every rule the target's thread breaks: a network without reply chains refuses it whole;
    otherwise each part is checked as a post of that network, its entries pointing at the part
    (`parts_media[j]`: the part's media, None when some of them are unusable)."""
    if not target.thread:
        return []
    provider = registry.rules_provider(target.platform)
    where: list[str | int] = ["body", "targets", target.index, "thread"]
    about: dict[str, Any] = {
        "target": target.index,
        "social_account_id": str(target.social_account_id),
        "platform": target.platform,
    }
    if threading(provider) is None:
        return [
            error(
                where,
                f"{provider.display_name} has no threads: publish the parts as separate posts.",
                rule="thread_not_supported",
                **about,
            )
        ]
    options = network_options(target.platform, target.options)
    try:
        parse_options(provider.options, options, provider.display_name)
    except Permanent:
        return []  # said once, at the target's options
    found: list[dict[str, Any]] = []
    for number, (text, _) in enumerate(target.thread):
        media = parts_media[number]
        if media is None:
            continue
        part_where: list[str | int] = [*where, number]
        for violation in post_violations(provider, target, options, text, media):
            loc = (
                [*part_where, "media_ids", violation.media_index]
                if violation.media_index is not None
                else [*part_where, "content"]
                if violation.rule in TEXT_RULES
                else part_where
            )
            found.append(
                error(loc, violation.message, rule=violation.rule, part=number + 1, **about)
            )
    return found


def _loc(where: list[str | int], violation: Violation) -> list[str | int]:
    if violation.media_index is not None:
        return ["body", "media_ids", violation.media_index]
    if violation.rule in TEXT_RULES:
        return [*where, "content"]
    return where


async def quota_warnings(
    session: AsyncSession, settings: Settings, organization_id: uuid.UUID, adding: int
) -> list[dict[str, str]]:
    """A warning when publishing `adding` more targets would pass this month's quota: the post
    is accepted, but what doesn't fit fails with `quota_exceeded` when it is due."""
    organization = await session.get(Organization, organization_id)
    if organization is None:
        return []
    plan = plans.plan_for(settings, organization.tier)
    cap = plan.limits[plans.Limit.PUBLISHED_POSTS]
    used = await plans.used(session, organization_id, plans.Limit.PUBLISHED_POSTS)
    if used + adding <= cap:
        return []
    return [
        {
            "code": "quota_exceeded",
            "message": (
                f"The {plan.name} plan includes {cap} published posts a month and {used} are "
                f"used: publishing {adding} more would pass it, and what doesn't fit will fail "
                "when due. Upgrade the plan to raise the limit."
            ),
        }
    ]


def schedule_errors(when: datetime | None, *, required: bool) -> list[dict[str, Any]]:
    where: list[str | int] = ["body", "scheduled_at"]
    if when is None:
        return [error(where, "A scheduled post needs scheduled_at.")] if required else []
    now = clock.now()
    if required and when < now - SCHEDULE_GRACE:
        return [error(where, "scheduled_at is in the past; pick a time from now on.")]
    if when > now + FURTHEST_AHEAD:
        return [error(where, "scheduled_at is more than five years ahead.")]
    return []


def is_scheduling(fields: PostIn) -> bool:
    """Whether the new post is to be scheduled: asked outright, or implied by a time."""
    return fields.status == "scheduled" or (
        fields.status is None and fields.scheduled_at is not None
    )


def post_schedule_errors(fields: PostIn) -> list[dict[str, Any]]:
    """The problems of a new post's schedule: its time, and an account to publish to."""
    if not is_scheduling(fields):
        return schedule_errors(fields.scheduled_at, required=False)
    errors = schedule_errors(fields.scheduled_at, required=True)
    if not fields.targets:
        errors.append(error(["body", "targets"], "A scheduled post needs at least one account."))
    return errors


async def ai_usage(
    session: AsyncSession,
    organization_id: uuid.UUID,
    ai_call_id: uuid.UUID | None,
    errors: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """A post's `ai`: the model and tokens of the AI call that wrote it, which must be one of
    the organization's calls that succeeded."""
    if ai_call_id is None:
        return None
    call = await session.get(AiCall, ai_call_id)
    if call is None or call.organization_id != organization_id or call.outcome != "ok":
        errors.append(
            error(["body", "ai_call_id"], "No successful AI call of this organization has this id.")
        )
        return None
    return {
        "model": call.model,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
    }


async def checked_content(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    brand: Brand,
    content: str,
    media_ids: Sequence[uuid.UUID],
    wanted: Sequence[TargetIn],
    errors: list[dict[str, Any]],
    *,
    raising: bool = True,
    known: Known | None = None,
) -> tuple[list[TargetDraft], list[MediaAsset]]:
    """The targets and media as they will be, each checked against its account and network;
    422 listing every problem (plus those already in `errors`) if there is one, unless
    `raising` is false (a dry run): then the usable targets, the problems left in `errors`.
    `known`: the accounts and media already read (else they are read here)."""
    in_threads = thread_media_ids(wanted)
    if known is None:
        known = await known_of(
            session,
            principal,
            {target.social_account_id for target in wanted},
            set(media_ids) | in_threads,
        )
    elif missing := in_threads - known.assets.keys():
        known = Known(
            accounts=known.accounts,
            assets={**known.assets, **(await known_of(session, principal, (), missing)).assets},
        )
    return content_of(
        runtime, brand, content, media_ids, wanted, errors, known=known, raising=raising
    )


def content_of(
    runtime: Runtime,
    brand: Brand,
    content: str,
    media_ids: Sequence[uuid.UUID],
    wanted: Sequence[TargetIn],
    errors: list[dict[str, Any]],
    *,
    known: Known,
    raising: bool = True,
) -> tuple[list[TargetDraft], list[MediaAsset]]:
    """`checked_content` with every account and media already in `known`."""
    accounts = _accounts(known, brand, wanted, errors)
    assets = _assets(known, brand, media_ids, errors)
    drafts = [
        TargetDraft(
            index=index,
            social_account_id=account.id,
            platform=account.platform,
            text=_text_of(wanted[index], content),
            options=dict(wanted[index].options),
            capabilities=dict(account.capabilities or {}),
            thread=tuple(
                (part.content, tuple(part.media_ids)) for part in wanted[index].thread or []
            ),
        )
        for index, account in accounts.items()
    ]
    if len(assets) == len(media_ids):
        items = [media_item(runtime, asset) for asset in assets]
        for draft in drafts:
            errors += target_errors(draft, items)
    for draft in drafts:
        parts_media: list[list[MediaItem] | None] = []
        for number, (_, part_media_ids) in enumerate(draft.thread):
            where: list[str | int] = ["body", "targets", draft.index, "thread", number, "media_ids"]
            part_assets = _assets(known, brand, part_media_ids, errors, where)
            usable = len(part_assets) == len(part_media_ids)
            parts_media.append(
                [media_item(runtime, asset) for asset in part_assets] if usable else None
            )
        errors += thread_errors(draft, parts_media)
    if errors and raising:
        raise ValidationFailed(_summary(errors), errors=errors)
    return drafts, assets


def _text_of(target: TargetIn, content: str) -> str:
    return target.content if target.content is not None else content


def _summary(errors: list[dict[str, Any]]) -> str:
    first = errors[0]["msg"]
    more = len(errors) - 1
    return first if not more else f"{first} (and {more} more problem{'s' if more > 1 else ''})"


def _accounts(
    known: Known,
    brand: Brand,
    wanted: Sequence[TargetIn],
    errors: list[dict[str, Any]],
) -> dict[int, SocialAccount]:
    """The usable account of each wanted target, by index; problems go to `errors`."""
    found = known.accounts
    usable: dict[int, SocialAccount] = {}
    seen: set[uuid.UUID] = set()
    for index, target in enumerate(wanted):
        where: list[str | int] = ["body", "targets", index, "social_account_id"]
        account = found.get(target.social_account_id)
        problem = None
        if target.social_account_id in seen:
            problem = "This account is already a target of the post."
        elif account is None:
            problem = "No such social account."
        elif account.brand_id != brand.id:
            problem = "This account belongs to another brand than the post's."
        elif account.status is AccountStatus.REAUTH_REQUIRED:
            name = registry.display_name(account.platform)
            problem = f"This {name} account needs reconnecting before it can post."
        elif account.status is not AccountStatus.ACTIVE:
            problem = f"This {registry.display_name(account.platform)} account is disconnected."
        seen.add(target.social_account_id)
        if problem is not None:
            errors.append(error(where, problem, rule="account", target=index))
        elif account is not None:
            usable[index] = account
    return usable


def _assets(
    known: Known,
    brand: Brand,
    media_ids: Sequence[uuid.UUID],
    errors: list[dict[str, Any]],
    at: Sequence[str | int] = ("body", "media_ids"),
) -> list[MediaAsset]:
    """The post's (or a thread part's) media in order; problems go to `errors`, at `at`."""
    found = known.assets
    assets: list[MediaAsset] = []
    for index, media_id in enumerate(media_ids):
        asset = found.get(media_id)
        where: list[str | int] = [*at, index]
        if media_id in media_ids[:index]:
            errors.append(error(where, "This media is already in the post."))
        elif asset is None or asset.brand_id != brand.id:
            errors.append(error(where, "No such media in this brand's library."))
        elif asset.status is not MediaStatus.READY:
            errors.append(error(where, "This upload isn't complete yet."))
        else:
            assets.append(asset)
    return assets
