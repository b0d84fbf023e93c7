"""Writing audit entries in the caller's transaction, and reading them back.

Every action that changes who or what can act for an organization (members, roles, invitations,
API keys, connected accounts, webhook endpoints, billing), or removes its data, calls `record`
with the actor that did it: the signed-in user, the API key, a staff member, or T21 itself.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from t21.audit.models import AuditEntry
from t21.core import clock
from t21.core.errors import ValidationFailed
from t21.core.pagination import Key, PageRequest, encode_cursor
from t21.core.runtime import Runtime
from t21.core.spreadsheet import csv_line
from t21.core.uow import session_scope
from t21.identity.models import User
from t21.organizations.models import Membership
from t21.organizations.tenancy import Principal

# Every action the log records, with what it means (the README's catalogue is this table).
ACTIONS: dict[str, str] = {
    "organization.renamed": "the organization's name changed (details: from, to)",
    "organization.two_factor_required": "members must (or no longer must) have two factors on",
    "passkey.registered": "a member registered a passkey (details: passkey_id, name)",
    "passkey.removed": "a member removed a passkey (details: passkey_id, name)",
    "passkey.clone_suspected": "a member's passkey presented a signature counter that didn't "
    "grow, as a copied key's does; the sign-in was refused (details: passkey_id, name)",
    "totp.enabled": "a member turned on two-factor sign-in with an authenticator app (confirmed "
    "with a first code; ten recovery codes were issued)",
    "totp.disabled": "a member turned the authenticator app off, and their recovery codes with "
    "it (details: proof)",
    "recovery_codes.regenerated": "a member replaced their recovery codes with ten new ones "
    "(details: proof)",
    "recovery_code.used": "one of a member's recovery codes was spent, to sign in or to prove a "
    "change (details: remaining)",
    "member.joined": "someone joined by accepting an invitation (details: role)",
    "member.role_changed": "a member's role changed (details: from, to)",
    "member.removed": "a member was removed, or left (details: role, left)",
    "invitation.created": "an invitation was sent (details: email, role)",
    "invitation.revoked": "an invitation was withdrawn (details: email)",
    "api_key.created": "an API key was created (details: name, role)",
    "api_key.revoked": "an API key was revoked, by hand or with its creator's membership",
    "social_account.connected": "a social account was connected or reconnected",
    "social_account.removed": "a social account was disconnected",
    "webhook.created": "a webhook endpoint was added (details: url)",
    "webhook.updated": "a webhook endpoint's URL, types or state changed",
    "webhook.secret_rotated": "a webhook endpoint's signing secret was rotated",
    "webhook.deleted": "a webhook endpoint was deleted",
    "subscription.changed": "the plan or the subscription's status changed (details: from, to)",
    "subscription.cancellation_requested": "an owner cancelled the subscription at period end",
    "brand.deleted": "a brand and its posts were deleted",
    "post.approved": "a post was approved, by an admin or through a review link (details: comment)",
    "post.rejected": "a post was rejected (details: comment)",
    "post.approval_cancelled": "a post waiting for approval was cancelled, closing its approval",
    "post.deleted": "a post was deleted",
    "media.deleted": "a media file was deleted",
    "staff.granted": "a user became T21 staff (entered in their personal organization)",
    "staff.revoked": "a user stopped being T21 staff (entered in their personal organization)",
    "target.resolved": "staff settled a target in review (details: outcome, action, external_id)",
    "target.retried": "staff sent a failed or doubtful target out again (details: from)",
    "webhook.delivery_retried": "staff sent a webhook delivery again (details: event_type, from)",
}


@dataclass(frozen=True)
class Actor:
    """Who acted: `user`, `api_key`, `staff` (T21's operators) or `system` (T21 itself, or an
    outside service it acts on, such as Stripe's events)."""

    type: str
    id: str | None
    name: str | None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        if principal.api_key is not None:
            return cls("api_key", str(principal.api_key.id), principal.api_key.name)
        if principal.staff and principal.user is not None:
            return cls.staff(principal.user)
        if principal.user is not None:
            return cls.user(principal.user)
        return SYSTEM

    @classmethod
    def user(cls, user: User) -> Actor:
        return cls("user", str(user.id), user.name or user.email)

    @classmethod
    def staff(cls, user: User) -> Actor:
        return cls("staff", str(user.id), user.name or user.email)


SYSTEM = Actor("system", None, "T21")
# Changes Stripe reports (its events, or its answer to a checkout or a cancellation).
STRIPE = Actor("system", None, "Stripe")


async def record(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str | None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one entry to the caller's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(
        organization_id=organization_id,
        at=clock.now(),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        details=details or {},
    )
    session.add(entry)
    return entry


async def record_for_member(
    session: AsyncSession,
    *,
    user: User,
    actor: Actor,
    action: str,
    details: dict[str, Any] | None = None,
) -> None:
    """One entry per organization `user` belongs to, for a change to how they sign in (a second
    factor, a passkey): it decides who can act for each of them, so each one hears."""
    organization_ids = await session.scalars(
        select(Membership.organization_id).where(Membership.user_id == user.id)
    )
    for organization_id in organization_ids:
        await record(
            session,
            organization_id=organization_id,
            actor=actor,
            action=action,
            target_type="user",
            target_id=user.id,
            details=details,
        )


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def check_filter(criteria: AuditFilter) -> None:
    if criteria.action is not None and criteria.action not in ACTIONS:
        message = f"Unknown action {criteria.action!r}: one of {', '.join(sorted(ACTIONS))}."
        raise ValidationFailed(
            message, errors=[{"loc": ["query", "action"], "msg": message, "rule": "unknown_action"}]
        )
    if (
        criteria.since is not None
        and criteria.until is not None
        and criteria.since > criteria.until
    ):
        message = "`from` must not be after `to`."
        raise ValidationFailed(message, errors=[{"loc": ["query", "from"], "msg": message}])


def _selection(organization_id: uuid.UUID, criteria: AuditFilter) -> Select[AuditEntry]:
    statement = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if criteria.action is not None:
        statement = statement.where(AuditEntry.action == criteria.action)
    if criteria.actor_id is not None:
        statement = statement.where(AuditEntry.actor_id == criteria.actor_id)
    if criteria.since is not None:
        statement = statement.where(AuditEntry.at >= criteria.since)
    if criteria.until is not None:
        statement = statement.where(AuditEntry.at < criteria.until)
    return statement


def _before(statement: Select[AuditEntry], at: datetime, id_: str) -> Select[AuditEntry]:
    return statement.where(
        tuple_(AuditEntry.at, AuditEntry.id) < tuple_(literal(at, AuditEntry.at.type), literal(id_))
    )


async def list_entries(
    session: AsyncSession, organization_id: uuid.UUID, page: PageRequest, criteria: AuditFilter
) -> tuple[list[AuditEntry], str | None]:
    """Newest first, a page at a time (keyset on `(organization_id, at, id)`)."""
    check_filter(criteria)
    statement = _selection(organization_id, criteria)
    if page.after is not None:
        statement = _before(statement, *_cursor_keys(page.after))
    rows = list(
        await session.scalars(
            statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(page.limit + 1)
        )
    )
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    return rows, encode_cursor([rows[-1].at, rows[-1].id])


EXPORT_BATCH = 500
EXPORT_COLUMNS = (
    "id",
    "at",
    "actor_type",
    "actor_id",
    "actor_name",
    "action",
    "target_type",
    "target_id",
    "details",
)


async def export(
    runtime: Runtime, organization_id: uuid.UUID, criteria: AuditFilter, format: str
) -> AsyncIterator[bytes]:
    """Every matching entry, newest first, as CSV lines or JSON lines. The body streams after the
    request's unit of work has closed, so each batch is read in its own short transaction."""
    if format == "csv":
        yield csv_line(EXPORT_COLUMNS)
    last: tuple[datetime, str] | None = None
    while True:
        statement = _selection(organization_id, criteria)
        if last is not None:
            statement = _before(statement, *last)
        async with session_scope(runtime) as session:
            rows = list(
                await session.scalars(
                    statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(
                        EXPORT_BATCH
                    )
                )
            )
        if format == "csv":
            yield b"".join(csv_line(_csv_cells(row)) for row in rows)
        else:
            yield b"".join(json.dumps(entry_payload(row)).encode() + b"\n" for row in rows)
        if len(rows) < EXPORT_BATCH:
            return
        last = (rows[-1].at, rows[-1].id)


def _csv_cells(entry: AuditEntry) -> list[Any]:
    return [
        entry.id,
        rfc3339(entry.at),
        entry.actor_type,
        entry.actor_id,
        entry.actor_name,
        entry.action,
        entry.target_type,
        entry.target_id,
        json.dumps(entry.details, sort_keys=True) if entry.details else "",
    ]


def _cursor_keys(keys: tuple[Key, ...]) -> tuple[datetime, str]:
    if len(keys) == 2 and isinstance(keys[0], datetime) and isinstance(keys[1], str):
        return keys[0], keys[1]
    message = "Invalid cursor: pass back the next_cursor of a previous page."
    raise ValidationFailed(message, errors=[{"loc": ["query", "cursor"], "msg": message}])


async def purge_expired(session: AsyncSession, *, retention_days: int, limit: int) -> int:
    """Delete up to `limit` entries older than the retention period; how many went."""
    cutoff = clock.now() - timedelta(days=retention_days)
    ids = list(
        await session.scalars(
            select(AuditEntry.id).where(AuditEntry.at < cutoff).order_by(AuditEntry.at).limit(limit)
        )
    )
    if ids:
        await session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
    return len(ids)


def entry_payload(entry: AuditEntry) -> dict[str, Any]:
    """The entry as the API lists and exports it."""
    return {
        "id": entry.id,
        "at": rfc3339(entry.at),
        "actor": {"type": entry.actor_type, "id": entry.actor_id, "name": entry.actor_name},
        "action": entry.action,
        "target": {"type": entry.target_type, "id": entry.target_id},
        "details": entry.details,
    }


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
