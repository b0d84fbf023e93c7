"""Signing in with Google (OpenID Connect) or GitHub (OAuth 2.0), through Authlib.

The flow: `begin` stores a sign-in (state, PKCE verifier, nonce, where the front end wants to
land) bound to the browser by a cookie, and sends the browser to the provider. `complete`, at
the callback, uses that sign-in once, exchanges the code (with the verifier), learns a
*verified* email, finds or creates the account, and sends the browser back to the front end with
a one-time `login_code` that `exchange_login_code` turns into tokens.

Every URL is a setting, so the same code reaches the real providers, the sandbox or a test fake;
without real credentials (and outside production) the sandbox's fakes are used.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import jwt
from authlib.deprecate import AuthlibDeprecationWarning
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import clock
from t21.core.errors import NotAuthenticated, NotFound, Unavailable, ValidationFailed
from t21.core.logging import get_logger
from t21.core.redirects import allowed_redirect, with_params
from t21.core.security import new_token, token_digest
from t21.core.settings import Settings
from t21.core.tls import tls_context
from t21.identity import service
from t21.identity.models import LoginCode, OAuthIdentity, OAuthLogin, User
from t21.organizations import api_keys, invitations
from t21.organizations import service as organizations_service

with warnings.catch_warnings():
    # Authlib prefers the `httpx2` fork and warns when it falls back to httpx, which T21 uses.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

__all__ = ["AsyncOAuth2Client", "OAuthFailure", "Provider", "begin", "complete", "provider"]

log = get_logger("t21.oauth")

PROVIDERS = ("google", "github")
GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
GITHUB_AUTH_BASE = "https://github.com"
GITHUB_API_BASE = "https://api.github.com"
SANDBOX_CLIENT_ID = "t21-sandbox"
SANDBOX_CLIENT_SECRET = "t21-sandbox-secret"  # noqa: S105 (the sandbox's public test client)
HTTP_TIMEOUT_S = 10.0
CACHE_TTL_S = 3600.0


class OAuthFailure(Exception):
    """A sign-in that can't complete; `code` is what the front end receives as `?error=`."""

    def __init__(self, code: str, message: str, *, redirect_uri: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.redirect_uri = redirect_uri


@dataclass(frozen=True)
class Provider:
    name: str
    client_id: str
    client_secret: str
    scope: str
    sandbox: bool
    discovery_url: str | None = None  # OpenID Connect providers
    auth_base: str | None = None  # GitHub
    api_base: str | None = None


def provider(settings: Settings, name: str, sandbox_url: str | None) -> Provider:
    """The configured provider `name`: real credentials, else the sandbox, else unavailable."""
    if name not in PROVIDERS:
        raise NotFound(f"No sign-in provider {name!r}; use one of {', '.join(PROVIDERS)}.")
    use_sandbox = sandbox_url is not None and settings.sandbox_enabled
    if name == "google":
        if settings.google_client_id:
            secret = settings.google_client_secret
            return Provider(
                name="google",
                client_id=settings.google_client_id,
                client_secret=secret.get_secret_value() if secret else "",
                scope="openid email profile",
                sandbox=False,
                discovery_url=settings.google_discovery_url or GOOGLE_DISCOVERY_URL,
            )
        if use_sandbox:
            return Provider(
                name="google",
                client_id=SANDBOX_CLIENT_ID,
                client_secret=SANDBOX_CLIENT_SECRET,
                scope="openid email profile",
                sandbox=True,
                discovery_url=settings.google_discovery_url
                or f"{sandbox_url}/google/.well-known/openid-configuration",
            )
        raise Unavailable("Sign-in with Google is not configured (T21_GOOGLE_CLIENT_ID).")
    if settings.github_client_id:
        secret = settings.github_client_secret
        return Provider(
            name="github",
            client_id=settings.github_client_id,
            client_secret=secret.get_secret_value() if secret else "",
            scope="read:user user:email",
            sandbox=False,
            auth_base=settings.github_auth_base or GITHUB_AUTH_BASE,
            api_base=settings.github_api_base or GITHUB_API_BASE,
        )
    if use_sandbox:
        return Provider(
            name="github",
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            scope="read:user user:email",
            sandbox=True,
            auth_base=settings.github_auth_base or f"{sandbox_url}/github",
            api_base=settings.github_api_base or f"{sandbox_url}/github",
        )
    raise Unavailable("Sign-in with GitHub is not configured (T21_GITHUB_CLIENT_ID).")


# --- provider metadata (cached) ----------------------------------------------------------------

_cache: dict[str, tuple[float, Any]] = {}


async def _get_json(url: str, *, fresh: bool = False) -> Any:
    cached = _cache.get(url)
    if cached is not None and not fresh and time.monotonic() - cached[0] < CACHE_TTL_S:
        return cached[1]
    try:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S, verify=tls_context()) as http:
            response = await http.get(url)
            response.raise_for_status()
            value = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OAuthFailure("provider_unavailable", f"The provider didn't answer: {exc}") from exc
    _cache[url] = (time.monotonic(), value)
    return value


@dataclass(frozen=True)
class Endpoints:
    authorize: str
    token: str
    issuer: str | None = None
    jwks_uri: str | None = None


async def _endpoints(config: Provider) -> Endpoints:
    if config.discovery_url is not None:
        document = await _get_json(config.discovery_url)
        return Endpoints(
            authorize=document["authorization_endpoint"],
            token=document["token_endpoint"],
            issuer=document["issuer"],
            jwks_uri=document["jwks_uri"],
        )
    assert config.auth_base is not None
    return Endpoints(
        authorize=f"{config.auth_base}/login/oauth/authorize",
        token=f"{config.auth_base}/login/oauth/access_token",
    )


def _client(config: Provider, callback_url: str) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=config.scope,
        redirect_uri=callback_url,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post",  # noqa: S106 (a method name)
        timeout=HTTP_TIMEOUT_S,
        verify=tls_context(),
    )


# --- the flow ----------------------------------------------------------------------------------


def check_redirect_uri(settings: Settings, redirect_uri: str) -> str:
    try:
        return allowed_redirect(settings, redirect_uri)
    except ValidationFailed as exc:
        # On this GET route the address comes in the query string.
        raise ValidationFailed(
            exc.detail, errors=[{"loc": ["query", "redirect_uri"], "msg": exc.detail}]
        ) from None


async def begin(
    session: AsyncSession,
    settings: Settings,
    config: Provider,
    *,
    redirect_uri: str,
    callback_url: str,
) -> tuple[str, str]:
    """The provider's authorization URL, and the browser token to set as a cookie."""
    redirect_uri = check_redirect_uri(settings, redirect_uri)
    endpoints = await _endpoints(config)
    state, browser, verifier, nonce = new_token(), new_token(), new_token(), new_token()
    extra = {"nonce": nonce} if config.discovery_url is not None else {}
    async with _client(config, callback_url) as client:
        url, _ = client.create_authorization_url(
            endpoints.authorize, state=state, code_verifier=verifier, **extra
        )
    session.add(
        OAuthLogin(
            provider=config.name,
            state_digest=token_digest(state),
            browser_digest=token_digest(browser),
            code_verifier=verifier,
            nonce=nonce,
            redirect_uri=redirect_uri,
            expires_at=clock.now() + timedelta(seconds=settings.oauth_state_ttl_s),
        )
    )
    await session.flush()
    return str(url), browser


@dataclass(frozen=True)
class ProviderIdentity:
    subject: str
    email: str
    email_verified: bool
    name: str


async def complete(
    session: AsyncSession,
    settings: Settings,
    config: Provider,
    *,
    code: str | None,
    state: str | None,
    browser: str | None,
    provider_error: str | None,
    callback_url: str,
) -> str:
    """Finish a sign-in; the front-end URL to send the browser to, with its `login_code`."""
    login = await _use_login(session, config.name, state)
    if browser is None or token_digest(browser) != login.browser_digest:
        raise OAuthFailure(
            "invalid_state",
            "This sign-in was started in another browser.",
            redirect_uri=login.redirect_uri,
        )
    if provider_error is not None or not code:
        raise OAuthFailure(
            "access_denied",
            f"The provider did not sign you in ({provider_error or 'no code'}).",
            redirect_uri=login.redirect_uri,
        )
    try:
        identity = await _identify(config, code, login, callback_url)
    except OAuthFailure as failure:
        failure.redirect_uri = login.redirect_uri
        raise
    if not identity.email_verified:
        raise OAuthFailure(
            "email_not_verified",
            f"Your {config.name} account has no verified email address.",
            redirect_uri=login.redirect_uri,
        )
    user = await _sign_in(session, settings, config.name, identity)
    login_code = new_token()
    session.add(
        LoginCode(
            user_id=user.id,
            code_digest=token_digest(login_code),
            expires_at=clock.now() + timedelta(seconds=settings.login_code_ttl_s),
        )
    )
    await session.flush()
    return with_params(login.redirect_uri, login_code=login_code)


async def _use_login(session: AsyncSession, provider_name: str, state: str | None) -> OAuthLogin:
    now = clock.now()
    claimed = None
    if state:
        claimed = (
            await session.execute(
                update(OAuthLogin)
                .where(
                    OAuthLogin.state_digest == token_digest(state),
                    OAuthLogin.provider == provider_name,
                    OAuthLogin.used_at.is_(None),
                    OAuthLogin.expires_at > now,
                )
                .values(used_at=now, updated_at=now)
                .returning(OAuthLogin.id)
                .execution_options(synchronize_session=False)
            )
        ).one_or_none()
    if claimed is None:
        raise OAuthFailure(
            "invalid_state", "This sign-in link is invalid, expired or already used."
        )
    login = await session.get(OAuthLogin, claimed.id)
    assert login is not None
    return login


async def _identify(
    config: Provider, code: str, login: OAuthLogin, callback_url: str
) -> ProviderIdentity:
    endpoints = await _endpoints(config)
    async with _client(config, callback_url) as client:
        try:
            token = await client.fetch_token(
                endpoints.token, code=code, code_verifier=login.code_verifier
            )
        except OAuthError as exc:
            raise OAuthFailure(
                "provider_refused", f"The provider refused the sign-in: {exc.error}."
            ) from exc
        except httpx.HTTPError as exc:
            raise OAuthFailure("provider_unavailable", "The provider didn't answer.") from exc
    if config.discovery_url is not None:
        return await _google_identity(config, endpoints, token, login.nonce)
    return await _github_identity(config, token)


async def _google_identity(
    config: Provider, endpoints: Endpoints, token: dict[str, Any], nonce: str
) -> ProviderIdentity:
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or endpoints.jwks_uri is None:
        raise OAuthFailure("provider_refused", "The provider returned no ID token.")
    try:
        kid = jwt.get_unverified_header(id_token).get("kid")
        key = await _signing_key(endpoints.jwks_uri, kid)
        claims = jwt.decode(
            id_token,
            key,
            algorithms=["RS256"],
            audience=config.client_id,
            issuer=endpoints.issuer,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            leeway=30,
        )
    except jwt.PyJWTError as exc:
        log.warning("ID token refused", provider=config.name, error=str(exc))
        raise OAuthFailure("provider_refused", "The provider's ID token is invalid.") from exc
    if claims.get("nonce") != nonce:
        raise OAuthFailure(
            "provider_refused", "The provider's ID token doesn't belong to this sign-in."
        )
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise OAuthFailure("email_not_verified", "The provider gave no email address.")
    return ProviderIdentity(
        subject=str(claims["sub"]),
        email=service.normalise_email(email),
        email_verified=claims.get("email_verified") is True,
        name=str(claims.get("name") or email.split("@", 1)[0]),
    )


async def _signing_key(jwks_uri: str, kid: object) -> Any:
    for fresh in (False, True):  # a key not in the cached set may be a rotation: fetch again
        jwks = await _get_json(jwks_uri, fresh=fresh)
        for candidate in jwks.get("keys", []):
            if candidate.get("kid") == kid:
                return jwt.PyJWK(candidate).key
    raise jwt.InvalidKeyError("no key of the provider matches the token")


async def _github_identity(config: Provider, token: dict[str, Any]) -> ProviderIdentity:
    access_token = token.get("access_token")
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    try:
        async with httpx.AsyncClient(
            base_url=str(config.api_base),
            timeout=HTTP_TIMEOUT_S,
            headers=headers,
            verify=tls_context(),
        ) as http:
            user_response = await http.get("/user")
            emails_response = await http.get("/user/emails")
    except httpx.HTTPError as exc:
        raise OAuthFailure("provider_unavailable", "GitHub didn't answer.") from exc
    if user_response.status_code != 200:
        raise OAuthFailure(
            "provider_refused", f"GitHub refused the profile ({user_response.status_code})."
        )
    profile = user_response.json()
    emails = emails_response.json() if emails_response.status_code == 200 else []
    primary = next(
        (e for e in emails if isinstance(e, dict) and e.get("primary") and e.get("verified")), None
    )
    if primary is None:
        return ProviderIdentity(
            subject=str(profile["id"]),
            email="",
            email_verified=False,
            name=str(profile.get("login")),
        )
    return ProviderIdentity(
        subject=str(profile["id"]),
        email=service.normalise_email(str(primary["email"])),
        email_verified=True,
        name=str(profile.get("name") or profile.get("login")),
    )


async def _sign_in(
    session: AsyncSession, settings: Settings, provider_name: str, identity: ProviderIdentity
) -> User:
    """The account of this identity: already linked, else linked by its verified email, else new."""
    linked = await session.scalar(
        select(User)
        .join(OAuthIdentity, OAuthIdentity.user_id == User.id)
        .where(OAuthIdentity.provider == provider_name, OAuthIdentity.subject == identity.subject)
    )
    if linked is not None:
        return linked
    user = await service.find_user(session, identity.email)
    now = clock.now()
    if user is None:
        user = User(email=identity.email, name=identity.name, email_verified_at=now)
        session.add(user)
        await session.flush()
        await organizations_service.create_personal_organization(session, user)
    elif user.email_verified_at is None:
        # Someone registered this address without proving it; its verified owner takes the
        # account over. Everything the other person could still act through ends here: the
        # password, every session, every API key and every pending invitation the account
        # made (all of it while unverified: an account is claimed only until it is verified).
        user.password_hash = None
        user.email_verified_at = now
        await service.logout_everywhere(session, user)
        await api_keys.revoke_created_by(
            session, user.id, reason="its creator's unverified account was claimed by its owner"
        )
        await invitations.revoke_sent_by(session, user.id)
    session.add(
        OAuthIdentity(
            user_id=user.id, provider=provider_name, subject=identity.subject, email=identity.email
        )
    )
    await session.flush()
    return user


async def exchange_login_code(
    session: AsyncSession, settings: Settings, login_code: str
) -> service.Session | service.SecondFactorNeeded:
    now = clock.now()
    claimed = (
        await session.execute(
            update(LoginCode)
            .where(
                LoginCode.code_digest == token_digest(login_code),
                LoginCode.used_at.is_(None),
                LoginCode.expires_at > now,
            )
            .values(used_at=now, updated_at=now)
            .returning(LoginCode.user_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if claimed is None:
        raise NotAuthenticated("This login code is invalid, expired or already used.")
    user = await session.get(User, claimed.user_id)
    if user is None:
        raise NotAuthenticated("This login code is invalid, expired or already used.")
    return await service.sign_in(session, settings, user)
