"""The GitHub fake over real HTTP: the OAuth app flow with PKCE as a client (and Authlib) runs
it, GitHub's form-or-JSON token answers and 200-with-error envelopes, and the REST refusals."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from t21.core.tls import tls_context
from t21.identity.oauth import AsyncOAuth2Client
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.github import DEFAULT_EMAIL, DEFAULT_LOGIN, GitHubState, user_id_for
from t21.sandbox.server import ThreadedServer
from tests.sandbox.conftest import Clock

CLIENT_ID = "Iv1.t21test"
CLIENT_SECRET = "github-test-secret"
REDIRECT_URI = "http://127.0.0.1:9/api/v1/auth/oauth/github/callback"
JSON = {"accept": "application/json"}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(http: httpx.Client, **overrides: str | None) -> httpx.Response:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "read:user user:email",
        "state": "state-1",
    } | overrides
    return http.get("/login/oauth/authorize", params={k: v for k, v in params.items() if v})


def callback(response: httpx.Response, redirect_uri: str = REDIRECT_URI) -> dict[str, str]:
    """The query T21's callback receives from the 302."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?")
    return dict(parse_qsl(urlsplit(location).query))


def exchange(
    http: httpx.Client, code: str, headers: dict[str, str] = JSON, /, **overrides: str | None
) -> httpx.Response:
    form = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "code": code,
        "redirect_uri": REDIRECT_URI,
    } | overrides
    data = {k: v for k, v in form.items() if v is not None}
    return http.post("/login/oauth/access_token", data=data, headers=headers)


def sign_in(http: httpx.Client, **authorize_params: str | None) -> str:
    """The access token of a full PKCE S256 flow."""
    verifier, challenge = pkce_pair()
    query = callback(
        authorize(http, code_challenge=challenge, code_challenge_method="S256", **authorize_params)
    )
    response = exchange(http, query["code"], code_verifier=verifier)
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


def api(http: httpx.Client, path: str, token: str, scheme: str = "Bearer") -> httpx.Response:
    return http.get(path, headers={"authorization": f"{scheme} {token}"})


def test_code_flow_with_pkce_gives_a_token_for_user_and_emails(github: httpx.Client) -> None:
    verifier, challenge = pkce_pair()
    query = callback(authorize(github, code_challenge=challenge, code_challenge_method="S256"))
    assert query["state"] == "state-1"

    response = exchange(github, query["code"], code_verifier=verifier)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    token = response.json()
    assert token["access_token"].startswith("gho_")
    assert token["token_type"] == "bearer"
    assert token["scope"] == "read:user,user:email"
    user = api(github, "/user", token["access_token"])
    assert user.status_code == 200
    assert user.headers["x-oauth-scopes"] == "read:user, user:email"
    profile = user.json()
    assert profile["login"] == DEFAULT_LOGIN
    assert profile["id"] == user_id_for(DEFAULT_LOGIN)
    assert isinstance(profile["id"], int)
    assert profile["name"] == "Sandbox User"
    assert profile["email"] is None
    assert profile["type"] == "User"
    assert profile["url"] == f"{str(github.base_url).rstrip('/')}/users/{DEFAULT_LOGIN}"
    emails = api(github, "/user/emails", token["access_token"])
    assert emails.json() == [
        {"email": DEFAULT_EMAIL, "primary": True, "verified": True, "visibility": "private"}
    ]


def test_token_answer_is_form_encoded_unless_json_is_accepted(github: httpx.Client) -> None:
    query = callback(authorize(github))

    response = exchange(github, query["code"], {})

    assert response.headers["content-type"].startswith("application/x-www-form-urlencoded")
    token = dict(parse_qsl(response.text))
    assert token["access_token"].startswith("gho_")
    assert token["scope"] == "read:user,user:email"
    assert token["token_type"] == "bearer"


async def test_authlib_client_completes_the_flow_with_pkce(github: httpx.Client) -> None:
    base = str(github.base_url).rstrip("/")
    async with AsyncOAuth2Client(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        scope="read:user user:email",
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",
    ) as client:
        verifier = secrets.token_urlsafe(48)
        url, state = client.create_authorization_url(
            f"{base}/login/oauth/authorize", code_verifier=verifier
        )
        async with httpx.AsyncClient(verify=tls_context()) as browser:
            redirect = await browser.get(url)
        token = await client.fetch_token(
            f"{base}/login/oauth/access_token",
            authorization_response=redirect.headers["location"],
            state=state,
            code_verifier=verifier,
        )
        user = await client.get(f"{base}/user")
        emails = await client.get(f"{base}/user/emails")
    assert token["token_type"] == "bearer"
    assert user.json()["login"] == DEFAULT_LOGIN
    assert emails.json()[0]["email"] == DEFAULT_EMAIL


def test_token_accepts_client_credentials_by_http_basic(github: httpx.Client) -> None:
    query = callback(authorize(github))
    response = github.post(
        "/login/oauth/access_token",
        data={"code": query["code"], "redirect_uri": REDIRECT_URI},
        headers=JSON,
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.json()["access_token"].startswith("gho_")


def test_token_accepts_a_json_body(github: httpx.Client) -> None:
    query = callback(authorize(github))
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": query["code"]}
    response = github.post("/login/oauth/access_token", json=body, headers=JSON)
    assert response.json()["access_token"].startswith("gho_")


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_verifier": "wrong-" + "v" * 43}, "bad_verification_code"),
        ({"code_verifier": None}, "bad_verification_code"),
        ({"code": "0123456789abcdef0123"}, "bad_verification_code"),
        ({"client_id": "another-app"}, "bad_verification_code"),
        ({"redirect_uri": "http://127.0.0.1:9/elsewhere"}, "redirect_uri_mismatch"),
        ({"client_secret": None}, "incorrect_client_credentials"),
    ],
)
def test_token_refusals_answer_200_with_githubs_error_envelope(
    github: httpx.Client, overrides: dict[str, str | None], error: str
) -> None:
    verifier, challenge = pkce_pair()
    query = callback(authorize(github, code_challenge=challenge, code_challenge_method="S256"))
    response = exchange(github, query["code"], **({"code_verifier": verifier} | overrides))
    assert response.status_code == 200
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert body["error_uri"].startswith("https://docs.github.com/")
    assert "access_token" not in body


def test_token_refusal_is_form_encoded_without_json_accept(github: httpx.Client) -> None:
    response = exchange(github, "0123456789abcdef0123", {})
    assert response.status_code == 200
    assert dict(parse_qsl(response.text))["error"] == "bad_verification_code"


def test_reused_code_is_refused_and_revokes_the_token_it_bought(github: httpx.Client) -> None:
    query = callback(authorize(github))
    token = exchange(github, query["code"]).json()["access_token"]

    again = exchange(github, query["code"])

    assert again.json()["error"] == "bad_verification_code"
    assert api(github, "/user", token).status_code == 401


def test_code_older_than_ten_minutes_is_refused(
    github: httpx.Client, github_state: GitHubState
) -> None:
    clock = Clock()
    github_state.clock = clock
    query = callback(authorize(github))
    clock.advance(601)
    assert exchange(github, query["code"]).json()["error"] == "bad_verification_code"


def test_registered_client_refuses_a_wrong_secret(github: httpx.Client) -> None:
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "callback_url": REDIRECT_URI}
    assert github.post("/_control/clients", json=client).status_code == 200
    query = callback(authorize(github))
    response = exchange(github, query["code"], client_secret="not-the-secret")
    assert response.json()["error"] == "incorrect_client_credentials"


def test_registered_client_may_redirect_below_its_callback_or_default_to_it(
    github: httpx.Client,
) -> None:
    callback_url = "http://127.0.0.1:9/oauth"
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "callback_url": callback_url}
    github.post("/_control/clients", json=client)

    below = authorize(github, redirect_uri=f"{callback_url}/github/callback")
    defaulted = authorize(github, redirect_uri=None)
    elsewhere = authorize(github, redirect_uri="http://127.0.0.1:9/other")
    other_port = authorize(github, redirect_uri="http://127.0.0.1:10/oauth")

    assert "code" in callback(below, f"{callback_url}/github/callback")
    assert "code" in callback(defaulted, callback_url)
    assert elsewhere.status_code == other_port.status_code == 400


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": None},
        {"redirect_uri": None},
        {"redirect_uri": "ftp://127.0.0.1/callback"},
    ],
)
def test_authorize_shows_a_400_page_instead_of_redirecting_to_an_unvalidated_uri(
    github: httpx.Client, overrides: dict[str, str | None]
) -> None:
    response = authorize(github, **overrides)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_authorize_refuses_an_unknown_client_once_clients_are_registered(
    github: httpx.Client,
) -> None:
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "callback_url": REDIRECT_URI}
    github.post("/_control/clients", json=client)
    assert authorize(github, client_id="unknown-app").status_code == 400


@pytest.mark.parametrize("method", ["plain", None])
def test_authorize_refuses_pkce_methods_other_than_s256(
    github: httpx.Client, method: str | None
) -> None:
    query = callback(
        authorize(github, code_challenge=secrets.token_urlsafe(48), code_challenge_method=method)
    )
    assert query["error"] == "invalid_request"
    assert query["state"] == "state-1"
    assert "code" not in query


def test_user_emails_without_the_user_email_scope_answers_not_found(
    github: httpx.Client,
) -> None:
    token = sign_in(github, scope="read:user")
    response = api(github, "/user/emails", token)
    assert response.status_code == 404
    assert response.json()["message"] == "Not Found"
    assert response.json()["documentation_url"].startswith("https://docs.github.com/")
    assert api(github, "/user", token).status_code == 200


def test_user_scope_also_grants_user_emails(github: httpx.Client) -> None:
    token = sign_in(github, scope="user")
    assert api(github, "/user/emails", token).status_code == 200


def test_api_accepts_the_token_scheme_as_well_as_bearer(github: httpx.Client) -> None:
    token = sign_in(github)
    assert api(github, "/user", token, scheme="token").json()["login"] == DEFAULT_LOGIN


def test_api_answers_401_for_missing_or_bad_credentials(github: httpx.Client) -> None:
    missing = github.get("/user")
    bad = api(github, "/user/emails", "gho_" + "x" * 36)

    assert missing.status_code == bad.status_code == 401
    assert missing.json()["message"] == "Requires authentication"
    assert bad.json()["message"] == "Bad credentials"
    assert bad.json()["documentation_url"] == "https://docs.github.com/rest"


def test_api_refuses_requests_without_a_user_agent(github: httpx.Client) -> None:
    token = sign_in(github)
    response = github.get("/user", headers={"authorization": f"Bearer {token}", "user-agent": ""})
    assert response.status_code == 403
    assert "User-Agent" in response.text


def test_login_hint_chooses_the_user_by_login_or_email(github: httpx.Client) -> None:
    github.post(
        "/_control/users",
        json={"login": "octo-ada", "emails": [{"email": "ada@example.com", "verified": True}]},
    )
    by_login = sign_in(github, login="octo-ada")
    by_email = sign_in(github, login="ada@example.com")
    assert api(github, "/user", by_login).json()["login"] == "octo-ada"
    assert api(github, "/user", by_email).json()["login"] == "octo-ada"


def test_next_user_signs_in_once_then_the_default_user_returns(github: httpx.Client) -> None:
    github.post("/_control/users", json={"login": "grace", "id": 42, "name": "Grace Hopper"})
    assert github.post("/_control/next-user", json={"login": "grace"}).is_success

    first = api(github, "/user", sign_in(github)).json()
    second = api(github, "/user", sign_in(github)).json()

    assert (first["login"], first["id"], first["name"]) == ("grace", 42, "Grace Hopper")
    assert second["login"] == DEFAULT_LOGIN


def test_user_whose_only_email_is_unverified_is_reported_so(github: httpx.Client) -> None:
    github.post(
        "/_control/users",
        json={"login": "mallory", "emails": [{"email": "m@example.com", "verified": False}]},
    )
    token = sign_in(github, login="mallory")
    emails = api(github, "/user/emails", token).json()
    assert emails == [
        {"email": "m@example.com", "primary": True, "verified": False, "visibility": "private"}
    ]
    assert api(github, "/user", token).json()["email"] is None


def test_public_email_is_shown_on_the_profile(github: httpx.Client) -> None:
    emails: list[dict[str, Any]] = [
        {"email": "work@example.com", "primary": False, "verified": True},
        {"email": "home@example.com", "primary": True, "verified": True},
    ]
    github.post(
        "/_control/users",
        json={"login": "pub", "emails": emails, "public_email": "home@example.com"},
    )
    token = sign_in(github, login="pub")
    assert api(github, "/user", token).json()["email"] == "home@example.com"
    visibility = {e["email"]: e["visibility"] for e in api(github, "/user/emails", token).json()}
    assert visibility == {"work@example.com": None, "home@example.com": "public"}


def test_control_refuses_a_public_email_that_is_not_verified(github: httpx.Client) -> None:
    response = github.post(
        "/_control/users",
        json={
            "login": "x",
            "emails": [{"email": "x@example.com", "verified": False}],
            "public_email": "x@example.com",
        },
    )
    assert response.status_code == 400


def test_control_requests_record_clients_and_pkce_without_secrets(github: httpx.Client) -> None:
    token = sign_in(github)
    api(github, "/user", token)
    requests = github.get("/_control/requests").json()["requests"]

    authorize_entry, token_entry, user_entry = requests
    assert authorize_entry["client_id"] == CLIENT_ID
    assert authorize_entry["code_challenge"] is True
    assert authorize_entry["code_challenge_method"] == "S256"
    assert token_entry["client_id"] == CLIENT_ID
    assert token_entry["code_verifier"] is True
    assert user_entry == {"endpoint": "user", "outcome": "ok"}
    assert CLIENT_SECRET not in str(requests)
    assert token not in str(requests)


def test_reset_restores_the_default_user(github: httpx.Client) -> None:
    github.post("/_control/users", json={"login": "temp"})
    token = sign_in(github, login="temp")
    assert github.post("/_control/reset").is_success
    logins = [user["login"] for user in github.get("/_control/users").json()["users"]]
    assert logins == [DEFAULT_LOGIN]
    assert api(github, "/user", token).status_code == 401


def test_sandbox_app_serves_github_under_its_prefix() -> None:
    with ThreadedServer(create_sandbox_app()) as server, httpx.Client(verify=tls_context()) as http:
        base = f"{server.url}/github"
        http.base_url = httpx.URL(base)
        token = sign_in(http)
        profile = api(http, "/user", token).json()
    assert profile["url"] == f"{base}/users/{DEFAULT_LOGIN}"
