"""Signing in with Google and GitHub, end to end over real HTTP against the sandbox's fakes:
the browser's trip (T21 → provider → T21 → front end), the one-time login code, and every
refusal: a replayed state, another browser, a wrong PKCE verifier, an unverified email, a
redirect off the allow-list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from t21.core.tls import tls_context
from t21.core.uow import session_scope
from t21.identity.models import OAuthIdentity, OAuthLogin, User
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.server import ThreadedServer
from tests.core.test_http import assert_problem
from tests.support import loopback
from tests.support.accounts import (
    PASSWORD,
    create_api_key,
    create_organization,
    latest_token,
    register,
)

FRONT_END = "http://app.example.test/signed-in"


@pytest.fixture
def sandbox() -> Iterator[str]:
    with ThreadedServer(create_sandbox_app()) as server:
        yield server.url


@dataclass
class Browser:
    """The API (in-process) and the sandbox (over HTTP), driven like a browser would."""

    app: FastAPI
    api: httpx.AsyncClient
    sandbox: str

    async def start(self, provider: str, redirect_uri: str = FRONT_END) -> httpx.Response:
        return await self.api.get(
            f"/api/v1/auth/oauth/{provider}", params={"redirect_uri": redirect_uri}
        )

    async def to_provider(self, location: str) -> str:
        """Follow T21's redirect to the provider; the provider's redirect back to T21."""
        async with httpx.AsyncClient(verify=tls_context()) as http:
            answer = await http.get(location)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    async def back_to_t21(self, location: str) -> httpx.Response:
        parts = urlsplit(location)
        assert parts.netloc == "testserver", location
        return await self.api.get(f"{parts.path}?{parts.query}")

    async def sign_in(self, provider: str) -> httpx.Response:
        """The whole trip; T21's final answer (a redirect to the front end)."""
        started = await self.start(provider)
        assert started.status_code == 302, started.text
        callback = await self.to_provider(started.headers["location"])
        return await self.back_to_t21(callback)

    async def control(self, fake: str, path: str, body: dict[str, Any]) -> None:
        async with httpx.AsyncClient(
            verify=tls_context(), base_url=f"{self.sandbox}/{fake}"
        ) as http:
            response = await http.post(f"/_control/{path}", json=body)
        assert response.status_code < 300, response.text


def query(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
async def browser(app_factory: Any, sandbox: str) -> AsyncIterator[Browser]:
    app = app_factory(
        sandbox_url=sandbox,
        public_url="http://testserver",
        frontend_url="http://app.example.test",
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            yield Browser(app=app, api=api, sandbox=sandbox)


async def _exchange(browser: Browser, location: str) -> httpx.Response:
    code = query(location)["login_code"]
    return await browser.api.post("/api/v1/auth/oauth/exchange", json={"login_code": code})


async def _count(browser: Browser, model: Any) -> int:
    async with session_scope(browser.app.state.runtime) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("provider", ["google", "github"])
async def test_sign_in_creates_a_verified_account_and_signs_in_again(
    browser: Browser, provider: str
) -> None:
    started = await browser.start(provider)
    assert started.status_code == 302
    to_provider = query(started.headers["location"])
    assert to_provider["code_challenge_method"] == "S256"
    assert len(to_provider["code_challenge"]) == 43
    assert to_provider["state"]
    assert to_provider["redirect_uri"] == (
        f"http://testserver/api/v1/auth/oauth/{provider}/callback"
    )
    if provider == "google":
        assert to_provider["nonce"]
        assert set(to_provider["scope"].split()) == {"openid", "email", "profile"}
    cookie = started.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()

    callback = await browser.to_provider(started.headers["location"])
    finished = await browser.back_to_t21(callback)
    assert finished.status_code == 302
    assert finished.headers["location"].startswith(FRONT_END + "?login_code=")

    tokens = await _exchange(browser, finished.headers["location"])
    assert tokens.status_code == 200
    user = tokens.json()["user"]
    assert user["email"] == "sandbox.user@example.com"
    assert user["email_verified"] is True
    me = await browser.api.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}
    )
    assert [m["role"] for m in me.json()["memberships"]] == ["owner"]

    again = await _exchange(browser, (await browser.sign_in(provider)).headers["location"])
    assert again.json()["user"]["id"] == user["id"]
    assert await _count(browser, User) == 1
    assert await _count(browser, OAuthIdentity) == 1


async def test_google_and_github_link_to_the_same_account_by_verified_email(
    browser: Browser,
) -> None:
    google = await _exchange(browser, (await browser.sign_in("google")).headers["location"])
    github = await _exchange(browser, (await browser.sign_in("github")).headers["location"])
    assert google.json()["user"]["id"] == github.json()["user"]["id"]
    assert await _count(browser, OAuthIdentity) == 2


async def test_a_login_code_works_once(browser: Browser) -> None:
    location = (await browser.sign_in("google")).headers["location"]
    assert (await _exchange(browser, location)).status_code == 200
    assert_problem(await _exchange(browser, location), 401, "not_authenticated")


async def test_a_replayed_state_is_refused(browser: Browser) -> None:
    started = await browser.start("google")
    callback = await browser.to_provider(started.headers["location"])
    assert (await browser.back_to_t21(callback)).status_code == 302
    replay = await browser.back_to_t21(callback)
    body = assert_problem(replay, 400, "bad_request")
    assert "already used" in body["detail"]


async def test_a_forged_state_is_refused(browser: Browser) -> None:
    started = await browser.start("google")
    callback = await browser.to_provider(started.headers["location"])
    forged = callback.replace(f"state={query(callback)['state']}", "state=forged-state-value")
    assert_problem(await browser.back_to_t21(forged), 400, "bad_request")


async def test_a_callback_in_another_browser_is_refused(browser: Browser) -> None:
    started = await browser.start("google")
    callback = await browser.to_provider(started.headers["location"])
    browser.api.cookies.clear()
    finished = await browser.back_to_t21(callback)
    assert finished.status_code == 302
    assert query(finished.headers["location"]) == {"error": "invalid_state"}
    assert await _count(browser, User) == 0


async def test_a_wrong_pkce_verifier_is_refused_by_the_provider(browser: Browser) -> None:
    started = await browser.start("google")
    async with session_scope(browser.app.state.runtime) as session:
        await session.execute(update(OAuthLogin).values(code_verifier="x" * 43))
    callback = await browser.to_provider(started.headers["location"])
    finished = await browser.back_to_t21(callback)
    assert query(finished.headers["location"]) == {"error": "provider_refused"}
    assert await _count(browser, User) == 0


async def test_a_google_account_without_a_verified_email_is_refused(browser: Browser) -> None:
    await browser.control(
        "google", "users", {"email": "unverified@example.com", "email_verified": False}
    )
    await browser.control("google", "next-user", {"email": "unverified@example.com"})
    finished = await browser.sign_in("google")
    assert query(finished.headers["location"]) == {"error": "email_not_verified"}
    assert await _count(browser, User) == 0


async def test_a_github_account_without_a_verified_email_is_refused(browser: Browser) -> None:
    await browser.control(
        "github",
        "users",
        {
            "login": "no-proof",
            "emails": [{"email": "no-proof@example.com", "primary": True, "verified": False}],
        },
    )
    await browser.control("github", "next-user", {"login": "no-proof"})
    finished = await browser.sign_in("github")
    assert query(finished.headers["location"]) == {"error": "email_not_verified"}
    assert await _count(browser, User) == 0


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example.com/steal",
        "http://app.example.test.evil.com/signed-in",
        "javascript:alert(1)",
        "/relative/path",
    ],
)
async def test_a_redirect_uri_off_the_allow_list_is_refused(
    browser: Browser, redirect_uri: str
) -> None:
    body = assert_problem(await browser.start("google", redirect_uri), 422, "validation_error")
    assert body["errors"][0]["loc"] == ["query", "redirect_uri"]
    assert await _count(browser, OAuthLogin) == 0


async def test_the_allow_list_is_a_setting(app_factory: Any, sandbox: str) -> None:
    app = app_factory(
        sandbox_url=sandbox,
        public_url="http://testserver",
        oauth_redirect_allowlist="https://mobile.example.com/oauth,http://localhost:3000",
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            allowed = await api.get(
                "/api/v1/auth/oauth/github",
                params={"redirect_uri": "https://mobile.example.com/oauth/done"},
            )
            other_path = await api.get(
                "/api/v1/auth/oauth/github",
                params={"redirect_uri": "https://mobile.example.com/elsewhere"},
            )
    assert allowed.status_code == 302
    assert other_path.status_code == 422


async def test_the_provider_declining_brings_the_user_back_with_the_error(
    browser: Browser,
) -> None:
    started = await browser.start("google")
    state = query(started.headers["location"])["state"]
    declined = await browser.api.get(
        "/api/v1/auth/oauth/google/callback", params={"error": "access_denied", "state": state}
    )
    assert query(declined.headers["location"]) == {"error": "access_denied"}


async def test_a_verified_provider_email_takes_over_an_unverified_password_account(
    browser: Browser,
) -> None:
    squatter = await register(browser.api, "sandbox.user@example.com")
    tokens = await _exchange(browser, (await browser.sign_in("google")).headers["location"])
    assert tokens.json()["user"]["id"] == str(squatter.user_id)
    login = await browser.api.post(
        "/api/v1/auth/login", json={"email": "sandbox.user@example.com", "password": PASSWORD}
    )
    assert_problem(login, 401, "invalid_credentials")
    assert_problem(
        await browser.api.get("/api/v1/auth/me", headers=squatter.headers),
        401,
        "not_authenticated",
    )


async def test_taking_over_an_account_ends_the_squatters_keys_and_invitations(
    browser: Browser,
) -> None:
    runtime = browser.app.state.runtime
    squatter = await register(browser.api, "sandbox.user@example.com")
    team = await create_organization(browser.api, squatter, "Squatted team")
    keys = [
        (await create_api_key(browser.api, squatter, org, role="admin"))["key"]
        for org in (squatter.personal_organization_id, team)
    ]
    invited = await browser.api.post(
        f"/api/v1/organizations/{team}/invitations",
        json={"email": "accomplice@example.com", "role": "admin"},
        headers=squatter.headers,
    )
    assert invited.status_code == 201, invited.text
    invitation_token = await latest_token(
        runtime.jobs, browser.app.state.settings, "accomplice@example.com", "/invitations/accept"
    )
    for key in keys:
        before = await browser.api.get("/api/v1/brands", headers={"Authorization": f"Bearer {key}"})
        assert before.status_code == 200
    owner = await _exchange(browser, (await browser.sign_in("google")).headers["location"])
    owner_headers = {"Authorization": f"Bearer {owner.json()['access_token']}"}
    # The squatter's keys no longer read or write anything...
    for key in keys:
        after = await browser.api.get("/api/v1/brands", headers={"Authorization": f"Bearer {key}"})
        assert_problem(after, 401, "not_authenticated")
    listed = await browser.api.get(f"/api/v1/organizations/{team}/api-keys", headers=owner_headers)
    assert listed.json()["items"] == []
    # ...and the invitation they sent can't be accepted.
    pending = await browser.api.get(
        f"/api/v1/organizations/{team}/invitations", headers=owner_headers
    )
    assert pending.json()["items"] == []
    accomplice = await register(browser.api, "accomplice@example.com")
    accepted = await browser.api.post(
        "/api/v1/invitations/accept", json={"token": invitation_token}, headers=accomplice.headers
    )
    assert_problem(accepted, 400, "bad_request")


async def test_a_verified_password_account_is_linked_and_keeps_its_password(
    browser: Browser,
) -> None:
    account = await register(browser.api, "sandbox.user@example.com")
    async with session_scope(browser.app.state.runtime) as session:
        user = await session.get(User, account.user_id)
        assert user is not None
        user.email_verified_at = user.created_at
    tokens = await _exchange(browser, (await browser.sign_in("github")).headers["location"])
    assert tokens.json()["user"]["id"] == str(account.user_id)
    login = await browser.api.post(
        "/api/v1/auth/login", json={"email": account.email, "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_an_unknown_provider_is_not_found(browser: Browser) -> None:
    assert_problem(await browser.start("myspace"), 404, "not_found")


async def test_without_credentials_or_sandbox_sign_in_is_unavailable(app_factory: Any) -> None:
    app = app_factory(sandbox="off")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            response = await api.get("/api/v1/auth/oauth/google")
    body = assert_problem(response, 503, "unavailable")
    assert "T21_GOOGLE_CLIENT_ID" in body["detail"]


async def test_real_credentials_and_urls_reach_any_provider(app_factory: Any, sandbox: str) -> None:
    """Configured like production (client id, secret, URLs), pointing at the fakes."""
    app = app_factory(
        sandbox="off",
        public_url="http://testserver",
        frontend_url="http://app.example.test",
        google_client_id="real-client-id",
        google_client_secret="real-secret",
        google_discovery_url=f"{sandbox}/google/.well-known/openid-configuration",
        github_client_id="gh-client",
        github_client_secret="gh-secret",
        github_auth_base=f"{sandbox}/github",
        github_api_base=f"{sandbox}/github",
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            driver = Browser(app=app, api=api, sandbox=sandbox)
            for provider in ("google", "github"):
                started = await driver.start(provider)
                assert query(started.headers["location"])["client_id"] in (
                    "real-client-id",
                    "gh-client",
                )
                finished = await driver.back_to_t21(
                    await driver.to_provider(started.headers["location"])
                )
                assert (await _exchange(driver, finished.headers["location"])).status_code == 200


async def test_serve_starts_the_sandbox_when_no_credentials_are_configured(
    settings_factory: Any,
) -> None:
    from t21.api import create_app

    settings = settings_factory(public_url="http://testserver")
    app = create_app(settings, loops=False, track_jobs=True, sandbox=True)
    async with app.router.lifespan_context(app):
        sandbox_url = app.state.runtime.state["sandbox_url"]
        assert sandbox_url.startswith("http://127.0.0.1:")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            started = await api.get("/api/v1/auth/oauth/google")
    assert started.headers["location"].startswith(sandbox_url + "/google/")


@pytest.mark.parametrize("provider", ["google", "github"])
async def test_signing_in_loads_the_certificate_authorities_once_not_per_login(
    browser: Browser, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each login asks the provider for its keys or its user over a client of its own; loading
    # the CA bundle for each of them cost ~20 ms of CPU per login.
    with monkeypatch.context() as patched:
        loads = loopback.count_ca_loads(patched)
        for _ in range(3):
            finished = await browser.sign_in(provider)
            assert finished.status_code == 302, finished.text
            assert "login_code" in query(finished.headers["location"]), finished.headers
    assert len(loads) <= 1, loads
