"""Review-link tokens: the link's id and an HMAC of it under a key derived from the secret key.

Nothing secret is stored: the row only says which post and until when, and deleting it voids
the token. A token signed under a previous secret key (`T21_PREVIOUS_SECRET_KEYS`) still works
until its link expires, like access tokens during a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from t21.core.settings import Settings

PURPOSE = b"t21 review links v1"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()


def _signature(key: bytes, link_id: uuid.UUID) -> str:
    digest = hmac.new(key, link_id.bytes, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(settings: Settings, link_id: uuid.UUID) -> str:
    """The token of link `link_id`: `<id hex>.<signature>`, URL-safe."""
    return f"{link_id.hex}.{_signature(_key(settings.secret()), link_id)}"


def verify(settings: Settings, token: str) -> uuid.UUID | None:
    """The link id a token names, if its signature is ours; `None` for anything else."""
    head, dot, signature = token.partition(".")
    if not dot or len(head) != 32 or len(signature) > 64:
        return None
    try:
        link_id = uuid.UUID(hex=head)
    except ValueError:
        return None
    secrets = [settings.secret()] + [
        old.get_secret_value() for old in settings.previous_secret_keys
    ]
    for secret in secrets:
        # As bytes: `compare_digest` refuses non-ASCII text, and a token may hold anything.
        if hmac.compare_digest(_signature(_key(secret), link_id).encode(), signature.encode()):
            return link_id
    return None
