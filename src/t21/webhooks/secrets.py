"""An endpoint's signing secrets at rest: encrypted with the token keyring (AES-256-GCM), bound
to the endpoint so a ciphertext copied to another row doesn't decrypt."""

from __future__ import annotations

import uuid
from datetime import datetime

from t21.core.crypto import keyring
from t21.core.settings import Settings
from t21.webhooks.models import WebhookEndpoint


def _associated(endpoint_id: uuid.UUID) -> str:
    return f"webhook_endpoint:{endpoint_id}"


def seal(settings: Settings, endpoint_id: uuid.UUID, secret: str) -> str:
    return keyring(settings).encrypt(secret, associated=_associated(endpoint_id))


def signing_secrets(settings: Settings, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign a message sent now: the current one, and the previous one while
    its rotation's grace period lasts."""
    ring = keyring(settings)
    associated = _associated(endpoint.id)
    secrets = [ring.decrypt(endpoint.secret_encrypted, associated=associated)]
    if (
        endpoint.previous_secret_encrypted is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        secrets.append(ring.decrypt(endpoint.previous_secret_encrypted, associated=associated))
    return secrets
