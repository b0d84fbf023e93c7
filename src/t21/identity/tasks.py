"""Background work of the identity domain."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.runtime import get_runtime
from t21.core.uow import session_scope
from t21.identity import passkeys, service, twofactor
from t21.worker.jobs import job
from t21.worker.loops import periodic


@job(service.SEND_PASSWORD_RESET_JOB)
async def send_password_reset(email: str) -> None:
    """Email a reset link to `email` if an account has it (and do nothing otherwise)."""
    runtime = get_runtime()
    async with session_scope() as session:
        await service.send_password_reset(session, runtime.settings, email)


PURGE_BATCH = 1000


@periodic("identity.purge_two_factor_challenges", interval=lambda s: 600.0, batch_size=PURGE_BATCH)
async def purge_two_factor_challenges(session: AsyncSession) -> int:
    """Forget second-step and passkey challenges an hour past their expiry."""
    purged = await twofactor.purge_challenges(session, limit=PURGE_BATCH)
    return purged + await passkeys.purge_challenges(session, limit=PURGE_BATCH)
