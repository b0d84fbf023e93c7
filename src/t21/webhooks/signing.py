"""Standard Webhooks signatures (https://www.standardwebhooks.com/, the specification at
https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md).

A secret is `whsec_` + base64 of 32 random bytes; the key is the decoded bytes. A signature is
`v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")); during a rotation
several are sent, separated by spaces, and a receiver accepts the message if any one matches.

Signing is the specification's reference library (`standardwebhooks`), one signature per secret
(its `Webhook` holds one secret; a rotation signs with two). The tests verify every delivery with
its verifier and check the scheme against the specification's formula independently.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

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
    secret_key(secret)  # refuses anything but a whsec_ secret of valid base64
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=body)


def signature_header(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: one signature per secret, space-separated."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets)
