"""Bluesky through AT Protocol OAuth, the adapter against the fake's authorization server and
PDS over real HTTP: T21's client metadata document and JWKS served on loopback for the fake to
fetch, PAR with PKCE and DPoP, the code exchange, DPoP-bound posting, refresh and revocation,
and the fake refusing what the reference server refuses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.core.outside import Permanent, ReauthRequired
from t21.core.tls import tls_context
from t21.platforms.base import Credentials, PublishRequest, PushedStart
from t21.platforms.bluesky import BlueskyProvider
from t21.platforms.bluesky.oauth import (
    authorization_server,
    derived_key,
    proof,
    server_metadata,
    simple_origin,
)
from t21.platforms.http import PlatformHttp
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.bluesky import create_bluesky_app
from t21.sandbox.server import ThreadedServer
from tests.platforms.harness import FakeNetwork, serve

HANDLE = "alice.bsky.social"
REDIRECT = "http://127.0.0.1:9/api/v1/social-accounts/callback/bluesky"
VERIFIER = "pkce-verifier-" + "0123456789abcdef" * 3


@dataclass
class ClientDocuments:
    """T21's client documents on loopback, as the provider renders them (or as a test spoils
    them), for the fake's authorization server to fetch."""

    url: str
    metadata: dict[str, Any] = field(default_factory=dict)
    jwks: dict[str, Any] = field(default_factory=dict)

    @property
    def extras(self) -> dict[str, str]:
        return {
            "oauth_client_id": f"{self.url}/client-metadata.json",
            "oauth_jwks_uri": f"{self.url}/jwks.json",
            "oauth_key": derived_key("test-secret"),
        }


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_bluesky_app()) as fake:
        yield fake


@pytest.fixture(scope="module")
def documents() -> Iterator[ClientDocuments]:
    holder: list[ClientDocuments] = []

    async def metadata(_request: Request) -> Response:
        return JSONResponse(holder[0].metadata)

    async def jwks(_request: Request) -> Response:
        return JSONResponse(holder[0].jwks)

    app = Starlette(routes=[Route("/client-metadata.json", metadata), Route("/jwks.json", jwks)])
    with ThreadedServer(app) as server:
        holder.append(ClientDocuments(server.url))
        yield holder[0]


@pytest.fixture
def bsky(fake: FakeNetwork, documents: ClientDocuments) -> BlueskyProvider:
    provider = BlueskyProvider(replace(fake.config("bluesky"), extras=documents.extras))
    documents.metadata = provider.client_metadata(REDIRECT, "http://127.0.0.1:9")
    documents.jwks = provider.client_jwks()
    return provider


async def _start(bsky: BlueskyProvider, hint: str | None = HANDLE) -> PushedStart:
    return await bsky.begin_authorization(
        login_hint=hint, state="state-1", redirect_uri=REDIRECT, code_verifier=VERIFIER
    )


async def _consent(start: PushedStart) -> dict[str, str]:
    """The browser at the authorization server, which consents at once; the callback's query."""
    async with httpx.AsyncClient(verify=tls_context()) as browser:
        answer = await browser.get(start.authorization_url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def _connect(bsky: BlueskyProvider) -> Credentials:
    start = await _start(bsky)
    back = await _consent(start)
    assert back["state"] == "state-1"
    assert back["iss"] == start.issuer
    [connection] = await bsky.finish_authorization(
        start.handoff, code=back["code"], redirect_uri=REDIRECT, code_verifier=VERIFIER
    )
    grant = connection.grant
    assert grant.dpop_key is not None
    return Credentials(
        access_token=grant.access_token,
        external_id=connection.profile.external_id,
        username=connection.profile.username,
        refresh_token=grant.refresh_token,
        scopes=grant.scopes,
        dpop_key=grant.dpop_key,
    )


def test_the_client_metadata_document_is_a_confidential_dpop_client(
    bsky: BlueskyProvider, documents: ClientDocuments
) -> None:
    document = documents.metadata
    assert document["client_id"] == documents.extras["oauth_client_id"]
    assert document["application_type"] == "web"
    assert document["dpop_bound_access_tokens"] is True
    assert document["scope"] == "atproto transition:generic"
    assert document["redirect_uris"] == [REDIRECT]
    assert document["token_endpoint_auth_method"] == "private_key_jwt"
    assert document["jwks_uri"] == documents.extras["oauth_jwks_uri"]
    [key] = documents.jwks["keys"]
    assert "d" not in key
    assert key["kid"]
    assert key["alg"] == "ES256"


async def test_a_handle_signs_in_and_posts_with_dpop_bound_tokens(
    fake: FakeNetwork, bsky: BlueskyProvider
) -> None:
    account = await _connect(bsky)
    assert account.external_id.startswith("did:plc:")
    assert account.username == HANDLE
    assert {"atproto", "transition:generic"} <= account.scopes
    published = await bsky.publish(account, PublishRequest(text="Hello over OAuth #atproto"))
    assert published.external_id.startswith(f"at://{account.external_id}/")
    assert [p["text"] for p in fake.published()] == ["Hello over OAuth #atproto"]
    # The PDS answers a proof without its nonce with 401 and a fresh nonce: sent again.
    fake.control("POST", "/oauth", {"rotate_nonce": True})
    assert (await bsky.profile(account)).username == HANDLE


async def test_a_dpop_bound_token_is_refused_as_a_bearer_token(
    fake: FakeNetwork, bsky: BlueskyProvider
) -> None:
    account = await _connect(bsky)
    async with httpx.AsyncClient(verify=tls_context()) as http:
        answer = await http.get(
            f"{fake.url}/xrpc/app.bsky.actor.getProfile",
            params={"actor": account.external_id},
            headers={"Authorization": f"Bearer {account.access_token}"},
        )
    assert answer.status_code == 401


async def test_refresh_rotates_with_the_same_key_and_revoke_ends_the_session(
    bsky: BlueskyProvider,
) -> None:
    account = await _connect(bsky)
    grant = await bsky.refresh(account)
    assert grant is not None
    assert grant.refresh_token
    assert grant.dpop_key == account.dpop_key
    assert grant.refresh_token != account.refresh_token
    with pytest.raises(ReauthRequired):
        await bsky.refresh(account)
    renewed = replace(account, access_token=grant.access_token, refresh_token=grant.refresh_token)
    assert (await bsky.profile(renewed)).username == HANDLE
    assert await bsky.revoke(renewed) is True
    with pytest.raises(ReauthRequired):
        await bsky.publish(renewed, PublishRequest(text="after revoke"))


async def test_without_a_handle_the_entryway_signs_in_whoever_consents(
    fake: FakeNetwork, bsky: BlueskyProvider
) -> None:
    fake.control("POST", "/oauth", {"consent_as": "bob.bsky.social"})
    start = await _start(bsky, hint=None)
    back = await _consent(start)
    [connection] = await bsky.finish_authorization(
        start.handoff, code=back["code"], redirect_uri=REDIRECT, code_verifier=VERIFIER
    )
    assert connection.profile.username == "bob.bsky.social"


async def test_another_account_than_the_handle_is_refused(
    fake: FakeNetwork, bsky: BlueskyProvider
) -> None:
    start = await _start(bsky)
    fake.control("POST", "/oauth", {"consent_as": "mallory.bsky.social"})
    back = await _consent(start)
    with pytest.raises(Permanent) as refused:
        await bsky.finish_authorization(
            start.handoff, code=back["code"], redirect_uri=REDIRECT, code_verifier=VERIFIER
        )
    assert refused.value.code == "wrong_account"


async def test_a_wrong_pkce_verifier_or_a_used_code_gets_no_tokens(bsky: BlueskyProvider) -> None:
    start = await _start(bsky)
    back = await _consent(start)
    with pytest.raises(ReauthRequired) as refused:
        await bsky.finish_authorization(
            start.handoff, code=back["code"], redirect_uri=REDIRECT, code_verifier="x" * 50
        )
    assert "code" in refused.value.message
    with pytest.raises(ReauthRequired):
        await bsky.finish_authorization(
            start.handoff, code=back["code"], redirect_uri=REDIRECT, code_verifier=VERIFIER
        )


async def test_an_unregistered_redirect_uri_is_refused(bsky: BlueskyProvider) -> None:
    with pytest.raises(Permanent) as refused:
        await bsky.begin_authorization(
            login_hint=HANDLE,
            state="s",
            redirect_uri="http://127.0.0.1:9/elsewhere",
            code_verifier=VERIFIER,
        )
    assert "redirect_uri" in refused.value.message


async def test_a_client_document_that_doesnt_match_or_cant_be_read_is_refused(
    bsky: BlueskyProvider, documents: ClientDocuments
) -> None:
    documents.metadata = documents.metadata | {"dpop_bound_access_tokens": False}
    with pytest.raises(Permanent) as unbound:
        await _start(bsky)
    assert "dpop_bound_access_tokens" in unbound.value.message
    documents.metadata = documents.metadata | {"dpop_bound_access_tokens": True}
    documents.jwks = {"keys": [ECKey.generate_key("P-256").as_dict(private=False) | {"kid": "x"}]}
    with pytest.raises(Permanent) as unsigned:
        await _start(bsky)
    assert "client_assertion" in unsigned.value.message
    lost = replace(
        bsky.config,
        extras=dict(bsky.config.extras) | {"oauth_client_id": "http://127.0.0.1:9/nowhere.json"},
    )
    with pytest.raises(Permanent) as unreachable:
        await BlueskyProvider(lost).begin_authorization(
            login_hint=HANDLE, state="s", redirect_uri=REDIRECT, code_verifier=VERIFIER
        )
    assert "client metadata" in unreachable.value.message


async def test_the_authorization_server_refuses_bad_dpop_proofs(fake: FakeNetwork) -> None:
    key = ECKey.generate_key("P-256", private=True)
    par = f"{fake.url}/oauth/par"
    async with httpx.AsyncClient(verify=tls_context()) as http:

        async def push(dpop: str | None) -> httpx.Response:
            headers = {"DPoP": dpop} if dpop else {}
            return await http.post(par, data={"client_id": "x"}, headers=headers)

        missing = await push(None)
        assert (missing.status_code, missing.json()["error"]) == (400, "invalid_dpop_proof")
        no_nonce = await push(proof(key, "POST", par))
        assert (no_nonce.status_code, no_nonce.json()["error"]) == (400, "use_dpop_nonce")
        nonce = no_nonce.headers["dpop-nonce"]
        wrong_method = await push(proof(key, "GET", par, nonce=nonce))
        assert wrong_method.json()["error_description"] == 'DPoP "htm" mismatch'
        wrong_url = await push(proof(key, "POST", f"{fake.url}/oauth/token", nonce=nonce))
        assert wrong_url.json()["error_description"] == 'DPoP "htu" mismatch'
        once = proof(key, "POST", par, nonce=nonce)
        first = await push(once)
        assert first.json()["error"] == "invalid_client_metadata"  # the proof itself passed
        replayed = await push(once)
        assert replayed.json()["error_description"] == "DPoP proof replayed"


def test_the_fake_names_itself_as_the_pds_authorization_server(fake: FakeNetwork) -> None:
    resource = httpx.get(f"{fake.url}/.well-known/oauth-protected-resource").json()
    [issuer] = resource["authorization_servers"]
    server = httpx.get(f"{issuer}/.well-known/oauth-authorization-server").json()
    assert server["issuer"] == issuer
    assert server["require_pushed_authorization_requests"] is True
    assert server["dpop_signing_alg_values_supported"] == ["ES256"]


# --- the issuer: a simple origin ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "sandbox", "taken"),
    [
        ("https://bsky.social", False, True),
        ("https://pds.example.com:8443", False, True),
        ("http://bsky.social", False, False),
        ("https://bsky.social/", False, False),
        ("https://bsky.social/oauth", False, False),
        ("https://user:secret@bsky.social", False, False),
        ("https://bsky.social?x=1", False, False),
        ("https://bsky.social#top", False, False),
        ("https://bsky.social:443", False, False),
        ("https://BSKY.social", False, False),
        ("https://bsky.social:99999", False, False),
        ("bsky.social", False, False),
        ("http://127.0.0.1:8001", True, True),
        ("http://127.0.0.1:8001/bluesky", True, False),
        ("http://127.0.0.1:80", True, False),
        ("ftp://127.0.0.1:8001", True, False),
    ],
)
def test_an_authorization_server_is_a_simple_origin(url: str, sandbox: bool, taken: bool) -> None:
    assert simple_origin(url, sandbox=sandbox) is taken


@pytest.mark.parametrize("named", ["{url}/as", "{url}/"])
async def test_a_pds_naming_an_issuer_with_a_path_is_refused_before_asking_it(
    bsky: BlueskyProvider, named: str
) -> None:
    asked: list[str] = []

    async def resource(request: Request) -> Response:
        return JSONResponse({"authorization_servers": [named.format(url=holder[0])]})

    async def metadata(request: Request) -> Response:
        asked.append(request.url.path)
        return JSONResponse({"issuer": named.format(url=holder[0])})

    holder: list[str] = []
    app = Starlette(
        routes=[
            Route("/.well-known/oauth-protected-resource", resource),
            Route("/as/.well-known/oauth-authorization-server", metadata),
            Route("/.well-known/oauth-authorization-server", metadata),
        ]
    )
    with ThreadedServer(app) as server:
        holder.append(server.url)
        async with PlatformHttp(bsky.config) as http:
            with pytest.raises(Permanent) as refused:
                await authorization_server(http, server.url)
    assert refused.value.code == "no_oauth"
    assert asked == []


async def test_metadata_naming_another_issuer_than_its_origin_is_refused(
    bsky: BlueskyProvider,
) -> None:
    holder: list[str] = []

    async def metadata(_request: Request) -> Response:
        return JSONResponse({"issuer": f"{holder[0]}/", "dpop_signing_alg_values_supported": []})

    app = Starlette(routes=[Route("/.well-known/oauth-authorization-server", metadata)])
    with ThreadedServer(app) as server:
        holder.append(server.url)
        async with PlatformHttp(bsky.config) as http:
            with pytest.raises(Permanent) as refused:
                await server_metadata(http, server.url)
    assert (refused.value.code, refused.value.message) == (
        "no_oauth",
        "The authorization server names another issuer.",
    )


def test_the_sandbox_serves_its_bluesky_issuer_at_its_origin_and_endpoints_under_bluesky() -> None:
    with ThreadedServer(create_sandbox_app()) as server:
        pds = f"{server.url}/bluesky"
        resource = httpx.get(f"{pds}/.well-known/oauth-protected-resource").json()
        assert resource["resource"] == pds
        assert resource["authorization_servers"] == [server.url]
        document = httpx.get(f"{server.url}/.well-known/oauth-authorization-server").json()
        mounted = httpx.get(f"{pds}/.well-known/oauth-authorization-server").json()
    assert document == mounted
    assert document["issuer"] == server.url
    assert simple_origin(document["issuer"], sandbox=True)
    assert not simple_origin(document["issuer"])  # plain http: taken from the sandbox only
    for name in ("pushed_authorization_request_endpoint", "token_endpoint"):
        assert document[name].startswith(f"{pds}/oauth/")
