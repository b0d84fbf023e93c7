"""Refreshing tokens ahead of expiry: a sweep claims the accounts that are due, a job
refreshes one account (or warns its owners once that it can't be refreshed)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.logging import get_logger
from t21.core.outside import ReauthRequired, Retryable
from t21.core.runtime import get_runtime
from t21.social.tokens import claim_due_refreshes, refresh_account
from t21.worker.jobs import enqueue, job
from t21.worker.loops import periodic

log = get_logger("t21.social")

REFRESH_BATCH = 100


@job("social.refresh_account")
async def refresh_tokens_of(account_id: str) -> None:
    try:
        # Claimed by the sweep (its due time moved on), so the refresh is asked for outright.
        await refresh_account(get_runtime(), uuid.UUID(account_id), force=True)
    except ReauthRequired:
        return  # recorded on the account, admins told
    except Retryable as failure:
        # The sweep comes back to it once its claim runs out.
        log.warning("token refresh postponed", account_id=account_id, error=failure.message)


@periodic(
    "social.refresh_tokens",
    interval=lambda settings: settings.token_refresh_interval_s,
    batch_size=REFRESH_BATCH,
)
async def refresh_due_tokens(session: AsyncSession) -> int:
    """Claim every active account whose token is due for a refresh and enqueue its refresh."""
    due = await claim_due_refreshes(session, get_runtime().settings, limit=REFRESH_BATCH)
    for account_id in due:
        enqueue(refresh_tokens_of, account_id=str(account_id))
    return len(due)
