"""The Bluesky fake's authorization server (AT Protocol OAuth), following the reference one
(github.com/bluesky-social/atproto packages/oauth/oauth-provider) and atproto.com/specs/oauth:

- `/.well-known/oauth-protected-resource` (the PDS names this server) and
  `/.well-known/oauth-authorization-server` (issuer, endpoints, ES256 DPoP, PAR required).
  The `issuer` is the origin the fake is served at, with no path, as atproto OAuth requires
  ("a simple origin URL", atproto.com/specs/oauth); mounted at `/bluesky` in the sandbox, its
  endpoints stay there and the sandbox app serves the metadata at the origin's root
  (`server_metadata_document`). Only its scheme is plain http, on loopback.
- `POST /oauth/par`: fetches the client metadata document at `client_id` (plain http is
  allowed here, for loopback; the real server wants https) and refuses one it can't fetch or
  that doesn't match (its `client_id`, `dpop_bound_access_tokens`, `redirect_uris`, `scope`);
  authenticates the client as the document says (`private_key_jwt`: an ES256 assertion whose
  `kid` is in the document's JWKS, `iss` = `sub` = client_id, `aud` = issuer, fresh `jti`);
  wants PKCE S256, `state`, and a DPoP proof; answers 201 `{request_uri, expires_in}`.
- `GET /oauth/authorize?client_id&request_uri`: the sandbox consents at once, for the account
  `login_hint` named (else `POST /_control/oauth {consent_as}`'s, else a sandbox account), and
  redirects to the client with `code`, `state` and `iss`.
- `POST /oauth/token`: `authorization_code` (the code once, its redirect_uri, the PKCE
  verifier, the same client and the same DPoP key as the PAR) and `refresh_token` (rotating,
  bound to the key); answers `token_type: DPoP`, `sub`, `scope`, `expires_in`.
- `POST /oauth/revoke`: ends the session of a token.
- DPoP proofs (RFC 9449) are checked as the reference does: `typ` dpop+jwt, ES256, a public
  `jwk`, a valid signature, `htm` and `htu` of this very request, `iat` at most 10 s old, a
  `jti` never seen before, the server's current `nonce` (else 400 `use_dpop_nonce`, or 401
  with `WWW-Authenticate: DPoP error="use_dpop_nonce"` at the PDS, and `DPoP-Nonce`), `ath`
  for an access token, whose key must be the one it is bound to.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from t21.core.tls import tls_context
from t21.sandbox.oauth import ControlError, control_body, optional

if TYPE_CHECKING:
    from t21.sandbox.bluesky import BlueskyState

SCOPES_SUPPORTED = ("atproto", "transition:generic", "transition:chat.bsky", "transition:email")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PROOF_MAX_AGE_S = 10  # dpop-manager.ts: maxTokenAge 10
PAR_TTL_S = 300  # PAR_EXPIRES_IN
CODE_TTL_S = 300
ACCESS_TTL_S = 3600  # TOKEN_MAX_AGE
REFRESH_TTL_CONFIDENTIAL_S = 90 * 86_400  # REFRESH_LIFETIME_EXTENDED (3 months)
REFRESH_TTL_PUBLIC_S = 14 * 86_400  # REFRESH_LIFETIME (2 weeks)
DEFAULT_ACCOUNT = "sandbox.bsky.social"


@dataclass
class OAuthState:
    """What the authorization server holds."""

    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    jtis: set[str] = field(default_factory=set)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # request_uri ->
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    bound: dict[str, str] = field(default_factory=dict)  # token -> DPoP key thumbprint
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # refresh token -> PAR
    consent_as: str | None = None

    def forget(self) -> None:
        self.nonce = secrets.token_urlsafe(16)
        self.jtis.clear()
        self.requests.clear()
        self.codes.clear()
        self.bound.clear()
        self.sessions.clear()
        self.consent_as = None


class OAuthRefusal(Exception):
    """An OAuth error answer: JSON `{error, error_description}` (or, at the PDS, a 401 with
    `WWW-Authenticate`), carrying the server's nonce."""

    def __init__(self, status: int, error: str, description: str, *, resource: bool = False):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.resource = resource


def refusal_response(nonce: str, exc: OAuthRefusal) -> Response:
    headers = {"DPoP-Nonce": nonce, "Access-Control-Expose-Headers": "DPoP-Nonce"}
    if exc.resource:
        headers["WWW-Authenticate"] = (
            f'DPoP error="{exc.error}", error_description="{exc.description}"'
        )
        return JSONResponse(
            {"error": exc.error, "message": exc.description},
            status_code=exc.status,
            headers=headers,
        )
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, status_code=exc.status, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def check_proof(oauth: OAuthState, request: Request, *, access_token: str | None = None) -> str:
    """The thumbprint of the key of the request's valid DPoP proof, or the refusal."""
    resource = access_token is not None
    values = request.headers.getlist("dpop")
    if len(values) != 1:
        raise OAuthRefusal(400, "invalid_dpop_proof", "DPoP proof required", resource=resource)
    try:
        header = jws.extract_compact(values[0].encode()).protected
        public = header.get("jwk")
        if (
            header.get("typ") != "dpop+jwt"
            or header.get("alg") != "ES256"
            or not isinstance(public, dict)
            or "d" in public
        ):
            raise ValueError("bad header")
        key = ECKey.import_key(public)
        claims = jwt.decode(values[0], key, algorithms=["ES256"]).claims
    except (JoseError, ValueError, TypeError, KeyError):
        raise OAuthRefusal(
            400, "invalid_dpop_proof", "Invalid DPoP proof", resource=resource
        ) from None
    parts = urlsplit(str(request.url))
    here = f"{parts.scheme}://{parts.netloc}{parts.path}"
    problems = {
        'DPoP "htm" mismatch': claims.get("htm") != request.method,
        'DPoP "htu" mismatch': claims.get("htu") != here,
        'DPoP "jti" missing': not isinstance(claims.get("jti"), str),
        'DPoP "iat" too old': not isinstance(claims.get("iat"), int)
        or not -5 <= time.time() - claims["iat"] <= PROOF_MAX_AGE_S,
    }
    for problem, found in problems.items():
        if found:
            raise OAuthRefusal(400, "invalid_dpop_proof", problem, resource=resource)
    if claims.get("nonce") != oauth.nonce:
        status = 401 if resource else 400
        raise OAuthRefusal(
            status, "use_dpop_nonce", "Authorization server requires nonce", resource=resource
        )
    if claims["jti"] in oauth.jtis:
        raise OAuthRefusal(400, "invalid_dpop_proof", "DPoP proof replayed", resource=resource)
    oauth.jtis.add(claims["jti"])
    if access_token is not None:
        expected = _b64(hashlib.sha256(access_token.encode()).digest())
        if claims.get("ath") != expected:
            raise OAuthRefusal(401, "invalid_dpop_proof", 'DPoP "ath" mismatch', resource=True)
    elif "ath" in claims:
        raise OAuthRefusal(400, "invalid_dpop_proof", 'DPoP "ath" claim not allowed')
    return key.thumbprint()


def bound_token(oauth: OAuthState, request: Request, token: str) -> None:
    """A DPoP-bound access token used at the PDS: its proof, by the key it is bound to."""
    jkt = check_proof(oauth, request, access_token=token)
    if oauth.bound.get(token) != jkt:
        raise OAuthRefusal(401, "invalid_token", "Invalid DPoP key binding", resource=True)


async def _form(request: Request) -> dict[str, str]:
    if request.headers.get("content-type", "").split(";")[0] != (
        "application/x-www-form-urlencoded"
    ):
        raise OAuthRefusal(400, "invalid_request", "Unsupported content type")
    form = await request.form()
    return {key: str(value) for key, value in form.items()}


async def _fetch(url: str, what: str) -> dict[str, Any]:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise OAuthRefusal(400, "invalid_client_metadata", f"Invalid {what} URL")
    try:
        async with httpx.AsyncClient(timeout=10, verify=tls_context()) as http:
            response = await http.get(url, headers={"Accept": "application/json"})
        body = response.json()
    except (httpx.HTTPError, ValueError):
        raise OAuthRefusal(400, "invalid_client_metadata", f"Unable to obtain {what}") from None
    if response.status_code != 200 or not isinstance(body, dict):
        raise OAuthRefusal(400, "invalid_client_metadata", f"Unable to obtain {what}")
    return body


async def _client(form: dict[str, str], issuer: str, oauth: OAuthState) -> dict[str, Any]:
    """The client's metadata, fetched from its client_id, and the client authenticated."""
    client_id = form.get("client_id", "")
    if not client_id:
        raise OAuthRefusal(400, "invalid_request", "client_id required")
    meta = await _fetch(client_id, "client metadata")
    checks = {
        "client_id mismatch": meta.get("client_id") != client_id,
        "dpop_bound_access_tokens must be true": meta.get("dpop_bound_access_tokens") is not True,
        'scope must include "atproto"': "atproto" not in str(meta.get("scope", "")).split(),
        "authorization_code grant required": "authorization_code"
        not in (meta.get("grant_types") or []),
        'response_types must include "code"': "code" not in (meta.get("response_types") or []),
        "application_type must be web or native": meta.get("application_type", "web")
        not in ("web", "native"),
    }
    for problem, found in checks.items():
        if found:
            raise OAuthRefusal(400, "invalid_client_metadata", problem)
    method = meta.get("token_endpoint_auth_method", "none")
    if method == "none":
        if "client_assertion" in form:
            raise OAuthRefusal(400, "invalid_client", "Public clients don't authenticate")
        return meta
    if method != "private_key_jwt" or not isinstance(meta.get("jwks_uri"), str):
        raise OAuthRefusal(400, "invalid_client_metadata", "Unsupported auth method")
    if form.get("client_assertion_type") != ASSERTION_TYPE or "client_assertion" not in form:
        raise OAuthRefusal(400, "invalid_request", "client_assertion required")
    keys = (await _fetch(meta["jwks_uri"], "client jwks")).get("keys") or []
    try:
        header = jws.extract_compact(form["client_assertion"].encode()).protected
        kid = header.get("kid")
        if not kid or header.get("alg") != "ES256":
            raise ValueError("kid and ES256 required")
        [found] = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
        claims = jwt.decode(form["client_assertion"], ECKey.import_key(found)).claims
    except (JoseError, ValueError, TypeError, KeyError):
        raise OAuthRefusal(401, "invalid_client", "Unable to verify client_assertion") from None
    now = time.time()
    if (
        claims.get("iss") != client_id
        or claims.get("sub") != client_id
        or claims.get("aud") != issuer
        or not isinstance(claims.get("jti"), str)
        or claims["jti"] in oauth.jtis
        or not isinstance(claims.get("iat"), int)
        or not -5 <= now - claims["iat"] <= 60
        or (isinstance(claims.get("exp"), int) and claims["exp"] < now)
    ):
        raise OAuthRefusal(401, "invalid_client", "Validation of client_assertion failed")
    oauth.jtis.add(claims["jti"])
    return meta


ROUTES = {
    "resource": "/.well-known/oauth-protected-resource",
    "metadata": "/.well-known/oauth-authorization-server",
    "par": "/oauth/par",
    "authorize": "/oauth/authorize",
    "token": "/oauth/token",
    "revoke": "/oauth/revoke",
}


def _base(request: Request) -> str:
    """This fake's own address, mounted or not: the request's URL without its route's path."""
    url = str(request.url.replace(query="", fragment=""))
    for path in ROUTES.values():
        if url.endswith(path):
            return url.removesuffix(path)
    raise OAuthRefusal(404, "invalid_request", "Unknown endpoint")


def _issuer(request: Request) -> str:
    """This authorization server's `issuer`: the origin it is served at, never a path (the
    fake mounted at `/bluesky` included), as atproto OAuth wants of an issuer."""
    return f"{request.url.scheme}://{request.url.netloc}"


def server_metadata_document(base: str) -> dict[str, Any]:
    """The authorization server metadata of the fake served at `base` (its endpoints there):
    its `issuer` is `base`'s origin, which serves this document at its root (the sandbox app
    forwards `/.well-known/oauth-authorization-server` to the fake it mounts)."""
    parts = urlsplit(base)
    return {
        "issuer": f"{parts.scheme}://{parts.netloc}",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "dpop_signing_alg_values_supported": ["ES256"],
        "authorization_response_iss_parameter_supported": True,
        "require_pushed_authorization_requests": True,
        "client_id_metadata_document_supported": True,
        "pushed_authorization_request_endpoint": base + ROUTES["par"],
        "authorization_endpoint": base + ROUTES["authorize"],
        "token_endpoint": base + ROUTES["token"],
        "revocation_endpoint": base + ROUTES["revoke"],
    }


def oauth_routes(state: BlueskyState, did_of: Callable[[str], str]) -> list[Route]:
    oauth = state.oauth

    async def protected_resource(request: Request) -> Response:
        return JSONResponse(
            {
                "resource": _base(request),
                "authorization_servers": [_issuer(request)],
                "scopes_supported": [],
                "bearer_methods_supported": ["header"],
            }
        )

    async def server_metadata(request: Request) -> Response:
        return JSONResponse(server_metadata_document(_base(request)))

    async def par(request: Request) -> Response:
        form = await _form(request)
        jkt = check_proof(oauth, request)
        meta = await _client(form, _issuer(request), oauth)
        scopes = form.get("scope", "").split()
        allowed = str(meta.get("scope", "")).split()
        if "atproto" not in scopes or any(s not in allowed for s in scopes):
            raise OAuthRefusal(400, "invalid_scope", "Scope not registered by the client")
        if form.get("redirect_uri") not in (meta.get("redirect_uris") or []):
            raise OAuthRefusal(400, "invalid_request", "Invalid redirect_uri")
        if form.get("response_type") != "code":
            raise OAuthRefusal(400, "unsupported_response_type", "response_type must be code")
        if form.get("code_challenge_method") != "S256" or len(form.get("code_challenge", "")) < 43:
            raise OAuthRefusal(400, "invalid_request", "S256 code_challenge required")
        if not form.get("state"):
            raise OAuthRefusal(400, "invalid_request", "state required")
        request_uri = "urn:ietf:params:oauth:request_uri:req-" + secrets.token_hex(16)
        oauth.requests[request_uri] = {
            **form,
            "jkt": jkt,
            "auth_method": meta.get("token_endpoint_auth_method", "none"),
            "expires_at": time.time() + PAR_TTL_S,
        }
        return JSONResponse(
            {"request_uri": request_uri, "expires_in": PAR_TTL_S - 1},
            status_code=201,
            headers={"DPoP-Nonce": oauth.nonce},
        )

    async def authorize(request: Request) -> Response:
        params = request.query_params
        pushed = oauth.requests.pop(params.get("request_uri", ""), None)
        if pushed is None or pushed["expires_at"] < time.time():
            raise OAuthRefusal(400, "invalid_request", "Unknown or expired request_uri")
        if pushed["client_id"] != params.get("client_id"):
            raise OAuthRefusal(400, "invalid_request", "client_id mismatch")
        handle = oauth.consent_as or pushed.get("login_hint") or DEFAULT_ACCOUNT
        did = handle if handle.startswith("did:") else did_of(handle)
        if not handle.startswith("did:"):
            state.handles.setdefault(did, handle.lower())
        if did not in state.handles:
            raise OAuthRefusal(400, "invalid_request", "Unknown account")
        code = "cod-" + secrets.token_hex(32)
        oauth.codes[code] = pushed | {"sub": did, "expires_at": time.time() + CODE_TTL_S}
        query = urlencode({"code": code, "state": pushed["state"], "iss": _issuer(request)})
        return RedirectResponse(f"{pushed['redirect_uri']}?{query}", status_code=302)

    def _tokens(pushed: dict[str, Any], sub: str, jkt: str) -> dict[str, Any]:
        refresh_ttl = (
            REFRESH_TTL_CONFIDENTIAL_S
            if pushed["auth_method"] == "private_key_jwt"
            else REFRESH_TTL_PUBLIC_S
        )
        scopes = frozenset(str(pushed["scope"]).split())
        common = {"account_id": sub, "client_id": pushed["client_id"], "scopes": scopes}
        access = state.issue("access", ttl_s=ACCESS_TTL_S, **common)
        refresh = state.issue("refresh", ttl_s=refresh_ttl, prefix="ref-", **common)
        oauth.bound[access.value] = oauth.bound[refresh.value] = jkt
        oauth.sessions[refresh.value] = pushed
        return {
            "access_token": access.value,
            "token_type": "DPoP",
            "expires_in": ACCESS_TTL_S,
            "refresh_token": refresh.value,
            "scope": pushed["scope"],
            "sub": sub,
        }

    async def token(request: Request) -> Response:
        form = await _form(request)
        jkt = check_proof(oauth, request)
        await _client(form, _issuer(request), oauth)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            pushed = oauth.codes.pop(form.get("code", ""), None)
            if pushed is None or pushed["expires_at"] < time.time():
                raise OAuthRefusal(400, "invalid_grant", "Invalid code")
            verifier = form.get("code_verifier", "")
            challenge = _b64(hashlib.sha256(verifier.encode()).digest())
            checks = {
                "client_id mismatch": pushed["client_id"] != form["client_id"],
                "redirect_uri mismatch": pushed["redirect_uri"] != form.get("redirect_uri"),
                "Invalid code_verifier": challenge != pushed["code_challenge"],
                "DPoP key mismatch": pushed["jkt"] != jkt,
            }
            for problem, found in checks.items():
                if found:
                    raise OAuthRefusal(400, "invalid_grant", problem)
            answer = _tokens(pushed, pushed["sub"], jkt)
        elif grant == "refresh_token":
            value = form.get("refresh_token", "")
            held = state.tokens.get(value)
            session = oauth.sessions.get(value)
            if held is None or held.kind != "refresh" or not held.usable() or session is None:
                raise OAuthRefusal(400, "invalid_grant", "Invalid refresh token")
            if held.client_id != form["client_id"] or oauth.bound.get(value) != jkt:
                raise OAuthRefusal(400, "invalid_grant", "Refresh token bound elsewhere")
            held.used = True
            answer = _tokens(session, held.account_id, jkt)
        else:
            raise OAuthRefusal(400, "unsupported_grant_type", "Unsupported grant_type")
        return JSONResponse(
            answer, headers={"DPoP-Nonce": oauth.nonce, "Cache-Control": "no-store"}
        )

    async def revoke(request: Request) -> Response:
        form = await _form(request)
        await _client(form, _issuer(request), oauth)
        held = state.tokens.get(form.get("token", ""))
        if held is not None and held.client_id == form["client_id"]:
            for issued in state.tokens.values():
                if issued.account_id == held.account_id and issued.client_id == held.client_id:
                    issued.revoked = True
        return Response(status_code=200)

    async def control(request: Request) -> Response:
        body = await control_body(request)
        consent_as = optional(body, "consent_as", str)
        if consent_as is not None and not consent_as:
            raise ControlError("`consent_as` must be a handle.")
        oauth.consent_as = consent_as
        if optional(body, "rotate_nonce", bool):
            oauth.nonce = secrets.token_urlsafe(16)
        return JSONResponse({"consent_as": oauth.consent_as, "nonce": oauth.nonce})

    return [
        Route("/_control/oauth", control, methods=["POST"]),
        Route(ROUTES["resource"], protected_resource),
        Route(ROUTES["metadata"], server_metadata),
        Route(ROUTES["par"], par, methods=["POST"]),
        Route(ROUTES["authorize"], authorize),
        Route(ROUTES["token"], token, methods=["POST"]),
        Route(ROUTES["revoke"], revoke, methods=["POST"]),
    ]
