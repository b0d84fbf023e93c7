"""Passkeys (WebAuthn) with a software authenticator: registering one, signing in with it as the
second factor and without a password, challenges used once and expiring, ceremonies from another
origin or for another relying party refused, a cloned key (its counter going back) refused and
audited, and removing a passkey with a fresh proof."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from t21.core import clock
from t21.core.settings import Settings
from tests.core.test_http import assert_problem
from tests.support.accounts import PASSWORD, Account, register
from tests.support.webauthn import SoftwareAuthenticator

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
        json={"credential": credential, "name": "Desk key"},
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
    body = {"credential": credential}
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
            f"{AUTH}/passkeys/register", json={"credential": credential}, headers=account.headers
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
            f"{AUTH}/passkeys/register", json={"credential": credential}, headers=account.headers
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
