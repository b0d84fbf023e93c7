"""Passkeys (WebAuthn) with a software authenticator: registering one, signing in with it as the
second factor and without a password, challenges used once and expiring, ceremonies from another
origin or for another relying party refused, a cloned key (its counter going back) refused and
audited, registering and removing a passkey with a fresh proof, and "packed" self attestation
accepted while a forged or malformed one is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import httpx
import pyotp
import pytest

from t21.core import clock
from t21.core.settings import Settings
from tests.core.test_http import assert_problem
from tests.support.accounts import PASSWORD, Account, register
from tests.support.webauthn import SoftwareAuthenticator, b64url, unb64url

AUTH = "/api/v1/auth"
FRONTEND = "https://app.t21.test"
EVIL = "https://evil.example"


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    loose: Settings = settings_factory(
        frontend_url=FRONTEND, login_failures_per_account_ip="100/15 minutes"
    )
    return loose


class MovingClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def moving_clock() -> Iterator[MovingClock]:
    moving = MovingClock()
    with clock.frozen(lambda: moving.now):
        yield moving


async def _register_passkey(
    client: httpx.AsyncClient, account: Account, authenticator: SoftwareAuthenticator
) -> dict[str, Any]:
    options = await client.post(f"{AUTH}/passkeys/register/options", headers=account.headers)
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json())
    created = await client.post(
        f"{AUTH}/passkeys/register",
        json={"credential": credential, "name": "Desk key", "password": PASSWORD},
        headers=account.headers,
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def _password_step(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await client.post(
        f"{AUTH}/login", json={"email": account.email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _passwordless_options(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(f"{AUTH}/passkeys/login/options")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _audit_actions(client: httpx.AsyncClient, account: Account) -> list[str]:
    response = await client.get(
        f"/api/v1/organizations/{account.personal_organization_id}/audit-log",
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["items"]]


async def test_a_registered_passkey_is_a_second_factor_at_sign_in(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    options = await client.post(f"{AUTH}/passkeys/register/options", headers=account.headers)
    body = options.json()
    assert body["rp"] == {"id": "app.t21.test", "name": "T21"}
    assert body["attestation"] == "none"
    assert body["authenticatorSelection"]["residentKey"] == "preferred"

    passkey = await _register_passkey(client, account, authenticator)
    assert passkey["name"] == "Desk key"
    assert passkey["last_used_at"] is None
    listed = await client.get(f"{AUTH}/passkeys", headers=account.headers)
    assert [item["id"] for item in listed.json()["items"]] == [passkey["id"]]
    assert await _audit_actions(client, account) == ["passkey.registered"]

    first = await _password_step(client, account)
    assert first["two_factor_required"] is True
    assert first["methods"] == ["passkey"]
    request = await client.post(
        f"{AUTH}/2fa/passkey/options", json={"challenge": first["challenge"]}
    )
    assert request.status_code == 200, request.text
    request_options = request.json()
    assert [c["id"] for c in request_options["allowCredentials"]] == list(authenticator.credentials)
    assertion = authenticator.get(request_options)
    signed_in = await client.post(
        f"{AUTH}/2fa/verify", json={"challenge": first["challenge"], "passkey": assertion}
    )
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["user"]["email"] == account.email
    listed = await client.get(f"{AUTH}/passkeys", headers=account.headers)
    assert listed.json()["items"][0]["last_used_at"] is not None
    exported = (await client.get(f"{AUTH}/me/export", headers=account.headers)).json()
    assert [p["name"] for p in exported["passkeys"]] == ["Desk key"]
    assert "public_key" not in exported["passkeys"][0]


async def test_a_passkey_signs_in_without_a_password(client: httpx.AsyncClient) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    await _register_passkey(client, account, authenticator)

    options = await _passwordless_options(client)
    assert options["allowCredentials"] == []  # names no account: nothing to enumerate
    assert options["userVerification"] == "required"
    signed_in = await client.post(
        f"{AUTH}/passkeys/login", json={"credential": authenticator.get(options)}
    )
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    me = await client.get(
        f"{AUTH}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["email"] == account.email


async def test_a_passwordless_sign_in_needs_user_verification(client: httpx.AsyncClient) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    await _register_passkey(client, account, authenticator)
    authenticator.user_verification = False

    refused = await client.post(
        f"{AUTH}/passkeys/login",
        json={"credential": authenticator.get(await _passwordless_options(client))},
    )
    assert_problem(refused, 401, "invalid_passkey")


async def test_a_replayed_assertion_or_attestation_is_refused(client: httpx.AsyncClient) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    options = await client.post(f"{AUTH}/passkeys/register/options", headers=account.headers)
    credential = authenticator.create(options.json())
    body = {"credential": credential, "password": PASSWORD}
    created = await client.post(f"{AUTH}/passkeys/register", json=body, headers=account.headers)
    assert created.status_code == 201, created.text
    again = await client.post(f"{AUTH}/passkeys/register", json=body, headers=account.headers)
    assert_problem(again, 422, "validation_error")

    assertion = authenticator.get(await _passwordless_options(client))
    first = await client.post(f"{AUTH}/passkeys/login", json={"credential": assertion})
    assert first.status_code == 200, first.text
    replayed = await client.post(f"{AUTH}/passkeys/login", json={"credential": assertion})
    assert_problem(replayed, 401, "invalid_passkey")


async def test_an_expired_challenge_is_refused(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    await _register_passkey(client, account, authenticator)
    options = await _passwordless_options(client)
    moving_clock.advance(301)
    refused = await client.post(
        f"{AUTH}/passkeys/login", json={"credential": authenticator.get(options)}
    )
    assert_problem(refused, 401, "invalid_passkey")


async def test_ceremonies_from_another_origin_or_for_another_relying_party_are_refused(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    tampered = [(EVIL, None), (None, "evil.example")]
    for origin, rp_id in tampered:
        options = await client.post(f"{AUTH}/passkeys/register/options", headers=account.headers)
        credential = authenticator.create(options.json(), origin=origin, rp_id=rp_id)
        refused = await client.post(
            f"{AUTH}/passkeys/register",
            json={"credential": credential, "password": PASSWORD},
            headers=account.headers,
        )
        assert_problem(refused, 422, "validation_error")
    listed = await client.get(f"{AUTH}/passkeys", headers=account.headers)
    assert listed.json()["items"] == []

    await _register_passkey(client, account, authenticator)
    [credential_id] = list(authenticator.credentials)[-1:]
    for origin, rp_id in tampered:
        request_options = await _passwordless_options(client)
        assertion = authenticator.get(
            request_options, credential_id=credential_id, origin=origin, rp_id=rp_id
        )
        refused = await client.post(f"{AUTH}/passkeys/login", json={"credential": assertion})
        assert_problem(refused, 401, "invalid_passkey")


async def test_a_signature_counter_going_back_is_refused_and_audited(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    await _register_passkey(client, account, authenticator)
    used = await client.post(
        f"{AUTH}/passkeys/login",
        json={"credential": authenticator.get(await _passwordless_options(client), sign_count=7)},
    )
    assert used.status_code == 200, used.text

    for count in (7, 3):  # equal or lower: a copy of the key signing in parallel
        cloned = await client.post(
            f"{AUTH}/passkeys/login",
            json={
                "credential": authenticator.get(
                    await _passwordless_options(client), sign_count=count
                )
            },
        )
        assert_problem(cloned, 401, "invalid_passkey")
    actions = await _audit_actions(client, account)
    assert actions.count("passkey.clone_suspected") == 2

    onward = await client.post(
        f"{AUTH}/passkeys/login",
        json={"credential": authenticator.get(await _passwordless_options(client), sign_count=8)},
    )
    assert onward.status_code == 200, onward.text


async def test_an_authenticator_without_a_counter_signs_in_again(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND, counter_step=0)
    await _register_passkey(client, account, authenticator)
    for _ in range(2):
        signed_in = await client.post(
            f"{AUTH}/passkeys/login",
            json={"credential": authenticator.get(await _passwordless_options(client))},
        )
        assert signed_in.status_code == 200, signed_in.text


async def test_removing_a_passkey_needs_a_fresh_proof(client: httpx.AsyncClient) -> None:
    account = await register(client)
    other = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    first = await _register_passkey(client, account, authenticator)
    second = await _register_passkey(client, account, authenticator)

    url = f"{AUTH}/passkeys/{first['id']}"
    missing = await client.request("DELETE", url, json={}, headers=account.headers)
    assert_problem(missing, 422, "validation_error")
    wrong = await client.request(
        "DELETE", url, json={"password": "not the password"}, headers=account.headers
    )
    assert_problem(wrong, 401, "invalid_second_factor")
    foreign = await client.request(
        "DELETE", url, json={"password": PASSWORD}, headers=other.headers
    )
    assert_problem(foreign, 404, "not_found")
    removed = await client.request(
        "DELETE", url, json={"password": PASSWORD}, headers=account.headers
    )
    assert removed.status_code == 204, removed.text

    confirm = await client.post(f"{AUTH}/passkeys/confirm/options", headers=account.headers)
    assert confirm.status_code == 200, confirm.text
    assertion = authenticator.get(confirm.json(), credential_id=list(authenticator.credentials)[1])
    removed = await client.request(
        "DELETE",
        f"{AUTH}/passkeys/{second['id']}",
        json={"passkey": assertion},
        headers=account.headers,
    )
    assert removed.status_code == 204, removed.text

    listed = await client.get(f"{AUTH}/passkeys", headers=account.headers)
    assert listed.json()["items"] == []
    assert (await _audit_actions(client, account)).count("passkey.removed") == 2
    signed_in = await _password_step(client, account)
    assert "access_token" in signed_in  # no second factor left


async def test_a_passkey_satisfies_an_organization_requiring_two_factors(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    organization = f"/api/v1/organizations/{account.personal_organization_id}"
    refused = await client.patch(
        organization, json={"require_two_factor": True}, headers=account.headers
    )
    assert_problem(refused, 409, "conflict")
    await _register_passkey(client, account, SoftwareAuthenticator(origin=FRONTEND))
    required = await client.patch(
        organization, json={"require_two_factor": True}, headers=account.headers
    )
    assert required.status_code == 200, required.text
    brands = await client.get(
        f"/api/v1/brands?organization_id={account.personal_organization_id}",
        headers=account.headers,
    )
    assert brands.status_code == 200, brands.text


async def test_malformed_credentials_answer_4xx(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for credential in (
        {},
        {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
        {
            "id": "abc",
            "rawId": "abc",
            "type": "public-key",
            "response": {"clientDataJSON": "bm90LWpzb24", "attestationObject": "AAAA"},
        },
    ):
        answer = await client.post(
            f"{AUTH}/passkeys/register",
            json={"credential": credential, "password": PASSWORD},
            headers=account.headers,
        )
        assert_problem(answer, 422, "validation_error")
    garbage = await client.post(
        f"{AUTH}/passkeys/login",
        json={
            "credential": {
                "id": "abc",
                "rawId": "abc",
                "type": "public-key",
                "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA"},
            }
        },
    )
    assert_problem(garbage, 401, "invalid_passkey")
    unknown = await client.post(f"{AUTH}/2fa/passkey/options", json={"challenge": "nope"})
    assert_problem(unknown, 401, "challenge_invalid")


async def test_registering_a_passkey_needs_a_fresh_proof(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    options = await client.post(f"{AUTH}/passkeys/register/options", headers=account.headers)
    credential = authenticator.create(options.json())
    url = f"{AUTH}/passkeys/register"

    missing = await client.post(url, json={"credential": credential}, headers=account.headers)
    assert_problem(missing, 422, "validation_error")
    two = await client.post(
        url,
        json={"credential": credential, "password": PASSWORD, "code": "123456"},
        headers=account.headers,
    )
    assert_problem(two, 422, "validation_error")
    wrong = await client.post(
        url,
        json={"credential": credential, "password": "not the password"},
        headers=account.headers,
    )
    assert_problem(wrong, 401, "invalid_second_factor")
    no_app = await client.post(
        url, json={"credential": credential, "code": "123456"}, headers=account.headers
    )
    assert_problem(no_app, 401, "invalid_second_factor")
    listed = await client.get(f"{AUTH}/passkeys", headers=account.headers)
    assert listed.json()["items"] == []
    assert await _audit_actions(client, account) == []

    # A refused proof spends nothing: the same ceremony goes through with the right password.
    created = await client.post(
        url, json={"credential": credential, "password": PASSWORD}, headers=account.headers
    )
    assert created.status_code == 201, created.text

    # With an authenticator app on, a current code proves it; a wrong one doesn't.
    started = await client.post(f"{AUTH}/2fa/totp", headers=account.headers)
    totp = pyotp.TOTP(started.json()["secret"])
    confirmed = await client.post(
        f"{AUTH}/2fa/totp/confirm", json={"code": totp.at(clock.now())}, headers=account.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    moving_clock.advance(30)
    options = await client.post(f"{AUTH}/passkeys/register/options", headers=account.headers)
    second = authenticator.create(options.json())
    refused = await client.post(
        url, json={"credential": second, "code": "000000"}, headers=account.headers
    )
    assert_problem(refused, 401, "invalid_second_factor")
    by_code = await client.post(
        url, json={"credential": second, "code": totp.at(clock.now())}, headers=account.headers
    )
    assert by_code.status_code == 201, by_code.text

    # A passkey already held proves it too (options from POST /passkeys/confirm/options).
    confirm = await client.post(f"{AUTH}/passkeys/confirm/options", headers=account.headers)
    assertion = authenticator.get(confirm.json())
    options = await client.post(f"{AUTH}/passkeys/register/options", headers=account.headers)
    by_passkey = await client.post(
        url,
        json={"credential": authenticator.create(options.json()), "passkey": assertion},
        headers=account.headers,
    )
    assert by_passkey.status_code == 201, by_passkey.text
    listed = await client.get(f"{AUTH}/passkeys", headers=account.headers)
    assert len(listed.json()["items"]) == 3
    assert (await _audit_actions(client, account)).count("passkey.registered") == 3


def _restated(credential: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`credential` with its attestation statement changed (None removes an entry)."""
    response = credential["response"]
    attestation = cbor2.loads(unb64url(response["attestationObject"]))
    for key, value in changes.items():
        if value is None:
            attestation["attStmt"].pop(key, None)
        else:
            attestation["attStmt"][key] = value
    encoded = b64url(cbor2.dumps(attestation))
    return {**credential, "response": {**response, "attestationObject": encoded}}


async def test_packed_self_attestation_is_accepted_and_a_forged_one_refused(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    authenticator = SoftwareAuthenticator(origin=FRONTEND)
    url = f"{AUTH}/passkeys/register"

    async def packed() -> dict[str, Any]:
        options = await client.post(f"{AUTH}/passkeys/register/options", headers=account.headers)
        return authenticator.create(options.json(), attestation="packed")

    forged = await packed()
    statement = cbor2.loads(unb64url(forged["response"]["attestationObject"]))["attStmt"]
    bad_signature = bytearray(statement["sig"])
    bad_signature[-1] ^= 0x01
    for credential in (
        _restated(forged, sig=bytes(bad_signature)),  # not signed by the credential's key
        _restated(await packed(), alg=-257),  # an algorithm the key doesn't use (RS256)
        _restated(await packed(), sig=None),  # no signature at all
        _restated(await packed(), sig="not bytes"),
    ):
        refused = await client.post(
            url, json={"credential": credential, "password": PASSWORD}, headers=account.headers
        )
        problem = assert_problem(refused, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "credential"]
    listed = await client.get(f"{AUTH}/passkeys", headers=account.headers)
    assert listed.json()["items"] == []

    created = await client.post(
        url,
        json={"credential": await packed(), "name": "Packed key", "password": PASSWORD},
        headers=account.headers,
    )
    assert created.status_code == 201, created.text
    # The key signs in like any other.
    request_options = await _passwordless_options(client)
    kept = list(authenticator.credentials)[-1]
    signed_in = await client.post(
        f"{AUTH}/passkeys/login",
        json={"credential": authenticator.get(request_options, credential_id=kept)},
    )
    assert signed_in.status_code == 200, signed_in.text
