"""The Google fake over real HTTP: the OpenID Connect code flow with PKCE as a client (and
Authlib, which T21 uses) runs it, and the refusals Google answers."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest

from t21.core.tls import tls_context
from t21.identity.oauth import AsyncOAuth2Client
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.google import DEFAULT_EMAIL, GoogleState, subject_for
from t21.sandbox.server import ThreadedServer
from tests.sandbox.conftest import Clock

CLIENT_ID = "t21-test.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-test-secret"
REDIRECT_URI = "http://127.0.0.1:9/api/v1/auth/oauth/google/callback"


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(http: httpx.Client, **overrides: str | None) -> httpx.Response:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "openid email profile",
        "state": "state-1",
    } | overrides
    return http.get("/o/oauth2/v2/auth", params={k: v for k, v in params.items() if v})


def callback(response: httpx.Response) -> dict[str, str]:
    """The query T21's callback receives from the 302."""
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query))


def exchange(http: httpx.Client, code: str, /, **overrides: str | None) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    } | overrides
    return http.post("/token", data={k: v for k, v in form.items() if v is not None})


def sign_in(http: httpx.Client, **authorize_params: str | None) -> dict[str, Any]:
    """The token response of a full PKCE S256 flow."""
    verifier, challenge = pkce_pair()
    query = callback(
        authorize(http, code_challenge=challenge, code_challenge_method="S256", **authorize_params)
    )
    response = exchange(http, query["code"], code_verifier=verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def verified_claims(http: httpx.Client, id_token: str, nonce: str | None = None) -> dict[str, Any]:
    """The ID token's claims, checked as a relying party does: signature against the JWKS the
    discovery document names, issuer, audience, expiry and nonce."""
    discovery = http.get("/.well-known/openid-configuration").json()
    keys = httpx.get(discovery["jwks_uri"]).json()["keys"]
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = jwt.PyJWK(next(key for key in keys if key["kid"] == kid))
    claims: dict[str, Any] = jwt.decode(
        id_token,
        key=key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=discovery["issuer"],
        options={"require": ["iss", "aud", "sub", "iat", "exp"]},
    )
    assert claims.get("nonce") == nonce
    return claims


def error_of(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    error: str = response.json()["error"]
    return error


def test_discovery_names_every_endpoint_under_this_servers_base_url(google: httpx.Client) -> None:
    document = google.get("/.well-known/openid-configuration").json()
    base = str(google.base_url).rstrip("/")
    assert document["issuer"] == base
    assert document["authorization_endpoint"] == f"{base}/o/oauth2/v2/auth"
    assert document["token_endpoint"] == f"{base}/token"
    assert document["userinfo_endpoint"] == f"{base}/v1/userinfo"
    assert document["jwks_uri"] == f"{base}/oauth2/v3/certs"
    assert document["code_challenge_methods_supported"] == ["plain", "S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "email_verified" in document["claims_supported"]


def test_sandbox_app_serves_google_under_its_prefix_with_a_matching_issuer() -> None:
    with ThreadedServer(create_sandbox_app()) as server:
        http = httpx.Client(verify=tls_context(), base_url=f"{server.url}/google")
        document = http.get("/.well-known/openid-configuration").json()
        assert document["issuer"] == f"{server.url}/google"
        assert document["token_endpoint"] == f"{server.url}/google/token"
        assert document["jwks_uri"] == f"{server.url}/google/oauth2/v3/certs"
        tokens = sign_in(http, nonce="n-mounted")
        claims = verified_claims(http, tokens["id_token"], nonce="n-mounted")
        assert claims["iss"] == f"{server.url}/google"
        http.close()


def test_code_flow_with_pkce_s256_yields_a_verifiable_id_token_and_userinfo(
    google: httpx.Client,
) -> None:
    verifier, challenge = pkce_pair()
    query = callback(
        authorize(
            google,
            nonce="nonce-1",
            code_challenge=challenge,
            code_challenge_method="S256",
        )
    )
    assert query["state"] == "state-1"

    response = exchange(google, query["code"], code_verifier=verifier)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3599
    assert "openid" in tokens["scope"].split()
    claims = verified_claims(google, tokens["id_token"], nonce="nonce-1")
    assert claims["aud"] == claims["azp"] == CLIENT_ID
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["sub"] == subject_for(DEFAULT_EMAIL)
    assert claims["email"] == DEFAULT_EMAIL
    assert claims["email_verified"] is True
    assert (claims["name"], claims["given_name"], claims["family_name"]) == (
        "Sandbox User",
        "Sandbox",
        "User",
    )

    userinfo = google.get(
        "/v1/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200
    assert userinfo.json() == {
        key: claims[key]
        for key in (
            "sub", "email", "email_verified", "name", "picture", "given_name", "family_name"
        )
    }  # fmt: skip


async def test_authlib_client_completes_the_flow_with_pkce_and_nonce(google: httpx.Client) -> None:
    async with httpx.AsyncClient(verify=tls_context(), base_url=google.base_url) as browser:
        discovery = (await browser.get("/.well-known/openid-configuration")).json()
    async with AsyncOAuth2Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        scope="openid email profile",
        code_challenge_method="S256",
    ) as client:
        verifier = secrets.token_urlsafe(48)
        url, state = client.create_authorization_url(
            discovery["authorization_endpoint"], code_verifier=verifier, nonce="authlib-nonce"
        )
        async with httpx.AsyncClient(verify=tls_context()) as browser:
            redirect = await browser.get(url)
        token = await client.fetch_token(
            discovery["token_endpoint"],
            authorization_response=redirect.headers["location"],
            state=state,
            code_verifier=verifier,
        )
        userinfo = await client.get(discovery["userinfo_endpoint"])
    claims = verified_claims(google, token["id_token"], nonce="authlib-nonce")
    assert userinfo.json()["sub"] == claims["sub"]
    assert userinfo.json()["email"] == DEFAULT_EMAIL


def test_plain_pkce_is_checked_against_the_verifier_itself(google: httpx.Client) -> None:
    verifier = secrets.token_urlsafe(48)
    query = callback(authorize(google, code_challenge=verifier, code_challenge_method="plain"))
    assert exchange(google, query["code"], code_verifier=verifier).status_code == 200


def test_token_refuses_a_wrong_code_verifier(google: httpx.Client) -> None:
    _, challenge = pkce_pair()
    query = callback(authorize(google, code_challenge=challenge, code_challenge_method="S256"))
    other_verifier, _ = pkce_pair()
    response = exchange(google, query["code"], code_verifier=other_verifier)
    assert error_of(response) == "invalid_grant"
    assert response.json()["error_description"] == "Invalid code verifier."


def test_token_refuses_a_missing_verifier_when_a_challenge_was_given(
    google: httpx.Client,
) -> None:
    _, challenge = pkce_pair()
    query = callback(authorize(google, code_challenge=challenge, code_challenge_method="S256"))
    assert error_of(exchange(google, query["code"])) == "invalid_grant"


def test_token_refuses_a_verifier_for_a_code_issued_without_challenge(
    google: httpx.Client,
) -> None:
    query = callback(authorize(google))
    verifier, _ = pkce_pair()
    assert error_of(exchange(google, query["code"], code_verifier=verifier)) == "invalid_grant"


def test_reused_code_is_refused_and_revokes_the_token_it_bought(google: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    query = callback(authorize(google, code_challenge=challenge, code_challenge_method="S256"))
    first = exchange(google, query["code"], code_verifier=verifier)
    access_token = first.json()["access_token"]

    second = exchange(google, query["code"], code_verifier=verifier)

    assert error_of(second) == "invalid_grant"
    userinfo = google.get("/v1/userinfo", headers={"authorization": f"Bearer {access_token}"})
    assert userinfo.status_code == 401


def test_code_older_than_ten_minutes_is_refused(
    google: httpx.Client, google_state: GoogleState
) -> None:
    clock = Clock()
    google_state.clock = clock
    verifier, challenge = pkce_pair()
    query = callback(authorize(google, code_challenge=challenge, code_challenge_method="S256"))
    clock.advance(601)
    response = exchange(google, query["code"], code_verifier=verifier)
    assert error_of(response) == "invalid_grant"


def test_token_refuses_a_redirect_uri_other_than_the_authorized_one(
    google: httpx.Client,
) -> None:
    verifier, challenge = pkce_pair()
    query = callback(authorize(google, code_challenge=challenge, code_challenge_method="S256"))
    response = exchange(
        google, query["code"], code_verifier=verifier, redirect_uri="http://127.0.0.1:9/other"
    )
    assert error_of(response) == "redirect_uri_mismatch"


def test_token_refuses_a_code_issued_to_another_client(google: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    query = callback(authorize(google, code_challenge=challenge, code_challenge_method="S256"))
    response = exchange(google, query["code"], code_verifier=verifier, client_id="someone-else")
    assert error_of(response) == "invalid_grant"


def test_token_accepts_client_secret_basic(google: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    query = callback(authorize(google, code_challenge=challenge, code_challenge_method="S256"))
    form = {
        "grant_type": "authorization_code",
        "code": query["code"],
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    response = google.post("/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET))
    assert response.status_code == 200
    assert verified_claims(google, response.json()["id_token"])["aud"] == CLIENT_ID


def test_registered_clients_refuse_unknown_clients_and_wrong_secrets(
    google: httpx.Client,
) -> None:
    registered = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [REDIRECT_URI],
    }
    assert google.post("/_control/clients", json=registered).status_code == 200
    assert authorize(google, client_id="unknown-client").status_code == 400

    query = callback(authorize(google))
    wrong_secret = exchange(google, query["code"], client_secret="not-the-secret")
    assert error_of(wrong_secret, 401) == "invalid_client"
    assert "www-authenticate" in wrong_secret.headers
    unknown = exchange(google, query["code"], client_id="unknown-client")
    assert error_of(unknown, 401) == "invalid_client"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"grant_type": "refresh_token"}, "unsupported_grant_type"),
        ({"grant_type": None}, "invalid_request"),
        ({"code": None}, "invalid_request"),
        ({"client_secret": None}, "invalid_request"),
        ({"code": "4/0not-a-code"}, "invalid_grant"),
    ],
)
def test_token_refuses_malformed_requests(
    google: httpx.Client, overrides: dict[str, str | None], error: str
) -> None:
    query = callback(authorize(google))
    assert error_of(exchange(google, query["code"], **overrides)) == error


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"scope": "email profile"}, "invalid_scope"),
        ({"scope": "openid https://www.googleapis.com/auth/drive"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "too-short", "code_challenge_method": "S256"}, "invalid_request"),
    ],
)
def test_authorize_redirects_other_problems_back_with_error_and_state(
    google: httpx.Client, overrides: dict[str, str | None], error: str
) -> None:
    query = callback(authorize(google, **overrides))
    assert query["error"] == error
    assert query["state"] == "state-1"
    assert "code" not in query


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": None},
        {"redirect_uri": None},
        {"redirect_uri": "javascript:alert(1)"},
        {"redirect_uri": "http://127.0.0.1:9/callback#fragment"},
    ],
)
def test_authorize_shows_a_400_page_instead_of_redirecting_to_an_unvalidated_uri(
    google: httpx.Client, overrides: dict[str, str | None]
) -> None:
    response = authorize(google, **overrides)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def test_authorize_refuses_a_redirect_uri_not_registered_for_the_client(
    google: httpx.Client,
) -> None:
    registered = {"client_id": CLIENT_ID, "client_secret": "s", "redirect_uris": [REDIRECT_URI]}
    google.post("/_control/clients", json=registered)
    response = authorize(google, redirect_uri="http://127.0.0.1:9/elsewhere")
    assert response.status_code == 400
    assert "redirect_uri_mismatch" in response.text


def test_login_hint_signs_in_the_user_with_that_email(google: httpx.Client) -> None:
    google.post("/_control/users", json={"email": "ada@example.com", "name": "Ada Lovelace"})
    tokens = sign_in(google, login_hint="ada@example.com")
    claims = verified_claims(google, tokens["id_token"])
    assert claims["email"] == "ada@example.com"
    assert claims["sub"] == subject_for("ada@example.com")
    assert claims["family_name"] == "Lovelace"


def test_next_user_signs_in_once_then_the_default_user_returns(google: httpx.Client) -> None:
    google.post("/_control/users", json={"email": "grace@example.com", "sub": "42"})
    assert google.post("/_control/next-user", json={"email": "grace@example.com"}).is_success

    first = verified_claims(google, sign_in(google)["id_token"])
    second = verified_claims(google, sign_in(google)["id_token"])

    assert (first["email"], first["sub"]) == ("grace@example.com", "42")
    assert second["email"] == DEFAULT_EMAIL


def test_next_user_must_exist(google: httpx.Client) -> None:
    response = google.post("/_control/next-user", json={"email": "nobody@example.com"})
    assert response.status_code == 404


def test_unverified_user_is_reported_unverified_in_id_token_and_userinfo(
    google: httpx.Client,
) -> None:
    google.post("/_control/users", json={"email": "eve@example.com", "email_verified": False})
    tokens = sign_in(google, login_hint="eve@example.com")
    assert verified_claims(google, tokens["id_token"])["email_verified"] is False
    userinfo = google.get(
        "/v1/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert userinfo["email"] == "eve@example.com"
    assert userinfo["email_verified"] is False


def test_openid_scope_alone_releases_no_email_or_profile(google: httpx.Client) -> None:
    tokens = sign_in(google, scope="openid")
    claims = verified_claims(google, tokens["id_token"])
    assert "email" not in claims
    assert "name" not in claims
    assert tokens["scope"] == "openid"


def test_userinfo_refuses_missing_unknown_and_expired_tokens(
    google: httpx.Client, google_state: GoogleState
) -> None:
    clock = Clock()
    google_state.clock = clock
    missing = google.get("/v1/userinfo")
    unknown = google.get("/v1/userinfo", headers={"authorization": "Bearer ya29.unknown"})
    access_token = sign_in(google)["access_token"]
    clock.advance(3600)
    expired = google.get("/v1/userinfo", headers={"authorization": f"Bearer {access_token}"})

    for response in (missing, unknown, expired):
        assert error_of(response, 401) == "invalid_token"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]


def test_control_requests_record_clients_and_pkce_without_secrets(google: httpx.Client) -> None:
    sign_in(google)
    google.get("/v1/userinfo")
    requests = google.get("/_control/requests").json()["requests"]

    authorize_entry, token_entry, userinfo_entry = requests
    assert authorize_entry["endpoint"] == "authorize"
    assert authorize_entry["client_id"] == CLIENT_ID
    assert authorize_entry["redirect_uri"] == REDIRECT_URI
    assert authorize_entry["code_challenge"] is True
    assert authorize_entry["code_challenge_method"] == "S256"
    assert token_entry["client_auth"] == "client_secret_post"
    assert token_entry["code_verifier"] is True
    assert token_entry["outcome"] == "token"
    assert userinfo_entry["outcome"] == "missing_token"
    assert CLIENT_SECRET not in str(requests)


def test_reset_restores_the_default_user_and_keeps_the_signing_key(google: httpx.Client) -> None:
    keys_before = google.get("/oauth2/v3/certs").json()
    google.post("/_control/users", json={"email": "ada@example.com"})
    access_token = sign_in(google)["access_token"]

    assert google.post("/_control/reset").is_success

    assert google.get("/_control/requests").json() == {"requests": []}
    assert google.get("/oauth2/v3/certs").json() == keys_before
    emails = [user["email"] for user in google.get("/_control/users").json()["users"]]
    assert emails == [DEFAULT_EMAIL]
    userinfo = google.get("/v1/userinfo", headers={"authorization": f"Bearer {access_token}"})
    assert userinfo.status_code == 401


def test_control_users_refuses_an_invalid_email(google: httpx.Client) -> None:
    response = google.post("/_control/users", json={"email": "not-an-email"})
    assert response.status_code == 400
    assert "email" in response.json()["error"]
