"""Email verification and password reset: the emails are delivered, their links work once, and
forgot-password never tells whether an account exists."""

from __future__ import annotations

from datetime import timedelta

import httpx

from t21.core import clock
from t21.core.settings import Settings
from t21.worker.queue import JobQueue
from tests.core.test_http import assert_problem
from tests.support.accounts import PASSWORD, emails_to, latest_token, register


async def test_registration_sends_a_verification_link_that_works_once(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    account = await register(client, "verify.me@example.com")
    token = await latest_token(jobs, settings, account.email, "/verify-email")
    [message] = emails_to(settings, account.email)
    assert "Confirm your email" in message["Subject"]
    first = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert first.status_code == 200
    assert first.json()["email_verified"] is True
    again = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert_problem(again, 400, "bad_request")
    me = await client.get("/api/v1/auth/me", headers=account.headers)
    assert me.json()["email_verified"] is True


async def test_an_expired_verification_link_is_refused(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    account = await register(client)
    token = await latest_token(jobs, settings, account.email, "/verify-email")
    with clock.frozen(clock.now() + timedelta(seconds=settings.email_verification_ttl_s + 1)):
        response = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert_problem(response, 400, "bad_request")


async def test_verification_can_be_sent_again(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    account = await register(client)
    response = await client.post("/api/v1/auth/verify-email/resend", headers=account.headers)
    assert response.status_code == 202
    await jobs.drain()
    assert len(emails_to(settings, account.email)) == 2


async def test_forgot_password_answers_the_same_for_known_and_unknown_emails(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    account = await register(client, "known.user@example.com")
    known = await client.post("/api/v1/auth/forgot-password", json={"email": account.email})
    unknown = await client.post(
        "/api/v1/auth/forgot-password", json={"email": "unknown.user@example.com"}
    )
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    await jobs.drain()
    assert emails_to(settings, "unknown.user@example.com") == []
    subjects = [m["Subject"] for m in emails_to(settings, account.email)]
    assert any("Reset your" in subject for subject in subjects)


async def test_a_reset_link_sets_the_password_once_and_ends_every_session(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    account = await register(client, "reset.me@example.com")
    await client.post("/api/v1/auth/forgot-password", json={"email": "RESET.me@example.com"})
    token = await latest_token(jobs, settings, account.email, "/reset-password")

    weak = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "password1"}
    )
    assert_problem(weak, 422, "validation_error")

    new_password = "a brand new passphrase"
    reset = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": new_password}
    )
    assert reset.status_code == 200
    replay = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "yet another one!"}
    )
    assert_problem(replay, 400, "bad_request")

    assert_problem(
        await client.get("/api/v1/auth/me", headers=account.headers), 401, "not_authenticated"
    )
    refresh = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert_problem(refresh, 401, "not_authenticated")
    old = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    )
    assert_problem(old, 401, "invalid_credentials")
    new = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": new_password}
    )
    assert new.status_code == 200
    assert new.json()["user"]["email_verified"] is True


async def test_a_verification_link_is_not_a_reset_link(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    account = await register(client)
    token = await latest_token(jobs, settings, account.email, "/verify-email")
    response = await client.post(
        "/api/v1/auth/reset-password", json={"token": token, "password": "hijack attempt 123"}
    )
    assert_problem(response, 400, "bad_request")


async def test_email_links_are_stored_only_as_digests(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    from sqlalchemy import select

    from t21.core.runtime import get_runtime
    from t21.core.uow import session_scope
    from t21.identity.models import EmailToken

    account = await register(client)
    token = await latest_token(jobs, settings, account.email, "/verify-email")
    async with session_scope(get_runtime()) as session:
        rows = (await session.scalars(select(EmailToken))).all()
    assert rows
    assert all(token not in (row.token_digest, row.email) for row in rows)
