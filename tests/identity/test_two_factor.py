"""Two-factor sign-in: enrol an authenticator app, sign in with a code or a recovery code, each
code accepted once, challenges that expire and die after a few wrong codes, guesses counted by
the sign-in throttle, and turning it off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest

from t21.core import clock
from t21.core.settings import Settings
from tests.core.test_http import assert_problem
from tests.support.accounts import PASSWORD, Account, register

AUTH = "/api/v1/auth"


class MovingClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    # Each sign-in counts twice here (password, then code) and these tests sign in often; the
    # throttle's own case below runs with the default-like limit.
    loose: Settings = settings_factory(login_failures_per_account_ip="100/15 minutes")
    return loose


@pytest.fixture
def moving_clock() -> Iterator[MovingClock]:
    moving = MovingClock()
    with clock.frozen(lambda: moving.now):
        yield moving


async def _enrol(client: httpx.AsyncClient, account: Account) -> tuple[pyotp.TOTP, list[str]]:
    started = await client.post(f"{AUTH}/2fa/totp", headers=account.headers)
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["otpauth_url"].startswith("otpauth://totp/T21:")
    assert f"secret={body['secret']}" in body["otpauth_url"]
    totp = pyotp.TOTP(body["secret"])
    confirmed = await client.post(
        f"{AUTH}/2fa/totp/confirm", json={"code": totp.at(clock.now())}, headers=account.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    codes: list[str] = confirmed.json()["recovery_codes"]
    return totp, codes


async def _login(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await client.post(
        f"{AUTH}/login", json={"email": account.email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _verify(client: httpx.AsyncClient, challenge: str, **proof: str) -> httpx.Response:
    return await client.post(f"{AUTH}/2fa/verify", json={"challenge": challenge, **proof})


async def test_enrolling_then_signing_in_takes_a_second_step(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    totp, codes = await _enrol(client, account)
    assert len(codes) == 10
    assert len(set(codes)) == 10

    first = await _login(client, account)
    assert first["two_factor_required"] is True
    assert "access_token" not in first
    assert first["expires_in"] == 300
    moving_clock.advance(30)
    signed_in = await _verify(client, first["challenge"], code=totp.at(clock.now()))
    assert signed_in.status_code == 200, signed_in.text
    tokens = signed_in.json()
    me = await client.get(
        f"{AUTH}/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["email"] == account.email

    # The challenge was used: the same one can't open a second session.
    again = await _verify(client, first["challenge"], code=totp.at(clock.now()))
    assert_problem(again, 401, "challenge_invalid")


async def test_a_code_works_once_and_earlier_codes_never_again(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    totp, _ = await _enrol(client, account)
    moving_clock.advance(60)
    code = totp.at(clock.now())
    assert (
        await _verify(client, (await _login(client, account))["challenge"], code=code)
    ).is_success
    replayed = await _verify(client, (await _login(client, account))["challenge"], code=code)
    assert_problem(replayed, 401, "invalid_second_factor")
    # The code of the step before (still inside the drift window) is older than the one used.
    older = totp.at(clock.now() - timedelta(seconds=30))
    refused = await _verify(client, (await _login(client, account))["challenge"], code=older)
    assert_problem(refused, 401, "invalid_second_factor")
    moving_clock.advance(30)
    fresh = totp.at(clock.now())
    accepted = await _verify(client, (await _login(client, account))["challenge"], code=fresh)
    assert accepted.status_code == 200, accepted.text


async def test_a_recovery_code_works_once(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    _, codes = await _enrol(client, account)
    challenge = (await _login(client, account))["challenge"]
    used = await _verify(client, challenge, recovery_code=codes[0].upper())
    assert used.status_code == 200, used.text
    again = await _verify(
        client, (await _login(client, account))["challenge"], recovery_code=codes[0]
    )
    assert_problem(again, 401, "invalid_second_factor")
    other = await _verify(
        client, (await _login(client, account))["challenge"], recovery_code=codes[1]
    )
    assert other.status_code == 200, other.text


async def test_five_wrong_codes_end_the_challenge(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    totp, _ = await _enrol(client, account)
    moving_clock.advance(30)
    challenge = (await _login(client, account))["challenge"]
    for _ in range(5):
        wrong = await _verify(client, challenge, code="000000")
        assert_problem(wrong, 401, "invalid_second_factor")
    dead = await _verify(client, challenge, code=totp.at(clock.now()))
    assert_problem(dead, 401, "challenge_invalid")
    challenge = (await _login(client, account))["challenge"]
    fresh = await _verify(client, challenge, code=totp.at(clock.now()))
    assert fresh.status_code == 200, fresh.text


async def test_code_guesses_are_counted_by_the_sign_in_throttle(
    app_factory: Any, moving_clock: MovingClock
) -> None:
    app = app_factory(login_failures_per_account_ip="5/15 minutes")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            account = await register(client)
            totp, _ = await _enrol(client, account)
            moving_clock.advance(30)
            # A right password doesn't clear the count while the code is still to come: the
            # login and four wrong codes spend the five attempts of this account and address.
            challenge = (await _login(client, account))["challenge"]
            for _ in range(4):
                wrong = await _verify(client, challenge, code="000000")
                assert_problem(wrong, 401, "invalid_second_factor")
            throttled = await _verify(client, challenge, code=totp.at(clock.now()))
            assert throttled.status_code == 429, throttled.text


async def test_a_challenge_dies_after_its_wrong_codes_and_its_lifetime(
    client: httpx.AsyncClient, moving_clock: MovingClock, settings_factory: Any
) -> None:
    account = await register(client)
    totp, _ = await _enrol(client, account)
    moving_clock.advance(30)
    expired = (await _login(client, account))["challenge"]
    moving_clock.advance(301)
    late = await _verify(client, expired, code=totp.at(clock.now()))
    assert_problem(late, 401, "challenge_invalid")
    unknown = await _verify(client, "not-a-challenge", code=totp.at(clock.now()))
    assert_problem(unknown, 401, "challenge_invalid")


async def test_proof_must_be_a_code_or_a_recovery_code(client: httpx.AsyncClient) -> None:
    for body in ({}, {"code": "123456", "recovery_code": "abcde-fghij"}, {"code": ""}):
        response = await client.post(f"{AUTH}/2fa/verify", json={"challenge": "x", **body})
        assert_problem(response, 422, "validation_error")


async def test_confirming_needs_a_right_code_and_enrolling_twice_is_refused(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    nothing = await client.post(
        f"{AUTH}/2fa/totp/confirm", json={"code": "123456"}, headers=account.headers
    )
    assert_problem(nothing, 409, "conflict")
    started = await client.post(f"{AUTH}/2fa/totp", headers=account.headers)
    totp = pyotp.TOTP(started.json()["secret"])
    wrong = await client.post(
        f"{AUTH}/2fa/totp/confirm", json={"code": "12345x"}, headers=account.headers
    )
    problem = assert_problem(wrong, 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "code"]
    # Not confirmed yet: signing in doesn't ask for it.
    assert "access_token" in await _login(client, account)
    confirmed = await client.post(
        f"{AUTH}/2fa/totp/confirm", json={"code": totp.at(clock.now())}, headers=account.headers
    )
    assert confirmed.status_code == 200
    twice = await client.post(f"{AUTH}/2fa/totp", headers=account.headers)
    assert_problem(twice, 409, "conflict")


async def test_turning_it_off_needs_a_code_and_then_sign_in_is_one_step(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    totp, codes = await _enrol(client, account)
    refused = await client.request(
        "DELETE", f"{AUTH}/2fa/totp", json={"code": "000000"}, headers=account.headers
    )
    assert_problem(refused, 401, "invalid_second_factor")
    off = await client.request(
        "DELETE", f"{AUTH}/2fa/totp", json={"recovery_code": codes[3]}, headers=account.headers
    )
    assert off.status_code == 204, off.text
    assert "access_token" in await _login(client, account)
    again = await client.request(
        "DELETE", f"{AUTH}/2fa/totp", json={"code": totp.at(clock.now())}, headers=account.headers
    )
    assert_problem(again, 409, "conflict")


async def test_api_keys_cannot_enrol(client: httpx.AsyncClient) -> None:
    from tests.support.accounts import create_api_key

    account = await register(client)
    me = (await client.get(f"{AUTH}/me", headers=account.headers)).json()
    organization_id = me["memberships"][0]["organization"]["id"]
    key = await create_api_key(client, account, organization_id, "admin")
    refused = await client.post(
        f"{AUTH}/2fa/totp", headers={"Authorization": f"Bearer {key['key']}"}
    )
    assert_problem(refused, 403, "forbidden")


async def test_the_secret_never_appears_again(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    started = await client.post(f"{AUTH}/2fa/totp", headers=account.headers)
    secret = started.json()["secret"]
    me = await client.get(f"{AUTH}/me", headers=account.headers)
    assert secret not in me.text


async def test_an_organization_can_require_two_factors_of_its_members(
    client: httpx.AsyncClient, moving_clock: MovingClock, jobs: Any, settings: Settings
) -> None:
    from tests.support.accounts import add_member, create_organization

    owner = await register(client)
    organization_id = await create_organization(client, owner, "Secure Co")
    org_path = f"/api/v1/organizations/{organization_id}"
    refused = await client.patch(org_path, json={"require_two_factor": True}, headers=owner.headers)
    assert_problem(refused, 409, "conflict")

    member = await add_member(
        client, jobs, settings, inviter=owner, organization_id=organization_id, role="admin"
    )
    brand = await client.post(
        "/api/v1/brands",
        json={"name": "Before", "organization_id": str(organization_id)},
        headers=member.headers,
    )
    assert brand.status_code == 201, brand.text

    await _enrol(client, owner)
    required = await client.patch(
        org_path, json={"require_two_factor": True}, headers=owner.headers
    )
    assert required.status_code == 200, required.text
    assert required.json()["require_two_factor"] is True

    # The member without two factors still sees the organization and why, and nothing else.
    listed = await client.get("/api/v1/organizations", headers=member.headers)
    mine = {item["id"]: item for item in listed.json()["items"]}
    assert mine[str(organization_id)]["require_two_factor"] is True
    locked = await client.get(org_path, headers=member.headers)
    assert_problem(locked, 403, "two_factor_required")
    brands = await client.get("/api/v1/brands", headers=member.headers)
    assert str(organization_id) not in {item["organization_id"] for item in brands.json()["items"]}
    write = await client.post(
        "/api/v1/brands",
        json={"name": "After", "organization_id": str(organization_id)},
        headers=member.headers,
    )
    assert_problem(write, 403, "two_factor_required")

    # Once they turn it on, the same token works again.
    moving_clock.advance(30)
    await _enrol(client, member)
    assert (await client.get(org_path, headers=member.headers)).status_code == 200
    brands = await client.get("/api/v1/brands", headers=member.headers)
    assert str(organization_id) in {item["organization_id"] for item in brands.json()["items"]}

    log = await client.get(
        f"{org_path}/audit-log",
        params={"action": "organization.two_factor_required"},
        headers=owner.headers,
    )
    [entry] = log.json()["items"]
    assert entry["details"] == {"required": True}
    assert entry["actor"]["id"] == str(owner.user_id)


async def test_recovery_codes_are_replaced_with_a_fresh_proof_and_the_old_ones_die(
    client: httpx.AsyncClient, moving_clock: MovingClock
) -> None:
    account = await register(client)
    url = f"{AUTH}/2fa/recovery-codes"
    none_yet = await client.post(url, json={"password": PASSWORD}, headers=account.headers)
    assert_problem(none_yet, 409, "conflict")
    totp, old = await _enrol(client, account)

    missing = await client.post(url, json={}, headers=account.headers)
    assert_problem(missing, 422, "validation_error")
    for proof in ({"password": "not it"}, {"code": "000000"}, {"recovery_code": "aaaaa-bbbbb"}):
        refused = await client.post(url, json=proof, headers=account.headers)
        assert_problem(refused, 401, "invalid_second_factor")
    moving_clock.advance(30)
    renewed = await client.post(url, json={"code": totp.at(clock.now())}, headers=account.headers)
    assert renewed.status_code == 200, renewed.text
    new = renewed.json()["recovery_codes"]
    assert len(new) == 10
    assert not set(new) & set(old)

    challenge = (await _login(client, account))["challenge"]
    stale = await _verify(client, challenge, recovery_code=old[0])
    assert_problem(stale, 401, "invalid_second_factor")
    fresh = await _verify(client, challenge, recovery_code=new[0])
    assert fresh.status_code == 200, fresh.text
    # A recovery code proves a replacement too (and is spent by it).
    again = await client.post(url, json={"recovery_code": new[1]}, headers=account.headers)
    assert again.status_code == 200, again.text
    reused = await client.post(url, json={"recovery_code": new[1]}, headers=account.headers)
    assert_problem(reused, 401, "invalid_second_factor")
