"""Token encryption: AES-256-GCM bound to its owner, with keys that rotate without downtime."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from t21.core.crypto import DecryptionError, keyring, new_key, parse_keys
from t21.core.errors import ConfigError
from t21.core.settings import load_settings

OLD = new_key()
NEW = new_key()


@given(st.text(max_size=2000))
def test_what_is_encrypted_decrypts_with_the_same_binding(secret: str) -> None:
    ring = parse_keys(f"k1:{OLD}")
    sealed = ring.encrypt(secret, associated="account:1:access")
    assert ring.decrypt(sealed, associated="account:1:access") == secret


def test_ciphertexts_differ_every_time_and_hide_the_secret() -> None:
    ring = parse_keys(f"k1:{OLD}")
    first = ring.encrypt("token-123", associated="a")
    second = ring.encrypt("token-123", associated="a")
    assert first != second
    assert "token-123" not in first
    assert first.startswith("k1.")


def test_a_ciphertext_moved_to_another_owner_does_not_decrypt() -> None:
    ring = parse_keys(f"k1:{OLD}")
    sealed = ring.encrypt("token", associated="account:1:access")
    with pytest.raises(DecryptionError):
        ring.decrypt(sealed, associated="account:2:access")
    with pytest.raises(DecryptionError):
        ring.decrypt(sealed, associated="account:1:refresh")


def test_a_tampered_ciphertext_does_not_decrypt() -> None:
    ring = parse_keys(f"k1:{OLD}")
    key_id, nonce, body = ring.encrypt("token", associated="a").split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(DecryptionError):
        ring.decrypt(f"{key_id}.{nonce}.{flipped}", associated="a")
    with pytest.raises(DecryptionError):
        ring.decrypt("garbage", associated="a")


def test_keys_rotate_new_first_old_still_readable() -> None:
    before = parse_keys(f"k1:{OLD}")
    sealed_before = before.encrypt("token", associated="a")
    rotated = parse_keys(f"k2:{NEW},k1:{OLD}")
    assert rotated.current == "k2"
    assert rotated.decrypt(sealed_before, associated="a") == "token"
    assert rotated.encrypt("token", associated="a").startswith("k2.")
    retired = parse_keys(f"k2:{NEW}")
    with pytest.raises(DecryptionError, match="no longer configured"):
        retired.decrypt(sealed_before, associated="a")


def test_without_keys_development_derives_one_from_the_secret() -> None:
    settings = load_settings(_env_file=None, secret_key="s" * 48)
    ring = keyring(settings)
    assert ring.current == "derived"
    again = keyring(load_settings(_env_file=None, secret_key="s" * 48))
    assert again.decrypt(ring.encrypt("x", associated="a"), associated="a") == "x"


@pytest.mark.parametrize("value", ["", "k1", "k1:short", "k-1:" + "A" * 43])
def test_malformed_key_lists_are_refused(value: str) -> None:
    with pytest.raises(ConfigError):
        parse_keys(value)
