"""The plans and their limits, as data, and the one check every limited action goes through.

Defaults are DESIGN.md's table; `T21_PLAN_LIMITS` overrides any of them, e.g.
`{"pro": {"brands": 10}, "free": {"published_posts": 50}}`. A limited action calls `enforce()`
in its transaction before it adds anything: over the limit is a 402 `quota_exceeded` naming the
limit, the usage and the tier. On PostgreSQL the organization's row is locked for the rest of the
transaction, so two concurrent additions can't both take the last unit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.billing import usage
from t21.brands.models import Brand
from t21.core import clock
from t21.core.errors import NotFound, QuotaExceeded
from t21.core.settings import Settings
from t21.organizations.models import Invitation, Membership, Organization
from t21.social.models import AccountStatus, SocialAccount


class Tier(StrEnum):
    FREE = "free"
    PRO = "pro"
    BUSINESS = "business"


class Limit(StrEnum):
    BRANDS = "brands"
    SOCIAL_ACCOUNTS = "social_accounts"
    PUBLISHED_POSTS = "published_posts"  # per calendar month, counted per published target
    AI_CREDITS = "ai_credits"  # per calendar month; 1 credit ≈ 1,000 tokens
    SEATS = "seats"  # members and pending invitations


LIMIT_NAMES = {
    Limit.BRANDS: "brands",
    Limit.SOCIAL_ACCOUNTS: "connected social accounts",
    Limit.PUBLISHED_POSTS: "published posts this month",
    Limit.AI_CREDITS: "AI credits this month",
    Limit.SEATS: "team seats",
}
# The same, counted one: "1 brand", not "1 brands".
LIMIT_NAMES_ONE = {
    Limit.BRANDS: "brand",
    Limit.SOCIAL_ACCOUNTS: "connected social account",
    Limit.PUBLISHED_POSTS: "published post this month",
    Limit.AI_CREDITS: "AI credit this month",
    Limit.SEATS: "team seat",
}


def counted(amount: int, limit: Limit) -> str:
    """`amount` of `limit`'s unit, in words a person reads: "1 brand", "3 team seats"."""
    return f"{amount} {LIMIT_NAMES_ONE[limit] if amount == 1 else LIMIT_NAMES[limit]}"


@dataclass(frozen=True)
class Plan:
    tier: Tier
    name: str
    price_minor: int  # per month, in pence
    currency: str
    limits: dict[Limit, int]
    # "small": the small, fast models only; "all": any model the AI settings allow.
    ai_models: Literal["small", "all"]


DEFAULT_PLANS: dict[Tier, Plan] = {
    Tier.FREE: Plan(
        Tier.FREE,
        "Free",
        0,
        "gbp",
        {
            Limit.BRANDS: 1,
            Limit.SOCIAL_ACCOUNTS: 3,
            Limit.PUBLISHED_POSTS: 30,
            Limit.AI_CREDITS: 50,
            Limit.SEATS: 1,
        },
        "small",
    ),
    Tier.PRO: Plan(
        Tier.PRO,
        "Pro",
        700,
        "gbp",
        {
            Limit.BRANDS: 5,
            Limit.SOCIAL_ACCOUNTS: 15,
            Limit.PUBLISHED_POSTS: 500,
            Limit.AI_CREDITS: 1_000,
            Limit.SEATS: 3,
        },
        "all",
    ),
    Tier.BUSINESS: Plan(
        Tier.BUSINESS,
        "Business",
        3500,
        "gbp",
        {
            Limit.BRANDS: 25,
            Limit.SOCIAL_ACCOUNTS: 75,
            Limit.PUBLISHED_POSTS: 5_000,
            Limit.AI_CREDITS: 10_000,
            Limit.SEATS: 15,
        },
        "all",
    ),
}


def plans(settings: Settings) -> dict[Tier, Plan]:
    """Every plan, with the limits `T21_PLAN_LIMITS` overrides."""
    overrides = settings.plan_limits or {}
    result = dict(DEFAULT_PLANS)
    for tier_name, limits in overrides.items():
        tier = Tier(tier_name)
        merged = {**result[tier].limits, **{Limit(name): value for name, value in limits.items()}}
        result[tier] = replace(result[tier], limits=merged)
    return result


def plan_for(settings: Settings, tier: str) -> Plan:
    """The plan of an organization's tier (an unknown tier is treated as free)."""
    try:
        return plans(settings)[Tier(tier)]
    except ValueError:
        return plans(settings)[Tier.FREE]


async def used(session: AsyncSession, organization_id: uuid.UUID, limit: Limit) -> int:
    """How much of `limit` the organization uses now."""
    if limit is Limit.BRANDS:
        statement = select(func.count()).where(Brand.organization_id == organization_id)
    elif limit is Limit.SOCIAL_ACCOUNTS:
        statement = select(func.count()).where(
            SocialAccount.organization_id == organization_id,
            SocialAccount.status != AccountStatus.DISCONNECTED,
        )
    elif limit is Limit.SEATS:
        members = await session.scalar(
            select(func.count()).where(Membership.organization_id == organization_id)
        )
        pending = await session.scalar(
            select(func.count()).where(
                Invitation.organization_id == organization_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > clock.now(),
            )
        )
        return int(members or 0) + int(pending or 0)
    else:
        counted = await usage.usage(session, organization_id)
        return counted[usage.Metric(limit.value)]
    return int(await session.scalar(statement) or 0)


async def enforce(
    session: AsyncSession,
    settings: Settings,
    organization_id: uuid.UUID,
    limit: Limit,
    adding: int = 1,
) -> None:
    """Refuse (402 `quota_exceeded`) an action that would take the organization past its
    plan's `limit`; locks the organization's row until the transaction ends on PostgreSQL."""
    statement = select(Organization).where(Organization.id == organization_id)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    organization = await session.scalar(statement)
    if organization is None:
        raise NotFound("No such organization.")
    plan = plan_for(settings, organization.tier)
    cap = plan.limits[limit]
    current = await used(session, organization_id, limit)
    if current + adding > cap:
        raise QuotaExceeded(
            f"The {plan.name} plan includes {counted(cap, limit)}; this organization uses "
            f"{current}. Upgrade the plan to add more.",
            limit=limit.value,
            used=current,
            allowed=cap,
            tier=plan.tier.value,
        )
