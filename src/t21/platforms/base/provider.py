"""How to reach a network (`PlatformConfig`) and the protocol every provider implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel

from t21.platforms.base.limits import (
    Budget,
    PlatformLimits,
    Writing,
)
from t21.platforms.base.values import (
    Connection,
    Continuing,
    Credentials,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    RecentPost,
    TokenGrant,
)


@dataclass(frozen=True)
class PlatformConfig:
    """How to reach one network: credentials of T21's app there and every base URL."""

    name: str
    client_id: str
    client_secret: str
    auth_base: str
    api_base: str
    upload_base: str | None = None
    sandbox: bool = False
    # Seconds between polls of asynchronous media processing, and the longest total wait.
    poll_interval_s: float = 2.0
    poll_timeout_s: float = 120.0
    timeout_s: float = 30.0
    # The OAuth scopes to ask for at connection (`T21_<NETWORK>_SCOPES`); empty: the
    # provider's defaults, what a freshly created app at the network can get.
    scopes: tuple[str, ...] = ()
    # What else a network's own settings give its provider (`NetworkSettings.extras`). Left out
    # of the hash (a mapping has none; configs key the clients and providers kept per process)
    # but compared: two configs differing only here are different configs.
    extras: Mapping[str, str] = field(default_factory=dict, repr=False, hash=False)

    def requested_scopes(self, defaults: tuple[str, ...]) -> tuple[str, ...]:
        return self.scopes or defaults


class Provider(Protocol):
    """A social network, as T21 uses it. See the module docstring for the failure contract."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    uses_pkce: ClassVar[bool]
    scopes: ClassVar[tuple[str, ...]]
    limits: ClassVar[PlatformLimits]
    # The per-target options this network accepts (reel vs feed, visibility, privacy...).
    options: ClassVar[type[BaseModel]]
    # How often one account may publish there; None: no budget, only the network's own waits.
    publish_budget: ClassVar[Budget | None]
    writing: ClassVar[Writing]
    # How long the network recognises a repeated publish as the first one (its idempotency
    # key): a doubtful attempt younger than this is settled by repeating it. None: no such key.
    idempotency_window: ClassVar[timedelta | None]

    def __init__(self, config: PlatformConfig) -> None: ...

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        """Where to send the browser to connect an account."""
        ...

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        """The accounts a completed authorization gives access to, with their tokens."""
        ...

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """New tokens (rotating the refresh token where the network does); `None` when this
        network's tokens don't refresh (they don't expire, or a person must sign in again)."""
        ...

    async def revoke(self, credentials: Credentials) -> bool:
        """Revoke the tokens at the network; whether the network supports it."""
        ...

    async def profile(self, credentials: Credentials) -> Profile: ...

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        """The limits of the surface `options` pick (an Instagram story or reel, a Facebook
        reel); `limits` for the others. `options` are valid for this network."""
        ...

    def check(self, request: PublishRequest) -> None:
        """Raise `Permanent` for a request this network can't take (its options, a shape of
        media `limits` can't express, or what the account may not do per
        `request.capabilities`), without any network call: the same rules refuse a post when
        it is written and stop it before publishing."""
        ...

    async def publish(
        self, credentials: Credentials, request: PublishRequest
    ) -> Published | Continuing:
        """Publish `request`, or say that publishing continues later (`Continuing`): then
        call again with its `progress` in `request.progress`."""
        ...

    def comparable_text(self, text: str) -> str:
        """`text` as compared with the network's listing of an account's posts: both what T21
        sent and what the network lists go through it, undoing the network's own rewriting
        (shortened links, escaping, entities, whitespace, Unicode forms)."""
        ...

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        """Why `find_recent` can't look at this account's posts (a permission the account
        wasn't granted), in words for a person; None when it can. A publish T21 can't check
        then goes to review saying so, instead of failing a call that can't succeed."""
        ...

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        """The account's posts since `since`, newest first (reconciliation after an
        interrupted publish). Raises `Retryable` when the network can't answer now, `NotPermitted`
        when the account may not read them (see `find_recent_blocker`)."""
        ...

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        """Numbers per post; `None` for a post the network has no data for yet."""
        ...
