"""Standard Webhooks signatures (https://www.standardwebhooks.com/, the specification at
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).

A secret is `whsec_` + base64 of 32 random bytes; the key is the decoded bytes. A signature is
`v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")); during a rotation
several are sent, separated by spaces, and a receiver accepts the message if any one matches.

Signing is these few lines of `hmac` rather than the `standardwebhooks` package: its `Webhook`
signs with one secret, and a rotation needs two. The tests verify every delivery with that
package's verifier, so the two implementations check each other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret, `whsec_<base64>`."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret: its base64-decoded part."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature of a message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one signature per secret, space-separated."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets)
