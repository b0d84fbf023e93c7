"""Queueing and delivering email through the outbox.

`queue_email` renders the email and stores it in the caller's transaction; the delivery job is
sent only if that transaction commits. Delivery claims the row with a compare-and-set, sends
outside any transaction, then records the outcome under the claim's token, so a second copy
of the job, or a worker whose lease ran out, can't send twice or overwrite a newer outcome.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.backoff import full_jitter
from t21.core.db import for_claim
from t21.core.ids import uuid7
from t21.core.outside import OutsideFailure, Permanent, Retryable
from t21.core.settings import Settings
from t21.notifications.backends import OutgoingMessage
from t21.notifications.models import EmailStatus, OutboundEmail
from t21.notifications.templates import render_email
from t21.worker.jobs import enqueue

DELIVER_JOB = "notifications.deliver_email"
# A pending email whose job no worker picked up within this time is enqueued again.
REQUEUE_AFTER = timedelta(seconds=60)
MAX_ERROR_LENGTH = 1000


@dataclass(frozen=True)
class DeliveryClaim:
    email_id: uuid.UUID
    token: uuid.UUID
    attempt: int
    message: OutgoingMessage


async def queue_email(
    session: AsyncSession,
    settings: Settings,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    dispatch: bool = True,
) -> OutboundEmail:
    """Store an email for delivery; its job is sent when the caller's transaction commits.

    With `dispatch=False` no job is enqueued: the caller delivers it itself (the CLI's test).
    """
    rendered = render_email(template, context, settings)
    now = clock.now()
    email = OutboundEmail(
        from_address=settings.email_from,
        to_address=to,
        subject=rendered.subject,
        template=template,
        text_body=rendered.text,
        html_body=rendered.html,
        status=EmailStatus.PENDING,
        attempts=0,
        not_before=now,
        enqueued_at=now if dispatch else None,
    )
    session.add(email)
    await session.flush()
    if dispatch:
        enqueue(DELIVER_JOB, email_id=str(email.id))
    return email


async def claim_email(
    session: AsyncSession, settings: Settings, email_id: uuid.UUID
) -> DeliveryClaim | None:
    """Take a pending, due email for one delivery attempt; None if it isn't ours to send."""
    now = clock.now()
    token = uuid7()
    statement = (
        update(OutboundEmail)
        .where(
            OutboundEmail.id == email_id,
            OutboundEmail.status == EmailStatus.PENDING,
            OutboundEmail.not_before <= now,
        )
        .values(
            status=EmailStatus.SENDING,
            attempts=OutboundEmail.attempts + 1,
            lease_expires_at=now + timedelta(seconds=settings.email_lease_s),
            claim_token=token,
            updated_at=now,
        )
        .returning(
            OutboundEmail.from_address,
            OutboundEmail.to_address,
            OutboundEmail.subject,
            OutboundEmail.text_body,
            OutboundEmail.html_body,
            OutboundEmail.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return None
    message = OutgoingMessage(
        key=email_id.hex,
        sender=row.from_address,
        to=row.to_address,
        subject=row.subject,
        text=row.text_body or "",
        html=row.html_body,
    )
    return DeliveryClaim(email_id=email_id, token=token, attempt=row.attempts, message=message)


async def record_sent(
    session: AsyncSession, claim: DeliveryClaim, *, backend: str, provider_message_id: str | None
) -> bool:
    """Mark the email sent and drop its bodies; False if the claim was lost meanwhile."""
    now = clock.now()
    result = await session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == claim.email_id, OutboundEmail.claim_token == claim.token)
        .values(
            status=EmailStatus.SENT,
            sent_at=now,
            backend=backend,
            provider_message_id=provider_message_id,
            text_body=None,
            html_body=None,
            last_error=None,
            lease_expires_at=None,
            claim_token=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def record_failure(
    session: AsyncSession,
    settings: Settings,
    claim: DeliveryClaim,
    failure: OutsideFailure,
    *,
    backend: str,
) -> EmailStatus | None:
    """Schedule the next attempt, or fail the email for good; None if the claim was lost."""
    now = clock.now()
    message = failure.message[:MAX_ERROR_LENGTH]
    values: dict[str, Any]
    if isinstance(failure, Permanent) or claim.attempt >= settings.email_max_attempts:
        status = EmailStatus.FAILED
        values = {"status": status, "text_body": None, "html_body": None}
    else:
        status = EmailStatus.PENDING
        after = failure.after if isinstance(failure, Retryable) else None
        delay = full_jitter(
            claim.attempt,
            base=settings.email_retry_base_s,
            cap=settings.email_retry_max_s,
            at_least=after,
        )
        values = {
            "status": status,
            "not_before": now + timedelta(seconds=delay),
            "enqueued_at": None,
        }
    result = await session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == claim.email_id, OutboundEmail.claim_token == claim.token)
        .values(
            **values,
            backend=backend,
            last_error=message,
            lease_expires_at=None,
            claim_token=None,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return status if _rowcount(result) == 1 else None


async def release_expired_leases(session: AsyncSession, settings: Settings) -> int:
    """Put back emails whose worker vanished mid-send (or fail them when out of attempts)."""
    now = clock.now()
    expired = (OutboundEmail.status == EmailStatus.SENDING, OutboundEmail.lease_expires_at < now)
    common = {"lease_expires_at": None, "claim_token": None, "updated_at": now}
    retried = await session.execute(
        update(OutboundEmail)
        .where(*expired, OutboundEmail.attempts < settings.email_max_attempts)
        .values(status=EmailStatus.PENDING, not_before=now, enqueued_at=None, **common)
        .execution_options(synchronize_session=False)
    )
    failed = await session.execute(
        update(OutboundEmail)
        .where(*expired, OutboundEmail.attempts >= settings.email_max_attempts)
        .values(
            status=EmailStatus.FAILED,
            last_error="delivery was interrupted on every attempt",
            text_body=None,
            html_body=None,
            **common,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(retried) + _rowcount(failed)


async def enqueue_due(session: AsyncSession, *, limit: int) -> int:
    """Enqueue delivery of pending emails that are due and not already waiting in the queue."""
    now = clock.now()
    statement = (
        select(OutboundEmail.id)
        .where(
            OutboundEmail.status == EmailStatus.PENDING,
            OutboundEmail.not_before <= now,
            or_(
                OutboundEmail.enqueued_at.is_(None),
                OutboundEmail.enqueued_at <= now - REQUEUE_AFTER,
            ),
        )
        .order_by(OutboundEmail.not_before)
        .limit(limit)
    )
    ids = list((await session.scalars(for_claim(statement, session))).all())
    if not ids:
        return 0
    await session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id.in_(ids))
        .values(enqueued_at=now)
        .execution_options(synchronize_session=False)
    )
    for email_id in ids:
        enqueue(DELIVER_JOB, email_id=str(email_id))
    return len(ids)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
