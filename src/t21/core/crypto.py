"""Encryption at rest for the secrets T21 must read back (social networks' tokens): AES-256-GCM.

Keys come from `T21_ENCRYPTION_KEYS` as `id:base64key,id:base64key`, the first one current: new
secrets are encrypted with it, and every listed key still decrypts, so a key rotates without
downtime (then `t21 reencrypt-tokens` moves everything to the new one and the old can go).
Without the setting (development only) one key is derived from `T21_SECRET_KEY`.

A ciphertext is `<key id>.<nonce>.<ciphertext+tag>` (base64url) and is bound to what it protects
through the associated data (e.g. the account id and the field): copied to another row or
column, it fails to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from t21.core.errors import ConfigError
from t21.core.settings import Settings

NONCE_BYTES = 12
KEY_BYTES = 32
DERIVED_KEY_ID = "derived"


class DecryptionError(Exception):
    """The ciphertext can't be read: unknown key, tampered, or bound to something else."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: dict[str, bytes]

    def encrypt(self, plaintext: str, *, associated: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current]).encrypt(
            nonce, plaintext.encode(), associated.encode()
        )
        return f"{self.current}.{_b64(nonce)}.{_b64(sealed)}"

    def decrypt(self, ciphertext: str, *, associated: str) -> str:
        try:
            key_id, nonce, sealed = ciphertext.split(".")
            key = self.keys[key_id]
            plain = AESGCM(key).decrypt(_unb64(nonce), _unb64(sealed), associated.encode())
        except KeyError:
            raise DecryptionError("encrypted with a key that is no longer configured") from None
        except (ValueError, binascii.Error, InvalidTag):
            raise DecryptionError("ciphertext is damaged or belongs elsewhere") from None
        return plain.decode()

    def key_id_of(self, ciphertext: str) -> str:
        return ciphertext.split(".", 1)[0]


def parse_keys(value: str) -> Keyring:
    """`id:base64key,...` → a keyring whose current key is the first."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id.isalnum():
            problem = "each entry must be <id>:<base64 key>, with an alphanumeric id"
            raise ConfigError([f"T21_ENCRYPTION_KEYS: {problem}"])
        try:
            key = _unb64(encoded.strip())
        except (ValueError, binascii.Error):
            raise ConfigError([f"T21_ENCRYPTION_KEYS: key {key_id!r} is not base64"]) from None
        if len(key) != KEY_BYTES:
            raise ConfigError([f"T21_ENCRYPTION_KEYS: key {key_id!r} must be {KEY_BYTES} bytes"])
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise ConfigError(["T21_ENCRYPTION_KEYS: no key given"])
    return Keyring(current=order[0], keys=keys)


def keyring(settings: Settings) -> Keyring:
    """The keyring of `settings` (derived from the secret key when none is configured)."""
    if settings.encryption_keys is not None:
        return parse_keys(settings.encryption_keys.get_secret_value())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"t21 token encryption v1"
    ).derive(settings.secret().encode())
    return Keyring(current=DERIVED_KEY_ID, keys={DERIVED_KEY_ID: derived})


def new_key() -> str:
    """A fresh random key, base64url, for T21_ENCRYPTION_KEYS."""
    return _b64(os.urandom(KEY_BYTES))
