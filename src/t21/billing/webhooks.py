"""Stripe's webhooks: verified, stored in the inbox, then processed once each.

`receive` checks the signature over the raw body, then inserts the event keyed by its id
(insert-or-ignore: a second delivery changes nothing) before T21 answers 200, and sends a job.
`process` claims the event (compare-and-set, with a lease), reads the subscription it concerns
from Stripe, and in one transaction applies it and marks the event processed, so each event
takes effect once. A subscription is applied only to the organization whose own Stripe customer
(the one T21 created before Checkout) Stripe says holds it; an event for anyone else's, or one
naming another organization than that, is kept in the inbox with the reason and ignored.
A job that is lost or fails leaves the event to the loop, which sends another after
`REQUEUE_AFTER`, with backoff when Stripe can't be reached.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from t21.billing.models import BillingAccount, StripeEvent
from t21.billing.plans import plan_for
from t21.billing.stripe_gateway import (
    StripeMissing,
    StripeTarget,
    call,
    client,
    plain,
    signature_valid,
    target,
)
from t21.billing.subscriptions import SubscriptionState, apply_state
from t21.core import clock
from t21.core.backoff import full_jitter
from t21.core.db import for_claim
from t21.core.errors import BadRequest, Unavailable
from t21.core.ids import uuid7
from t21.core.logging import get_logger
from t21.core.outside import OutsideFailure
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.identity.models import User
from t21.notifications.service import queue_email
from t21.organizations.models import Membership, Organization
from t21.organizations.permissions import Role
from t21.worker.jobs import enqueue

log = get_logger("t21.billing")

PROCESS_JOB = "billing.process_stripe_event"
# An event whose job hasn't processed it by then is sent to a job again by the loop.
REQUEUE_AFTER = timedelta(seconds=60)
CLAIM_LEASE = timedelta(seconds=120)
RETRY_BASE_S = 30.0
RETRY_MAX_S = 3600.0
MAX_ATTEMPTS = 25
MAX_ERROR_LENGTH = 1000
# Events about an organization's billing even without a subscription: ignoring one is noted.
NOTED_KINDS = frozenset({"checkout.session.completed", "invoice.payment_failed"})


async def receive(runtime: Runtime, payload: bytes, signature: str | None) -> bool:
    """Verify and store one delivery; True if the event is new. Nothing is stored for a
    delivery that isn't signed by Stripe within the last 5 minutes (400)."""
    stripe_target = target(runtime)
    if not stripe_target.webhook_secrets:
        raise Unavailable(
            "Stripe webhooks aren't configured on this server: an operator must set "
            "T21_STRIPE_WEBHOOK_SECRETS."
        )
    if not signature_valid(payload, signature, stripe_target.webhook_secrets):
        raise BadRequest("The Stripe-Signature header is missing, stale or doesn't match.")
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadRequest("The body is not JSON.") from None
    valid = (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 255
        and isinstance(event.get("type"), str)
        and len(event["type"]) <= 100
        and isinstance(event.get("data"), dict)
    )
    if not valid:
        raise BadRequest("The body is not a Stripe event.")
    now = clock.now()
    async with session_scope(runtime) as session:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(StripeEvent)
            .values(
                id=event["id"],
                type=event["type"],
                payload=event,
                received_at=now,
                not_before=now + REQUEUE_AFTER,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=[StripeEvent.id])
            .returning(StripeEvent.id)
        )
        inserted = await session.scalar(statement)
        if inserted is not None:
            enqueue(PROCESS_JOB, event_id=event["id"])
    return inserted is not None


async def process(runtime: Runtime, event_id: str) -> None:
    """Apply one stored event, unless it was processed or another worker holds it."""
    token = uuid7()
    now = clock.now()
    async with session_scope(runtime) as session:
        claimed = (
            await session.execute(
                update(StripeEvent)
                .where(
                    StripeEvent.id == event_id,
                    StripeEvent.processed_at.is_(None),
                    or_(StripeEvent.claimed_until.is_(None), StripeEvent.claimed_until < now),
                )
                .values(
                    claim_token=token,
                    claimed_until=now + CLAIM_LEASE,
                    attempts=StripeEvent.attempts + 1,
                )
                .returning(StripeEvent.type, StripeEvent.payload, StripeEvent.attempts)
                .execution_options(synchronize_session=False)
            )
        ).one_or_none()
    if claimed is None:
        return
    try:
        await _handle(runtime, event_id, token, claimed.type, claimed.payload)
    except OutsideFailure as failure:
        await _postpone(runtime, event_id, token, claimed.attempts, failure.message)


def _object_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if isinstance(value, str) and value else None


def _references(kind: str, obj: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The subscription, customer and organization (as T21 told Stripe) an event is about."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    hint = metadata.get("organization_id") if metadata else None
    customer = _object_id(obj.get("customer"))
    if kind == "checkout.session.completed":
        hint = obj.get("client_reference_id") or hint
        return _object_id(obj.get("subscription")), customer, hint
    if kind.startswith("customer.subscription."):
        return _object_id(obj.get("id")), customer, hint
    if kind.startswith("invoice."):
        parent = obj.get("parent") if isinstance(obj.get("parent"), dict) else {}
        details = (parent or {}).get("subscription_details") or {}
        subscription = obj.get("subscription") or details.get("subscription")
        return _object_id(subscription), customer, hint
    return None, customer, hint


async def _read_subscription(
    stripe_target: StripeTarget, subscription_id: str
) -> SubscriptionState | None:
    """The subscription as Stripe holds it now; None when Stripe has no such subscription."""
    try:
        async with client(stripe_target) as stripe_client:
            subscription = await call(
                stripe_client.v1.subscriptions.retrieve_async(subscription_id)
            )
    except StripeMissing:
        return None
    return SubscriptionState.of(plain(subscription))


async def _handle(
    runtime: Runtime, event_id: str, token: uuid.UUID, kind: str, payload: dict[str, Any]
) -> None:
    """Apply what Stripe says now about the subscription an event names, to the organization
    whose own Stripe customer (the one T21 created for it) holds that subscription. Nothing in
    the event is trusted to pick the organization: an event whose subscription belongs to no
    customer of ours, or that names another organization than the customer's, is recorded and
    ignored."""
    stripe_target = target(runtime)
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    obj = (data or {}).get("object")
    obj = obj if isinstance(obj, dict) else {}
    subscription_id, customer, hint = _references(kind, obj)
    state: SubscriptionState | None = None
    read_at = clock.now()
    if subscription_id is not None:
        state = await _read_subscription(stripe_target, subscription_id)
    async with session_scope(runtime) as session:
        if not await _mark_processed(session, event_id, token):
            return
        if subscription_id is None:
            organization_id = await _organization_of_customer(session, customer)
        else:
            organization_id = await _organization_of_subscription(session, subscription_id, state)
            if state is None and organization_id is not None:
                # Gone from Stripe altogether: it pays for nothing any more.
                state = SubscriptionState(subscription_id, None, "canceled", None, None, False, {})
        if organization_id is None and subscription_id is None and kind not in NOTED_KINDS:
            return  # an event T21 has nothing to do with (a customer created, …)
        ignored = _why_ignored(subscription_id, organization_id, hint)
        if ignored is not None:
            log.warning("stripe event ignored", event_id=event_id, type=kind, reason=ignored)
            await _note(session, event_id, f"ignored: {ignored}")
            return
        assert organization_id is not None
        if state is not None:
            await apply_state(session, stripe_target, organization_id, state, read_at)
        if kind == "invoice.payment_failed":
            await _tell_owners(session, runtime.settings, organization_id)


def _why_ignored(
    subscription_id: str | None, organization_id: uuid.UUID | None, hint: str | None
) -> str | None:
    """Why an event changes nothing here, or None when it applies to `organization_id`."""
    if organization_id is None:
        if subscription_id is not None:
            return "its subscription's customer is no organization's own customer"
        return "its customer is no organization's own customer"
    if hint is not None and str(hint) != str(organization_id):
        return "it names another organization than the one its customer belongs to"
    return None


async def _note(session: AsyncSession, event_id: str, note: str) -> None:
    await session.execute(
        update(StripeEvent)
        .where(StripeEvent.id == event_id)
        .values(last_error=note[:MAX_ERROR_LENGTH])
        .execution_options(synchronize_session=False)
    )


async def _mark_processed(session: AsyncSession, event_id: str, token: uuid.UUID) -> bool:
    done = await session.execute(
        update(StripeEvent)
        .where(
            StripeEvent.id == event_id,
            StripeEvent.claim_token == token,
            StripeEvent.processed_at.is_(None),
        )
        .values(processed_at=clock.now(), claimed_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    return getattr(done, "rowcount", 0) == 1


async def _organization_of_customer(
    session: AsyncSession, customer: str | None
) -> uuid.UUID | None:
    """The organization whose own Stripe customer (created by T21) `customer` is."""
    if customer is None:
        return None
    found: uuid.UUID | None = await session.scalar(
        select(BillingAccount.organization_id).where(BillingAccount.stripe_customer_id == customer)
    )
    return found


async def _organization_of_subscription(
    session: AsyncSession, subscription_id: str, state: SubscriptionState | None
) -> uuid.UUID | None:
    """The organization a subscription belongs to: the one whose own customer Stripe says
    holds it; for a subscription Stripe no longer has, the organization it was applied to."""
    if state is not None:
        return await _organization_of_customer(session, state.customer_id)
    found: uuid.UUID | None = await session.scalar(
        select(BillingAccount.organization_id).where(
            BillingAccount.stripe_subscription_id == subscription_id
        )
    )
    return found


async def _tell_owners(
    session: AsyncSession, settings: Settings, organization_id: uuid.UUID
) -> None:
    organization = await session.get(Organization, organization_id)
    assert organization is not None
    owners = await session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == organization_id, Membership.role == Role.OWNER)
    )
    for email in owners:
        await queue_email(
            session,
            settings,
            to=email,
            template="payment_failed",
            context={
                "organization": organization.name,
                "plan": plan_for(settings, organization.tier).name,
                "link": f"{settings.resolved_frontend_url}/billing",
            },
        )


async def _postpone(
    runtime: Runtime, event_id: str, token: uuid.UUID, attempts: int, error: str
) -> None:
    """Let the loop try again later (with backoff), or give up after `MAX_ATTEMPTS`."""
    now = clock.now()
    values: dict[str, Any] = {
        "claim_token": None,
        "claimed_until": None,
        "last_error": error[:MAX_ERROR_LENGTH],
        "not_before": now
        + timedelta(seconds=full_jitter(attempts, base=RETRY_BASE_S, cap=RETRY_MAX_S)),
    }
    if attempts >= MAX_ATTEMPTS:
        values["processed_at"] = now
        log.error("stripe event abandoned", event_id=event_id, attempts=attempts, error=error)
    else:
        log.warning("stripe event postponed", event_id=event_id, attempts=attempts, error=error)
    async with session_scope(runtime) as session:
        await session.execute(
            update(StripeEvent)
            .where(StripeEvent.id == event_id, StripeEvent.claim_token == token)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def requeue_due(session: AsyncSession, *, limit: int) -> list[str]:
    """Claim events no job processed in time (lost, or waiting to retry) and push each one's
    next look `REQUEUE_AFTER` away; the caller sends them to jobs."""
    now: datetime = clock.now()
    due = list(
        await session.scalars(
            for_claim(
                select(StripeEvent.id)
                .where(
                    StripeEvent.processed_at.is_(None),
                    StripeEvent.not_before <= now,
                    or_(StripeEvent.claimed_until.is_(None), StripeEvent.claimed_until < now),
                )
                .order_by(StripeEvent.not_before)
                .limit(limit),
                session,
            )
        )
    )
    if due:
        await session.execute(
            update(StripeEvent)
            .where(StripeEvent.id.in_(due))
            .values(not_before=now + REQUEUE_AFTER)
            .execution_options(synchronize_session=False)
        )
    return due
