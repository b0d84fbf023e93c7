"""What Meta's Graph networks (Instagram, Threads) share as providers: the short-lived token
swapped for a 60-day one, its refresh with itself once 24 h old, no revocation endpoint, the
profile read, and insights read post by post.
Source: https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token
Source: https://developers.facebook.com/docs/threads/get-started/long-lived-tokens/
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx

from t21.core.outside import OutsideFailure, Retryable
from t21.platforms.base import (
    Connection,
    Credentials,
    PlatformConfig,
    PostMetrics,
    Profile,
    TokenGrant,
)
from t21.platforms.http import PlatformHttp
from t21.platforms.meta.errors import GraphErrors
from t21.platforms.meta.graph import LONG_LIVED_S, Graph, number, until_refreshable
from t21.platforms.text import comparable


class GraphProvider(ABC):
    """The part of a Graph network's provider that doesn't depend on the network: subclasses
    name their grant types and read their own profile and insights."""

    graph_version: ClassVar[str]
    graph_errors: ClassVar[GraphErrors]
    # `grant_type` of the long-lived exchange (`ig_exchange_token`) and of the refresh.
    exchange_grant: ClassVar[str]
    refresh_grant: ClassVar[str]

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.graph = Graph(config, version=self.graph_version, errors=self.graph_errors)

    # --- connecting ----------------------------------------------------------------------

    @abstractmethod
    def requested_scopes(self) -> tuple[str, ...]:
        """The scopes the authorize window asks for."""

    @abstractmethod
    def short_token_url(self) -> str:
        """Where an authorization code becomes a 1 h token."""

    @abstractmethod
    def granted_scopes(self, short: dict[str, Any]) -> frozenset[str]:
        """The scopes the 1 h token's answer grants (refusing a connection without the
        ones T21 can't do without)."""

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        """Meta's authorize window: comma-separated scopes, `response_type=code`, no PKCE."""
        query = urlencode(
            {
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": ",".join(self.requested_scopes()),
                "state": state,
            }
        )
        return f"{self.config.auth_base.rstrip('/')}/oauth/authorize?{query}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        """The code for a 1 h token, that one at once for a 60-day token, and the account."""
        secret = self.config.client_secret
        async with PlatformHttp(self.config) as http:
            response = await http.request(
                "POST",
                self.short_token_url(),
                data={
                    "client_id": self.config.client_id,
                    "client_secret": secret,
                    "grant_type": "authorization_code",
                    "redirect_uri": redirect_uri,
                    "code": code,
                },
            )
            short = self._token_answer(response, redact=(code, secret))
            granted = self.granted_scopes(short)
            long_lived = await self._long_lived(http, short["access_token"])
            token = long_lived["access_token"]
            profile = await self._profile(http, token)
        grant = TokenGrant(
            access_token=token,
            expires_in=number(long_lived.get("expires_in")) or LONG_LIVED_S,
            scopes=granted,
        )
        return [Connection(profile=profile, grant=grant)]

    # --- tokens --------------------------------------------------------------------------

    async def _long_lived(self, http: PlatformHttp, short_token: str) -> dict[str, Any]:
        """The 60-day token for a 1 h one (`GET {api_base}/access_token`)."""
        secret = self.config.client_secret
        response = await http.request(
            "GET",
            self.graph.url("access_token", versioned=False),
            params={
                "grant_type": self.exchange_grant,
                "client_secret": secret,
                "access_token": short_token,
            },
        )
        return self._token_answer(response, redact=(short_token, secret))

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """A new 60-day token for the long-lived one (which must be 24 h old, not expired)."""
        token = credentials.access_token
        async with PlatformHttp(self.config) as http:
            response = await http.request(
                "GET",
                self.graph.url("refresh_access_token", versioned=False),
                params={"grant_type": self.refresh_grant, "access_token": token},
            )
        error = self.graph.errors.parse(response) if not response.is_success else None
        if error is not None and error.code == 100 and response.status_code < 500:
            # A token younger than 24 h is refused (the exact error is unconfirmed; the fakes
            # answer code 100): it is fresh anyway, so ask again once it is old enough.
            raise Retryable(
                error.shown((token, self.config.client_secret)),
                after=until_refreshable(credentials.expires_at),
                code="token_too_new",
            )
        body = self._token_answer(response, redact=(token, self.config.client_secret))
        return TokenGrant(
            access_token=body["access_token"],
            expires_in=number(body.get("expires_in")) or LONG_LIVED_S,
            scopes=credentials.scopes,
        )

    async def revoke(self, credentials: Credentials) -> bool:
        # Neither API has a revocation endpoint: the person removes the app in the network.
        return False

    def _token_answer(self, response: httpx.Response, *, redact: Iterable[str]) -> dict[str, Any]:
        """A token endpoint's answer (some docs wrap it in `data[]`), or its failure."""
        if not response.is_success:
            raise self._token_refused(self.graph.errors.classify(response, redact=redact))
        body = self.graph.answer_object(response)
        if isinstance(body.get("data"), list) and body["data"] and "access_token" not in body:
            body = body["data"][0] if isinstance(body["data"][0], dict) else {}
        if not isinstance(body.get("access_token"), str):
            raise Retryable(
                f"{self.graph.network} answered without an access token", code="bad_answer"
            )
        return body

    def _token_refused(self, failure: OutsideFailure) -> OutsideFailure:
        """How a refused token request is reported (as classified, by default)."""
        return failure

    # --- reading -------------------------------------------------------------------------

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            return await self._profile(http, credentials.access_token)

    @abstractmethod
    async def _profile(self, http: PlatformHttp, token: str) -> Profile:
        """The account the token belongs to (`GET /me`, with the network's fields)."""

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        async with PlatformHttp(self.config) as http:
            return {
                media_id: await self._media_metrics(http, credentials.access_token, media_id)
                for media_id in external_ids
            }

    @abstractmethod
    async def _media_metrics(
        self, http: PlatformHttp, token: str, media_id: str
    ) -> PostMetrics | None:
        """One post's numbers; None when the network has none (yet)."""
