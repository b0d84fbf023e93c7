"""What the console's pages read: across every organization, for staff only (the router checks).

Lists are newest first, a page at a time: `before` is the last id of the previous page (ids are
UUIDv7, so id order is creation order) and each query reads one row more than it shows to know
whether another page follows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit import service as audit
from t21.audit.models import AuditEntry
from t21.billing import subscriptions
from t21.brands.models import Brand
from t21.core import clock, metrics
from t21.core.pagination import PageRequest
from t21.core.settings import Settings
from t21.identity.models import User
from t21.notifications.models import EmailStatus, OutboundEmail
from t21.organizations.models import Membership, Organization
from t21.organizations.tenancy import Principal
from t21.posts.models import PostTarget, TargetStatus
from t21.social.models import AccountStatus, SocialAccount
from t21.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from t21.worker.loops import registered_loops

PAGE = 50
SEARCH_LIMIT = 25
# A token that dies within this long and can't be refreshed is shown as expiring.
EXPIRING = timedelta(days=3)
# The pipeline's columns: "due" is a scheduled target whose time has come (the dispatcher's
# next claim), the others are target statuses.
PIPELINE = ("due", "queued", "publishing", "retrying", "needs_review", "failed")
PROBLEM_STATUSES = ("retrying", "needs_review", "failed")


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_before: uuid.UUID | None


async def _page(
    session: AsyncSession,
    statement: Select[*tuple[Any, ...]],
    id_column: Any,
    before: uuid.UUID | None,
) -> tuple[list[Any], uuid.UUID | None]:
    if before is not None:
        statement = statement.where(id_column < before)
    rows = list((await session.execute(statement.order_by(id_column.desc()).limit(PAGE + 1))).all())
    if len(rows) <= PAGE:
        return rows, None
    rows = rows[:PAGE]
    return rows, rows[-1][0].id


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


# --- search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserHit:
    user: User
    memberships: list[tuple[Organization, str]]


@dataclass(frozen=True)
class SearchResults:
    users: list[UserHit]
    organizations: list[Organization]


async def search(session: AsyncSession, query: str) -> SearchResults:
    """Users by email or name, organizations by name or slug (or either by exact id)."""
    query = query.strip()
    if not query:
        return SearchResults([], [])
    pattern = _like(query)
    exact: uuid.UUID | None
    try:
        exact = uuid.UUID(query)
    except ValueError:
        exact = None
    user_match = or_(
        func.lower(User.email).like(pattern, escape="\\"),
        func.lower(User.name).like(pattern, escape="\\"),
    )
    org_match = or_(
        func.lower(Organization.name).like(pattern, escape="\\"),
        func.lower(Organization.slug).like(pattern, escape="\\"),
    )
    if exact is not None:
        user_match = or_(user_match, User.id == exact)
        org_match = or_(org_match, Organization.id == exact)
    users = list(
        await session.scalars(
            select(User).where(user_match).order_by(User.email).limit(SEARCH_LIMIT)
        )
    )
    memberships: dict[uuid.UUID, list[tuple[Organization, str]]] = defaultdict(list)
    if users:
        rows = await session.execute(
            select(Membership.user_id, Organization, Membership.role)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Membership.user_id.in_([user.id for user in users]))
            .order_by(Organization.name)
        )
        for user_id, organization, role in rows:
            memberships[user_id].append((organization, role.value))
    organizations = list(
        await session.scalars(
            select(Organization).where(org_match).order_by(Organization.name).limit(SEARCH_LIMIT)
        )
    )
    return SearchResults([UserHit(user, memberships[user.id]) for user in users], organizations)


# --- an organization -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountHealth:
    account: SocialAccount
    brand: str
    health: str  # ok | expiring | expired | reconnect | disconnected


def token_health(account: SocialAccount, now: datetime) -> str:
    if account.status is AccountStatus.DISCONNECTED:
        return "disconnected"
    if account.status is AccountStatus.REAUTH_REQUIRED:
        return "reconnect"
    refreshable = account.refresh_token_encrypted is not None and (
        account.refresh_expires_at is None or account.refresh_expires_at > now
    )
    expires = account.token_expires_at
    if expires is None or refreshable:
        return "ok"
    if expires <= now:
        return "expired"
    return "expiring" if expires - now < EXPIRING else "ok"


@dataclass(frozen=True)
class OrganizationDetail:
    organization: Organization
    subscription: subscriptions.SubscriptionView
    members: list[tuple[User, str]]
    accounts: list[AccountHealth]
    audit: list[AuditEntry]
    pipeline: dict[str, int]


async def organization(
    session: AsyncSession, settings: Settings, staff: User, organization_id: uuid.UUID
) -> OrganizationDetail | None:
    found = await session.get(Organization, organization_id)
    if found is None:
        return None
    principal = Principal.for_staff(staff, organization_id)
    subscription = await subscriptions.current(session, settings, principal, organization_id)
    members = [
        (user, role.value)
        for user, role in await session.execute(
            select(User, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organization_id == organization_id)
            .order_by(Membership.role, User.email)
        )
    ]
    now = clock.now()
    accounts = [
        AccountHealth(account, brand, token_health(account, now))
        for account, brand in await session.execute(
            select(SocialAccount, Brand.name)
            .join(Brand, Brand.id == SocialAccount.brand_id)
            .where(SocialAccount.organization_id == organization_id)
            .order_by(Brand.name, SocialAccount.platform)
        )
    ]
    entries, _ = await audit.list_entries(
        session, organization_id, PageRequest(limit=20, after=None), audit.AuditFilter()
    )
    counts = await pipeline_counts(session, organization_id)
    totals = {column: sum(row.get(column, 0) for row in counts.values()) for column in PIPELINE}
    return OrganizationDetail(found, subscription, members, accounts, entries, totals)


# --- the publishing pipeline ---------------------------------------------------------------------


async def pipeline_counts(
    session: AsyncSession, organization_id: uuid.UUID | None = None
) -> dict[str, dict[str, int]]:
    """{network: {column: count}} for the pipeline's columns."""
    now = clock.now()
    statuses = [TargetStatus(name) for name in PIPELINE if name != "due"]
    counted = select(PostTarget.platform, PostTarget.status, func.count()).where(
        PostTarget.status.in_(statuses)
    )
    due = select(PostTarget.platform, func.count()).where(
        PostTarget.status == TargetStatus.SCHEDULED, PostTarget.due_at <= now
    )
    if organization_id is not None:
        counted = counted.where(PostTarget.organization_id == organization_id)
        due = due.where(PostTarget.organization_id == organization_id)
    table: dict[str, dict[str, int]] = defaultdict(dict)
    for platform, status, count in await session.execute(
        counted.group_by(PostTarget.platform, PostTarget.status)
    ):
        table[platform][status.value] = int(count)
    for platform, count in await session.execute(due.group_by(PostTarget.platform)):
        table[platform]["due"] = int(count)
    return dict(sorted(table.items()))


async def failure_reasons(
    session: AsyncSession, organization_id: uuid.UUID | None = None
) -> list[tuple[str, str, str, int]]:
    """(status, network, error code, count) of the targets in trouble, most frequent first."""
    statement = (
        select(PostTarget.status, PostTarget.platform, PostTarget.last_error_code, func.count())
        .where(PostTarget.status.in_([TargetStatus(name) for name in PROBLEM_STATUSES]))
        .group_by(PostTarget.status, PostTarget.platform, PostTarget.last_error_code)
        .order_by(func.count().desc())
    )
    if organization_id is not None:
        statement = statement.where(PostTarget.organization_id == organization_id)
    return [
        (status.value, platform, code or "-", int(count))
        for status, platform, code, count in await session.execute(statement)
    ]


@dataclass(frozen=True)
class TargetFilter:
    status: str = "needs_review"
    platform: str | None = None
    organization_id: uuid.UUID | None = None
    before: uuid.UUID | None = None


@dataclass(frozen=True)
class TargetRow:
    target: PostTarget
    organization: Organization


async def targets(session: AsyncSession, criteria: TargetFilter) -> Page[TargetRow]:
    statement = select(PostTarget, Organization).join(
        Organization, Organization.id == PostTarget.organization_id
    )
    if criteria.status == "due":
        statement = statement.where(
            PostTarget.status == TargetStatus.SCHEDULED, PostTarget.due_at <= clock.now()
        )
    else:
        statement = statement.where(PostTarget.status == TargetStatus(criteria.status))
    if criteria.platform:
        statement = statement.where(PostTarget.platform == criteria.platform)
    if criteria.organization_id is not None:
        statement = statement.where(PostTarget.organization_id == criteria.organization_id)
    rows, next_before = await _page(session, statement, PostTarget.id, criteria.before)
    return Page([TargetRow(target, org) for target, org in rows], next_before)


# --- loops, webhooks, emails ---------------------------------------------------------------------


@dataclass(frozen=True)
class LoopState:
    name: str
    interval_s: float
    last_success: datetime | None
    errors: int = field(default=0)


def loops(settings: Settings) -> list[LoopState]:
    """Every registered loop with what this process's loop runner recorded (its /metrics)."""
    last: dict[str, float] = {}
    for family in metrics.LOOP_LAST_SUCCESS.collect():
        for sample in family.samples:
            last[sample.labels["loop"]] = sample.value
    errors: dict[str, float] = {}
    for family in metrics.LOOP_ITERATIONS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("outcome") == "error":
                errors[sample.labels["loop"]] = sample.value
    states = []
    for name, loop in sorted(registered_loops().items()):
        seen = last.get(name)
        states.append(
            LoopState(
                name=name,
                interval_s=loop.interval(settings),
                last_success=datetime.fromtimestamp(seen, tz=clock.now().tzinfo) if seen else None,
                errors=int(errors.get(name, 0)),
            )
        )
    return states


@dataclass(frozen=True)
class DeliveryRow:
    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    organization: Organization


async def deliveries(
    session: AsyncSession, status: str | None, before: uuid.UUID | None
) -> Page[DeliveryRow]:
    statement = (
        select(WebhookDelivery, WebhookEndpoint, Organization)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(Organization, Organization.id == WebhookEndpoint.organization_id)
    )
    if status:
        statement = statement.where(WebhookDelivery.status == DeliveryStatus(status))
    rows, next_before = await _page(session, statement, WebhookDelivery.id, before)
    return Page([DeliveryRow(*row) for row in rows], next_before)


async def emails(
    session: AsyncSession, status: str | None, before: uuid.UUID | None
) -> Page[OutboundEmail]:
    """The outbox's rows (never their bodies: they may hold single-use links)."""
    statement = select(OutboundEmail)
    if status:
        statement = statement.where(OutboundEmail.status == EmailStatus(status))
    rows, next_before = await _page(session, statement, OutboundEmail.id, before)
    return Page([row[0] for row in rows], next_before)
