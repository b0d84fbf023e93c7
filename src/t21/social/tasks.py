"""Refreshing tokens ahead of expiry: a loop finds what is due, a job refreshes one account."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.logging import get_logger
from t21.core.outside import ReauthRequired, Retryable
from t21.core.runtime import get_runtime
from t21.social.tokens import due_for_refresh, refresh_account
from t21.worker.jobs import enqueue, job
from t21.worker.loops import periodic

log = get_logger("t21.social")

REFRESH_BATCH = 100


@job("social.refresh_account")
async def refresh_tokens_of(account_id: str) -> None:
    try:
        await refresh_account(get_runtime(), uuid.UUID(account_id))
    except ReauthRequired:
        return  # recorded on the account, admins told
    except Retryable as failure:
        # The loop comes back to it while it is still due.
        log.warning("token refresh postponed", account_id=account_id, error=failure.message)


@periodic(
    "social.refresh_tokens",
    interval=lambda settings: settings.token_refresh_interval_s,
    batch_size=REFRESH_BATCH,
)
async def refresh_due_tokens(session: AsyncSession) -> int:
    """Enqueue a refresh for every active account whose token expires soon."""
    due = await due_for_refresh(session, get_runtime().settings, limit=REFRESH_BATCH)
    for account_id in due:
        enqueue(refresh_tokens_of, account_id=str(account_id))
    return len(due)
