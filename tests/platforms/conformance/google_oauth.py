"""Google's OAuth for web server apps as exchanges, shared by the Google networks' references
(YouTube, Business Profile): the code exchange and a refresh, as Google's page shows them. The
refresh token is the page's own example."""

from __future__ import annotations

from typing import Any

from tests.platforms.conformance.harness import ANY, Exchange, Expect, Reply

OAUTH = "https://developers.google.com/identity/protocols/oauth2/web-server"
REFRESH = "1//xEoDL4iW3cxlI7yDbSRFYNG01kVKM2C-259HOF2aQbI"


def code_exchange(access: str, scope: str, *, code: Any = ANY, redirect_uri: Any = ANY) -> Exchange:
    """T21 trading the authorization code (with PKCE's verifier, "Step 1: Set authorization
    parameters") for Google's tokens, offline access's refresh token among them."""
    return Exchange(
        name="exchange the authorization code (web server apps, step 5)",
        source=f"{OAUTH}#exchange-authorization-code",
        expect=Expect(
            "POST",
            "/token",
            form={
                "code": code,
                "client_id": ANY,
                "client_secret": ANY,
                "redirect_uri": redirect_uri,
                "grant_type": "authorization_code",
            },
            extra=frozenset({"code_verifier"}),
        ),
        reply=Reply(body=_tokens(access, scope) | {"refresh_token": REFRESH}),
    )


def refresh(access: str, scope: str) -> Exchange:
    """A refresh: a new access token, and no new refresh token."""
    return Exchange(
        name="refresh an access token",
        source=f"{OAUTH}#offline",
        expect=Expect(
            "POST",
            "/token",
            form={
                "client_id": ANY,
                "client_secret": ANY,
                "refresh_token": REFRESH,
                "grant_type": "refresh_token",
            },
        ),
        reply=Reply(body=_tokens(access, scope)),
    )


def _tokens(access: str, scope: str) -> dict[str, Any]:
    return {"access_token": access, "expires_in": 3920, "token_type": "Bearer", "scope": scope}
