"""Email delivery: the job that sends one email, and the loop that keeps the outbox moving."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import metrics
from t21.core.logging import get_logger
from t21.core.outside import OutsideFailure, Permanent, Retryable
from t21.core.runtime import get_runtime
from t21.core.uow import session_scope
from t21.notifications import service
from t21.notifications.backends import build_backend
from t21.worker.jobs import job
from t21.worker.loops import periodic

log = get_logger("t21.email")

OUTBOX_BATCH = 100


@job(service.DELIVER_JOB)
async def deliver_email(email_id: str) -> None:
    """One delivery attempt of one outbox email. A duplicate delivery of this job does nothing."""
    settings = get_runtime().settings
    async with session_scope() as session:
        claim = await service.claim_email(session, settings, uuid.UUID(email_id))
    if claim is None:
        return
    backend_name = settings.email_backend.value
    failure: OutsideFailure
    try:
        backend = build_backend(settings)
        provider_message_id = await backend.send(claim.message)
    except (Retryable, Permanent) as exc:
        failure = exc
    except Exception as exc:
        log.exception("email backend failed unexpectedly", email_id=email_id)
        failure = Retryable(f"unexpected error: {type(exc).__name__}")
    else:
        async with session_scope() as session:
            recorded = await service.record_sent(
                session, claim, backend=backend.name, provider_message_id=provider_message_id
            )
        metrics.EMAILS.labels(backend.name, "sent").inc()
        if not recorded:
            log.warning("email sent after its claim expired", email_id=email_id)
        return
    async with session_scope() as session:
        status = await service.record_failure(
            session, settings, claim, failure, backend=backend_name
        )
    outcome = status.value if status is not None else "lost_claim"
    metrics.EMAILS.labels(backend_name, outcome).inc()
    log.warning(
        "email delivery failed",
        email_id=email_id,
        attempt=claim.attempt,
        outcome=outcome,
        error=failure.message,
    )


@periodic(
    "notifications.email_outbox",
    interval=lambda settings: settings.email_outbox_interval_s,
    batch_size=OUTBOX_BATCH,
)
async def email_outbox(session: AsyncSession) -> int:
    """Recover interrupted deliveries and enqueue every email that is due."""
    settings = get_runtime().settings
    await service.release_expired_leases(session, settings)
    return await service.enqueue_due(session, limit=OUTBOX_BATCH)
