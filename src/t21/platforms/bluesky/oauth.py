"""AT Protocol OAuth, T21's side: the client metadata document and keys T21 serves, the
authorization server found from an account's PDS, DPoP proofs, PAR, code and refresh grants.

T21 is a *confidential* client (`token_endpoint_auth_method: private_key_jwt`, its public key
in a JWKS T21 serves): it publishes in the background for weeks, and the reference server gives
public clients sessions of 2 weeks with no way to extend them, confidential ones up to 2 years
with refresh tokens of 3 months (oauth-provider's SESSION_LIFETIME, SESSION_LIFETIME_EXTENDED,
REFRESH_LIFETIME_EXTENDED). A public client would need every account reconnected fortnightly.

Facts relied on (atproto.com/specs/oauth; bluesky-social/atproto packages/oauth):
- client_id is the URL of the client metadata document; `application_type: web`,
  `dpop_bound_access_tokens: true`, `grant_types` [authorization_code, refresh_token],
  `response_types` [code], `scope` includes `atproto`; a confidential client names
  `token_endpoint_auth_signing_alg` ES256 and `jwks_uri`.
- Discovery: the PDS's `/.well-known/oauth-protected-resource` names `authorization_servers`;
  the server's `/.well-known/oauth-authorization-server` gives `issuer`,
  `pushed_authorization_request_endpoint`, `authorization_endpoint`, `token_endpoint`,
  `revocation_endpoint`, `dpop_signing_alg_values_supported`. The server's URL and its
  `issuer` must be "a simple origin URL: `https` scheme, no credentials (user:password), no
  path, no query string or fragment. A port number is allowed, but a default port (443 for
  HTTPS) must not be included", and the `issuer` must "match the origin of the URL used to
  fetch the metadata document itself" (atproto.com/specs/oauth, "Server Metadata"); T21 takes
  it to the letter, a trailing `/` included (refused, as the reference client's
  `oauthIssuerIdentifierSchema` refuses it). Against the sandbox only, `http` is taken too (the
  sandbox is served over plain http on loopback); every other rule holds there as well.
- PAR is required, with PKCE S256 and a DPoP proof; the answer is `request_uri`; the browser
  goes to `authorization_endpoint?client_id=&request_uri=`. The callback carries `code`,
  `state` and `iss` (RFC 9207), which must equal the issuer.
- DPoP (RFC 9449): a JWT with `typ: dpop+jwt`, ES256, the public `jwk` in its header and
  `jti`, `htm`, `htu` (no query), `iat`, the server's `nonce`, and for a resource request
  `ath` (base64url SHA-256 of the access token). A server wanting a fresh nonce answers 400
  `use_dpop_nonce` (authorization server) or 401 with `WWW-Authenticate: DPoP
  error="use_dpop_nonce"` (PDS), and the nonce in `DPoP-Nonce`; the request is sent again.
- Client authentication: `client_assertion_type` jwt-bearer with an ES256 JWT (`iss` = `sub`
  = client_id, `aud` = the issuer, `jti`, `iat`, `kid` in its header).
- The token answer has `token_type: DPoP`, `sub` (the account's DID), `scope`; the client
  must check that the DID's PDS names this issuer as its authorization server.

Source: https://atproto.com/specs/oauth
Source: https://github.com/bluesky-social/atproto/blob/main/packages/oauth/oauth-types/src/oauth-issuer-identifier.ts
Source: https://docs.bsky.app/docs/advanced-guides/oauth-client
Source: https://github.com/bluesky-social/atproto/tree/main/packages/oauth/oauth-provider
Source: https://datatracker.ietf.org/doc/html/rfc9449
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.jwk import ECKey

from t21.core.outside import Permanent, ReauthRequired, Retryable
from t21.platforms.base import PlatformConfig
from t21.platforms.http import PlatformHttp, json_body

SCOPE = "atproto transition:generic"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_dpop_key() -> str:
    """A fresh ES256 key for one account's DPoP proofs, as a private JWK (JSON)."""
    return json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True))


def load_key(value: str) -> ECKey:
    """An ES256 private key from a JWK (JSON) or PEM."""
    text = value.strip()
    key = ECKey.import_key(json.loads(text) if text.startswith("{") else text.encode())
    if key.as_dict(private=False).get("crv") != "P-256" or not key.is_private:
        raise ValueError("an ES256 (P-256) private key is required")
    return key


def derived_key(secret: str) -> str:
    """The sandbox's client key: a P-256 key derived from T21's secret, stable across runs."""
    digest = hmac.new(secret.encode(), b"t21-bluesky-oauth-client-key", hashlib.sha512).digest()
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    return json.dumps(ECKey.import_key(private).as_dict(private=True))


def proof(
    key: ECKey, method: str, url: str, *, nonce: str | None = None, access_token: str | None = None
) -> str:
    """A DPoP proof for one request: its method and URL (without query), signed by `key`."""
    parts = urlsplit(url)
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": f"{parts.scheme}://{parts.netloc}{parts.path}",
        "iat": int(time.time()),
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["ath"] = _b64(hashlib.sha256(access_token.encode()).digest())
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key)


@dataclass(frozen=True)
class OAuthClient:
    """T21 as an AT Protocol OAuth client: its client_id (the metadata document's URL), its
    JWKS's URL and signing key."""

    client_id: str
    jwks_uri: str
    key: ECKey

    @classmethod
    def of(cls, config: PlatformConfig) -> OAuthClient | None:
        """The client `config` describes, when AT Protocol OAuth is turned on."""
        extras = config.extras
        client_id, jwks_uri, key = (
            extras.get("oauth_client_id"),
            extras.get("oauth_jwks_uri"),
            extras.get("oauth_key"),
        )
        if not client_id or not jwks_uri or not key:
            return None
        return cls(client_id, jwks_uri, load_key(key))

    @property
    def kid(self) -> str:
        return self.key.thumbprint()

    def metadata(self, redirect_uri: str, client_uri: str) -> dict[str, Any]:
        """The client metadata document served at `client_id`."""
        return {
            "client_id": self.client_id,
            "client_name": "T21",
            "client_uri": client_uri,
            "application_type": "web",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": [redirect_uri],
            "scope": SCOPE,
            "dpop_bound_access_tokens": True,
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks_uri": self.jwks_uri,
        }

    def jwks(self) -> dict[str, Any]:
        """The public half of the client key, as served at `jwks_uri`."""
        public = self.key.as_dict(private=False)
        return {"keys": [public | {"kid": self.kid, "use": "sig", "alg": "ES256"}]}

    def authentication(self, issuer: str) -> dict[str, str]:
        """The form fields authenticating T21 to the authorization server `issuer`."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": issuer,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 60,
        }
        header = {"alg": "ES256", "kid": self.kid}
        return {
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": jwt.encode(header, claims, self.key),
        }


def _asks_for_nonce(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return "use_dpop_nonce" in response.headers.get("www-authenticate", "")
    if response.status_code == 400:
        body = json_body(response)
        return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"
    return False


class Dpop:
    """Requests carrying DPoP proofs of one key, with each server's latest nonce; a request a
    server refused for want of a fresh nonce (nothing done) is sent once more with it."""

    def __init__(self, http: PlatformHttp, key: ECKey) -> None:
        self.http, self.key = http, key
        self.nonces: dict[str, str] = {}

    async def request(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        publishing: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        headers = dict(kwargs.pop("headers", {}))
        if access_token:
            headers["Authorization"] = f"DPoP {access_token}"
        response: httpx.Response | None = None
        for _ in range(2):
            nonce = self.nonces.get(origin)
            headers["DPoP"] = proof(self.key, method, url, nonce=nonce, access_token=access_token)
            response = await self.http.request(
                method, url, publishing=publishing, headers=headers, **kwargs
            )
            fresh = response.headers.get("dpop-nonce")
            if fresh:
                self.nonces[origin] = fresh
            if not (fresh and fresh != nonce and _asks_for_nonce(response)):
                return response
        assert response is not None
        return response


@dataclass(frozen=True)
class AuthServer:
    """An authorization server's endpoints, from its metadata."""

    issuer: str
    par_endpoint: str
    authorization_endpoint: str
    token_endpoint: str
    revocation_endpoint: str | None


async def _json(http: PlatformHttp, url: str, what: str) -> dict[str, Any]:
    response = await http.request("GET", url, headers={"Accept": "application/json"})
    if response.status_code >= 500 or response.status_code == 429:
        raise Retryable(f"{what} isn't available ({response.status_code}).", code="unreachable")
    body = json_body(response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise Permanent(f"{what} couldn't be read ({response.status_code}).", code="no_oauth")
    return body


async def authorization_server(http: PlatformHttp, pds: str) -> AuthServer:
    """The authorization server the PDS (or entryway) at `pds` names, its endpoints checked."""
    resource = await _json(
        http, f"{pds}/.well-known/oauth-protected-resource", "The PDS's resource metadata"
    )
    servers = resource.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], str):
        raise Permanent("The account's PDS names no authorization server.", code="no_oauth")
    return await server_metadata(http, servers[0])


def simple_origin(url: str, *, sandbox: bool = False) -> bool:
    """Whether `url` identifies an authorization server as atproto OAuth says: `https`, a host,
    no credentials, path, query or fragment, no default port, in canonical (lowercase) form.
    `sandbox` also takes `http`, which the sandbox is served over; nothing else is lifted."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return False
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    return (
        parts.scheme in (("https", "http") if sandbox else ("https",))
        and bool(parts.hostname)
        and "@" not in parts.netloc
        and port != default_port
        and url == f"{parts.scheme}://{parts.netloc.lower()}"
    )


async def server_metadata(http: PlatformHttp, issuer: str) -> AuthServer:
    """The endpoints of the authorization server `issuer` (a simple origin), from its own
    metadata, whose `issuer` must be that very origin."""
    if not simple_origin(issuer, sandbox=http.config.sandbox):
        raise Permanent(
            "The authorization server's address isn't an https origin (no path).", code="no_oauth"
        )
    meta = await _json(
        http, f"{issuer}/.well-known/oauth-authorization-server", "The authorization server"
    )
    if meta.get("issuer") != issuer:
        raise Permanent("The authorization server names another issuer.", code="no_oauth")
    if "ES256" not in (meta.get("dpop_signing_alg_values_supported") or []):
        raise Permanent("The authorization server doesn't take ES256 DPoP.", code="no_oauth")
    endpoints: dict[str, str] = {}
    for name in (
        "pushed_authorization_request_endpoint",
        "authorization_endpoint",
        "token_endpoint",
    ):
        value = meta.get(name)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise Permanent(f"The authorization server has no {name}.", code="no_oauth")
        endpoints[name] = value
    revocation = meta.get("revocation_endpoint")
    return AuthServer(
        issuer=issuer,
        par_endpoint=endpoints["pushed_authorization_request_endpoint"],
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        revocation_endpoint=revocation if isinstance(revocation, str) else None,
    )


def challenge(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode()).digest())


def _refusal(response: httpx.Response, what: str) -> Retryable | Permanent | ReauthRequired:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    described = body.get("error_description") if isinstance(body, dict) else None
    message = f"{what}: {response.status_code} {error or ''} {described or ''}".strip()
    if response.status_code == 429 or response.status_code >= 500:
        return Retryable(message, code="server_error")
    if error == "invalid_grant":
        return ReauthRequired(message, code="session_expired")
    return Permanent(message, code=str(error or f"http_{response.status_code}"))


async def push_authorization(
    dpop: Dpop,
    client: OAuthClient,
    server: AuthServer,
    *,
    redirect_uri: str,
    state: str,
    code_verifier: str,
    login_hint: str | None,
) -> str:
    """PAR: the request's parameters sent to the server; the browser's URL to it."""
    form = {
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "state": state,
        "code_challenge": challenge(code_verifier),
        "code_challenge_method": "S256",
    } | client.authentication(server.issuer)
    if login_hint:
        form["login_hint"] = login_hint
    response = await dpop.request("POST", server.par_endpoint, data=form)
    body = json_body(response)
    if response.status_code not in (200, 201) or not isinstance(body, dict):
        raise _refusal(response, "The authorization server refused the request")
    request_uri = body.get("request_uri")
    if not isinstance(request_uri, str):
        raise Retryable("The authorization server gave no request_uri.", code="bad_answer")
    query = urlencode({"client_id": client.client_id, "request_uri": request_uri})
    return f"{server.authorization_endpoint}?{query}"


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_in: int | None
    sub: str
    scopes: frozenset[str]


async def token_grant(
    dpop: Dpop, client: OAuthClient, server: AuthServer, form: dict[str, str]
) -> Tokens:
    """A token request (a code, or a refresh token) and its answer, checked."""
    response = await dpop.request(
        "POST", server.token_endpoint, data=form | client.authentication(server.issuer)
    )
    body = json_body(response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise _refusal(response, "The authorization server refused the grant")
    access, sub = body.get("access_token"), body.get("sub")
    if not isinstance(access, str) or not isinstance(sub, str) or not sub.startswith("did:"):
        raise Retryable("The token answer had no access token or sub.", code="bad_answer")
    if str(body.get("token_type", "")).lower() != "dpop":
        raise Permanent("The authorization server gave a token not bound to DPoP.", code="no_dpop")
    scopes = frozenset(str(body.get("scope") or "").split())
    if "atproto" not in scopes:
        raise Permanent("The grant lacks the atproto scope.", code="scope_missing")
    refresh, expires = body.get("refresh_token"), body.get("expires_in")
    return Tokens(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) else None,
        expires_in=expires if isinstance(expires, int) and expires > 0 else None,
        sub=sub,
        scopes=scopes,
    )


async def revoke(dpop: Dpop, client: OAuthClient, server: AuthServer, token: str) -> bool:
    """Revoke `token` at the server; whether it has a revocation endpoint."""
    if server.revocation_endpoint is None:
        return False
    form = {"token": token} | client.authentication(server.issuer)
    response = await dpop.request("POST", server.revocation_endpoint, data=form)
    if response.status_code != 200:
        raise _refusal(response, "The authorization server refused the revocation")
    return True
