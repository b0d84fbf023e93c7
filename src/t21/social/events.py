"""The events of connected social accounts, carrying the account as the API shows it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from t21.events.service import record_event
from t21.social.models import AccountStatus, SocialAccount
from t21.social.schemas import SocialAccountOut


async def account_event(
    session: AsyncSession,
    type: str,
    account: SocialAccount,
    *,
    status: AccountStatus | None = None,
) -> None:
    """Record `type` about the account; `status` overrides the one shown (a disconnected
    account is deleted, so its last row still says what it was)."""
    data = SocialAccountOut.of(account).model_dump(mode="json")
    if status is not None:
        data["status"] = status.value
    await record_event(session, organization_id=account.organization_id, type=type, data=data)
