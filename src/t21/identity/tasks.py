"""Background work of the identity domain."""

from __future__ import annotations

from t21.core.runtime import get_runtime
from t21.core.uow import session_scope
from t21.identity import service
from t21.worker.jobs import job


@job(service.SEND_PASSWORD_RESET_JOB)
async def send_password_reset(email: str) -> None:
    """Email a reset link to `email` if an account has it (and do nothing otherwise)."""
    runtime = get_runtime()
    async with session_scope() as session:
        await service.send_password_reset(session, runtime.settings, email)
