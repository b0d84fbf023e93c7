"""A connection's attempt, from `start` to the network's callback: the state T21 signs for the
network to carry, the attempt used once within its 10 minutes, what a pushed sign-in left for
the callback, and the network's code parked for the connection's starter when another browser
came back. `ConnectFailure` is how any of it refuses."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from t21.core import clock
from t21.core.crypto import keyring
from t21.core.errors import BadRequest, Forbidden, T21Error, UpstreamError
from t21.core.runtime import Runtime
from t21.core.security import new_token, token_digest
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.social.models import ConnectAttempt

ATTEMPT_TTL = timedelta(minutes=10)


class ConnectFailure(Exception):
    """A connection that can't complete; `code` reaches the front end as `?error=`."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        redirect_uri: str | None = None,
        details: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.redirect_uri = redirect_uri
        # Added to the front end's query next to `error` (e.g. the limit that was reached).
        self.details = details or {}


def as_problem(failure: ConnectFailure) -> T21Error:
    """A failed completion as the API's error, for `POST /connect/complete`."""
    if isinstance(failure.__cause__, T21Error):  # e.g. the plan's limit, as it was raised
        return failure.__cause__
    if failure.code == "forbidden":
        return Forbidden(failure.message)
    if failure.code in ("invalid_code", "invalid_state"):
        return BadRequest(failure.message)
    return UpstreamError(failure.message)


def _signature(settings: Settings, nonce: str) -> str:
    mac = hmac.new(settings.secret().encode(), f"social-connect:{nonce}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def sign_state(settings: Settings, nonce: str) -> str:
    return f"{nonce}.{_signature(settings, nonce)}"


def verified_nonce(settings: Settings, state: str | None) -> str | None:
    """The nonce of a state T21 signed, or None for anything else."""
    if not state or state.count(".") != 1:
        return None
    nonce, signature = state.split(".")
    return (
        nonce
        if hmac.compare_digest(signature.encode(), _signature(settings, nonce).encode())
        else None
    )


@dataclass(frozen=True)
class Attempt:
    id: uuid.UUID
    platform: str
    browser_digest: str | None
    user_id: uuid.UUID
    brand_id: uuid.UUID
    code_verifier: str | None
    redirect_uri: str
    instance: str | None = None
    state_digest: str = ""
    handoff_encrypted: str | None = None

    def handoff(self, settings: Settings) -> dict[str, Any] | None:
        """What the pushed sign-in left for the callback, decrypted; None for other networks."""
        if self.handoff_encrypted is None:
            return None
        plain = keyring(settings).decrypt(
            self.handoff_encrypted, associated=f"connect-handoff:{self.state_digest}"
        )
        found: dict[str, Any] = json.loads(plain)
        return found


async def use_attempt(runtime: Runtime, platform: str, state: str | None) -> Attempt:
    """The attempt a callback's signed `state` names, claimed in the same step as it is read:
    unknown, expired or already used, it refuses."""
    nonce = verified_nonce(runtime.settings, state)
    if nonce is None:
        raise ConnectFailure("invalid_state", "This connection link is not one of ours.")
    now = clock.now()
    async with session_scope(runtime) as session:
        attempt = await session.scalar(
            select(ConnectAttempt).where(ConnectAttempt.state_digest == token_digest(nonce))
        )
        claimed = await session.execute(
            update(ConnectAttempt)
            .where(
                ConnectAttempt.state_digest == token_digest(nonce),
                ConnectAttempt.platform == platform,
                ConnectAttempt.used_at.is_(None),
                ConnectAttempt.expires_at > now,
            )
            .values(used_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if attempt is None:
        raise ConnectFailure("invalid_state", "This connection link is unknown.")
    if getattr(claimed, "rowcount", 0) != 1:
        raise ConnectFailure(
            "invalid_state",
            "This connection link expired or was already used; start again.",
            redirect_uri=attempt.redirect_uri,
        )
    return attempt_of(attempt)


def attempt_of(attempt: ConnectAttempt) -> Attempt:
    return Attempt(
        attempt.id,
        attempt.platform,
        attempt.browser_digest,
        attempt.user_id,
        attempt.brand_id,
        attempt.code_verifier,
        attempt.redirect_uri,
        attempt.instance,
        attempt.state_digest,
        attempt.handoff_encrypted,
    )


async def park(runtime: Runtime, attempt: Attempt, code: str) -> str:
    """Hold the network's code for the connection's starter; the one-time completion code."""
    completion = new_token()
    sealed = keyring(runtime.settings).encrypt(code, associated=f"connect:{attempt.id}")
    async with session_scope(runtime) as session:
        await session.execute(
            update(ConnectAttempt)
            .where(ConnectAttempt.id == attempt.id)
            .values(
                completion_digest=token_digest(completion),
                network_code_encrypted=sealed,
                updated_at=clock.now(),
            )
            .execution_options(synchronize_session=False)
        )
    return completion
