"""A software authenticator: makes the objects a browser and a security key give a relying party
(WebAuthn Level 3, "none" or "packed" self attestation, ES256 keys), built from the specification
with `cryptography` and `cbor2` — never with T21's or py_webauthn's own code, so the tests check T21
against the standard and not against itself.

Source: https://www.w3.org/TR/webauthn-3/#sctn-authenticator-data
Source: https://www.w3.org/TR/webauthn-3/#sctn-attestation (attestation object, "none" format)
Source: https://www.w3.org/TR/webauthn-3/#sctn-packed-attestation (self attestation: `alg` and a
`sig` over authenticatorData || SHA-256(clientDataJSON) by the credential's own key, no `x5c`)
Source: https://www.w3.org/TR/webauthn-3/#sctn-op-get-assertion (signature over authData||hash)
Source: https://www.rfc-editor.org/rfc/rfc9053#section-7.1 (COSE EC2 key: kty 2, crv 1, x, y)
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40
AAGUID = bytes(16)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    credential_id: bytes
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftwareAuthenticator:
    """Keeps discoverable ES256 credentials; `origin` is where the "browser" runs."""

    origin: str
    user_verification: bool = True
    counter_step: int = 1  # 0: an authenticator that keeps no signature counter
    credentials: dict[str, Credential] = field(default_factory=dict)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {
                "type": kind,
                "challenge": challenge,
                "origin": origin or self.origin,
                "crossOrigin": False,
            }
        ).encode()

    def _flags(self, extra: int = 0) -> int:
        return FLAG_UP | (FLAG_UV if self.user_verification else 0) | extra

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        attestation: str = "none",
    ) -> dict[str, Any]:
        """`navigator.credentials.create(options)`, as `PublicKeyCredential.toJSON()` gives it,
        with `attestation` "none" or "packed" (self attestation)."""
        rp = rp_id or options["rp"]["id"]
        credential = Credential(
            credential_id=secrets.token_bytes(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            user_handle=unb64url(options["user"]["id"]),
            rp_id=rp,
        )
        attested = (
            AAGUID
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_public_key()
        )
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags(FLAG_AT)])
            + struct.pack(">I", credential.sign_count)
            + attested
        )
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        statement: dict[str, Any] = {}
        if attestation == "packed":
            signed = auth_data + hashlib.sha256(client_data).digest()
            statement = {"alg": -7, "sig": credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))}
        elif attestation != "none":
            raise ValueError(f"unknown attestation format {attestation!r}")
        attestation_object = cbor2.dumps(
            {"fmt": attestation, "attStmt": statement, "authData": auth_data}
        )
        self.credentials[b64url(credential.credential_id)] = credential
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation_object),
                "transports": ["usb"],
            },
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential_id: str | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
    ) -> dict[str, Any]:
        """`navigator.credentials.get(options)`: signs the challenge with an allowed credential
        (or, with no allow-list, a discoverable one: the first kept, or `credential_id`)."""
        allowed = [entry["id"] for entry in options.get("allowCredentials", [])]
        chosen = credential_id or next(
            cid for cid in self.credentials if not allowed or cid in allowed
        )
        credential = self.credentials[chosen]
        credential.sign_count = (
            sign_count if sign_count is not None else credential.sign_count + self.counter_step
        )
        rp = rp_id or options.get("rpId") or credential.rp_id
        auth_data = (
            hashlib.sha256(rp.encode()).digest()
            + bytes([self._flags()])
            + struct.pack(">I", credential.sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = credential.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": chosen,
            "rawId": chosen,
            "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
        }
