"""T21's app on each server of a network whose accounts live on many (Mastodon): registered
there on the first connection to that server, then kept per server, its secret encrypted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.crypto import keyring
from t21.core.errors import UpstreamError, ValidationFailed
from t21.core.outside import OutsideFailure, Permanent
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.platforms.base import InstanceApp, InstanceProvider
from t21.social.models import InstanceAppRecord


def callback_url(settings: Settings, platform: str) -> str:
    return f"{settings.resolved_public_url}/api/v1/social-accounts/callback/{platform}"


def _app_associated(platform: str, instance: str) -> str:
    return f"instance-app:{platform}:{instance}"


async def stored_app(
    session: AsyncSession, settings: Settings, platform: str, instance: str
) -> InstanceApp | None:
    row = await session.scalar(
        select(InstanceAppRecord).where(
            InstanceAppRecord.platform == platform, InstanceAppRecord.instance == instance
        )
    )
    if row is None:
        return None
    secret = keyring(settings).decrypt(
        row.client_secret_encrypted, associated=_app_associated(platform, instance)
    )
    return InstanceApp(instance, row.client_id, secret, row.pkce)


async def instance_app(
    session: AsyncSession,
    runtime: Runtime,
    provider: InstanceProvider,
    platform: str,
    instance: str,
) -> InstanceApp:
    """T21's app on `instance`: the stored one, else registered there now and stored (its secret
    encrypted). Of two first connections racing, the first stored wins and both use it."""
    settings = runtime.settings
    try:
        host = provider.instance_host(instance)
    except Permanent as refused:
        raise ValidationFailed(
            refused.message, errors=[{"loc": ["body", "instance"], "msg": refused.message}]
        ) from None
    stored = await stored_app(session, settings, platform, host)
    if stored is not None:
        return stored
    try:
        app = await provider.register_app(host, callback_url(settings, platform))
    except OutsideFailure as failure:
        raise UpstreamError(
            f"{provider.display_name} at {host} refused T21's app: {failure.message}"
        ) from failure
    sealed = keyring(settings).encrypt(
        app.client_secret, associated=_app_associated(platform, host)
    )
    try:
        async with session.begin_nested():
            session.add(
                InstanceAppRecord(
                    platform=platform,
                    instance=host,
                    client_id=app.client_id,
                    client_secret_encrypted=sealed,
                    pkce=app.pkce,
                )
            )
    except IntegrityError:
        raced = await stored_app(session, settings, platform, host)
        if raced is not None:
            return raced
        raise
    return app
