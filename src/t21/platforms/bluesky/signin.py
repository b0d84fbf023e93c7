"""Connecting a Bluesky account through AT Protocol OAuth, and the care of its DPoP-bound
tokens: the handle resolved to its DID, PDS and authorization server; PAR with PKCE and a
fresh DPoP key for the account; the code exchanged with that key; the `sub` DID checked
against the resolved one and against the server its PDS names; refresh and revocation.
The protocol's pieces and their sources are in `t21.platforms.bluesky.oauth`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from t21.core.outside import Permanent, ReauthRequired
from t21.platforms.base import Connection, Credentials, PushedStart, TokenGrant
from t21.platforms.bluesky import oauth
from t21.platforms.bluesky.oauth import Dpop, OAuthClient, load_key
from t21.platforms.http import PlatformHttp

if TYPE_CHECKING:
    from t21.platforms.bluesky.provider import BlueskyProvider


def client_of(provider: BlueskyProvider) -> OAuthClient:
    client = OAuthClient.of(provider.config)
    if client is None:
        raise ReauthRequired(
            "AT Protocol OAuth isn't configured here (T21_BLUESKY_OAUTH).", code="oauth_off"
        )
    return client


async def begin(
    provider: BlueskyProvider,
    *,
    login_hint: str | None,
    state: str,
    redirect_uri: str,
    code_verifier: str,
) -> PushedStart:
    """Resolve the handle (when given) to its authorization server, else take the entryway's,
    and push the authorization request there with a new DPoP key for the account."""
    client = client_of(provider)
    dpop_key = oauth.new_dpop_key()
    did: str | None = None
    async with PlatformHttp(provider.config) as http:
        if login_hint:
            did = await provider.resolve(http, login_hint)
            server = await oauth.authorization_server(http, await provider.pds_of(http, did))
        else:
            server = await oauth.authorization_server(http, provider.config.api_base)
        url = await oauth.push_authorization(
            Dpop(http, load_key(dpop_key)),
            client,
            server,
            redirect_uri=redirect_uri,
            state=state,
            code_verifier=code_verifier,
            login_hint=login_hint,
        )
    handoff = {"issuer": server.issuer, "dpop_key": dpop_key, "did": did}
    return PushedStart(authorization_url=url, handoff=handoff, issuer=server.issuer)


async def finish(
    provider: BlueskyProvider,
    handoff: dict[str, Any],
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str,
) -> list[Connection]:
    """Exchange the code with the key the request was pushed with; the account is the token's
    `sub`, which must be the handle's DID (when one was given) and whose PDS must name this
    very authorization server."""
    client = client_of(provider)
    issuer, dpop_key, expected = handoff["issuer"], handoff["dpop_key"], handoff.get("did")
    async with PlatformHttp(provider.config) as http:
        dpop = Dpop(http, load_key(dpop_key))
        server = await oauth.server_metadata(http, issuer)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        tokens = await oauth.token_grant(dpop, client, server, form)
        if expected is not None and tokens.sub != expected:
            raise Permanent("Bluesky signed in another account.", code="wrong_account")
        pds = await provider.pds_of(http, tokens.sub)
        authority = await oauth.authorization_server(http, pds)
        if authority.issuer != issuer:
            raise Permanent(
                "The account's PDS doesn't trust this authorization server.", code="wrong_issuer"
            )
        grant = TokenGrant(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
            scopes=tokens.scopes,
            dpop_key=dpop_key,
        )
        held = Credentials(
            access_token=tokens.access_token, external_id=tokens.sub, dpop_key=dpop_key
        )
        profile = await provider.read_profile(provider.api(http, pds, held), tokens.sub)
    return [Connection(profile=profile, grant=grant)]


async def refresh(provider: BlueskyProvider, credentials: Credentials) -> TokenGrant | None:
    """New tokens from the refresh token (which rotates), with the account's DPoP key, at the
    authorization server its PDS names today."""
    if not credentials.refresh_token or not credentials.dpop_key:
        return None
    client = client_of(provider)
    async with PlatformHttp(provider.config) as http:
        pds = await provider.pds_of(http, credentials.external_id)
        server = await oauth.authorization_server(http, pds)
        form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}
        tokens = await oauth.token_grant(
            Dpop(http, load_key(credentials.dpop_key)), client, server, form
        )
    if tokens.sub != credentials.external_id:
        raise ReauthRequired("The refreshed session is another account's.", code="wrong_account")
    return TokenGrant(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=tokens.expires_in,
        scopes=tokens.scopes,
        dpop_key=credentials.dpop_key,
    )


async def revoke(provider: BlueskyProvider, credentials: Credentials) -> bool:
    """Revoke the session's refresh token (and with it the session) at its server."""
    if not credentials.refresh_token or not credentials.dpop_key:
        return False
    client = client_of(provider)
    async with PlatformHttp(provider.config) as http:
        pds = await provider.pds_of(http, credentials.external_id)
        server = await oauth.authorization_server(http, pds)
        dpop = Dpop(http, load_key(credentials.dpop_key))
        return await oauth.revoke(dpop, client, server, credentials.refresh_token)
