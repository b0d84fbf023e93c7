"""Bluesky's AT Protocol OAuth through T21's API, with `T21_BLUESKY_OAUTH` on: T21 answers on
a loopback port (its public URL), where the sandbox's authorization server fetches its client
metadata document and JWKS; a handle connects through the redirect, the account publishes with
DPoP-bound tokens, its tokens refresh, and app passwords keep working."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import closing
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from t21.core.tls import tls_context
from t21.social.tokens import credentials, refresh_account
from tests.core.test_http import assert_problem
from tests.publishing.conftest import Engine, _engine
from tests.social.conftest import World, query, sandbox, world  # noqa: F401  (fixtures)
from tests.social.test_connect import _account
from tests.support.loopback import PublicPort

CONNECT = "/api/v1/social-accounts/connect"
DOCUMENTS = "/api/v1/social-accounts/oauth/bluesky"
APP_PASSWORD = "abcd-efgh-1234-wxyz"


@pytest.fixture
async def oauth(app_factory: Any, sandbox: str) -> AsyncIterator[Engine]:  # noqa: F811
    # The authorization server fetches two documents from T21 while T21 waits on it.
    settings = {"bluesky_oauth": True, "platform_timeout_s": 15.0}
    with closing(PublicPort()) as public:
        async with (
            _engine(app_factory, sandbox, public.url, **settings) as built,
            public.serve(built.world.app),
        ):
            yield built


async def _start(world: World, **credentials: str) -> httpx.Response:  # noqa: F811
    return await world.api.post(
        CONNECT,
        json={"brand_id": world.brand_id, "platform": "bluesky", "credentials": credentials},
        headers=world.owner.headers,
    )


async def _connect_by_oauth(world: World, handle: str) -> str:  # noqa: F811
    started = await _start(world, handle=handle)
    assert started.status_code == 200, started.text
    finished = await world.back_to_t21(await world.to_network(started.json()["authorization_url"]))
    assert finished.status_code == 302, finished.text
    params = query(finished.headers["location"])
    assert "connected" in params, params
    return params["connected"]


async def test_t21_serves_its_client_documents_where_its_client_id_says(oauth: Engine) -> None:
    public = oauth.world.runtime.settings.resolved_public_url
    async with httpx.AsyncClient(verify=tls_context()) as http:
        metadata = (await http.get(f"{public}{DOCUMENTS}/client-metadata.json")).json()
        jwks = (await http.get(metadata["jwks_uri"])).json()
    assert metadata["client_id"] == f"{public}{DOCUMENTS}/client-metadata.json"
    assert metadata["redirect_uris"] == [f"{public}/api/v1/social-accounts/callback/bluesky"]
    assert metadata["dpop_bound_access_tokens"] is True
    assert metadata["token_endpoint_auth_method"] == "private_key_jwt"
    assert all("d" not in key for key in jwks["keys"])


async def test_without_oauth_configured_there_are_no_client_documents(
    world: World,  # noqa: F811
) -> None:
    missing = await world.api.get(f"{DOCUMENTS}/client-metadata.json")
    assert_problem(missing, 404, "not_found")


async def test_a_handle_connects_through_oauth_and_publishes(oauth: Engine) -> None:
    account_id = await _connect_by_oauth(oauth.world, "shop.example.com")
    account = await _account(oauth.world, account_id)
    assert account.username == "shop.example.com"
    assert account.external_id.startswith("did:plc:")
    held = credentials(oauth.world.runtime.settings, account)
    assert held.dpop_key is not None
    assert account.dpop_key_encrypted is not None
    assert '"d"' not in account.dpop_key_encrypted
    oauth.accounts["bluesky"] = account_id
    post = await oauth.publish_now("bluesky", content="Posted over OAuth")
    await oauth.tick()
    [target] = (await oauth.read(post["id"]))["targets"]
    assert target["status"] == "published", target
    assert oauth.sends("bluesky", "Posted over OAuth") == ["accepted"]
    refreshed = await refresh_account(oauth.world.runtime, uuid.UUID(account_id), force=True)
    renewed = credentials(oauth.world.runtime.settings, refreshed)
    assert renewed.access_token != held.access_token
    assert renewed.dpop_key == held.dpop_key


async def test_app_passwords_keep_working_and_replace_the_oauth_key(oauth: Engine) -> None:
    account_id = await _connect_by_oauth(oauth.world, "shop.example.com")
    again = await _start(oauth.world, handle="shop.example.com", app_password=APP_PASSWORD)
    assert again.status_code == 201, again.text
    assert [item["id"] for item in again.json()["items"]] == [account_id]
    account = await _account(oauth.world, account_id)
    assert account.dpop_key_encrypted is None
    assert credentials(oauth.world.runtime.settings, account).dpop_key is None


async def test_a_callback_naming_another_issuer_connects_nothing(oauth: Engine) -> None:
    here = oauth.world
    started = await _start(here, handle="shop.example.com")
    callback = await here.to_network(started.json()["authorization_url"])
    parts = urlsplit(callback)
    forged = parts.query.replace("iss=", "iss=https%3A%2F%2Fevil.example%2F", 1)
    finished = await here.back_to_t21(urlunsplit(parts._replace(query=forged)))
    assert finished.status_code == 302
    assert query(finished.headers["location"])["error"] == "invalid_state"
    listed = await here.api.get(
        f"/api/v1/social-accounts?brand_id={here.brand_id}", headers=here.owner.headers
    )
    assert listed.json()["items"] == []


async def test_a_handle_that_cannot_sign_in_is_a_422(oauth: Engine) -> None:
    refused = await _start(oauth.world, handle="not a handle")
    assert_problem(refused, 422, "validation_error")
