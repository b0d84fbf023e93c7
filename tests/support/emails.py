"""Queueing the delivery-test email, for tests that need an outbox row."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.settings import Settings
from t21.notifications import service
from t21.notifications.models import OutboundEmail


async def queue_test_email(
    session: AsyncSession,
    settings: Settings,
    *,
    to: str = "someone@example.com",
    dispatch: bool = True,
) -> OutboundEmail:
    return await service.queue_email(
        session,
        settings,
        to=to,
        template="delivery_test",
        context={"backend": "test", "sent_at": "now"},
        dispatch=dispatch,
    )
