"""What a provider may add to the protocol (credentials or proof to connect, choices, threads,
comments, instances, pushed authorization), and how a caller asks whether it has."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol, cast

from t21.core.outside import Permanent
from t21.platforms.base.provider import Provider
from t21.platforms.base.values import (
    Connection,
    Continuing,
    Credentials,
    Published,
    PublishRequest,
    RecentPost,
    ReplyTo,
)


class CredentialsConnector(Protocol):
    """What a provider adds when its network connects from credentials given to T21 (a handle
    and an app password) instead of a redirect: `connects_with_credentials = True` and this."""

    connects_with_credentials: ClassVar[bool]

    async def connect_with_credentials(self, credentials: dict[str, str]) -> list[Connection]:
        """The accounts `credentials` sign in to; `Permanent` for credentials that can't work."""
        ...


class ProofRequired(Permanent):
    """Connecting needs the person to show the account is theirs: they post `proof` where the
    network lets T21 see it (a code in a Telegram channel), then connect again."""

    def __init__(self, message: str, *, proof: str, code: str = "ownership_unproven") -> None:
        super().__init__(message, code=code)
        self.proof = proof


class ProvenConnector(Protocol):
    """A credentials connector whose network lets anyone name any account (a public channel),
    so T21 asks for proof that the person connecting owns it: `proves_ownership = True` and
    this, called instead of `connect_with_credentials`. `requester` names who connects, to
    which brand; the proof asked for is theirs alone."""

    proves_ownership: ClassVar[bool]

    async def connect_with_proof(
        self, credentials: dict[str, str], *, requester: str
    ) -> list[Connection]:
        """The accounts `credentials` name, once proven; `ProofRequired` saying what to do
        until then, `Permanent` for credentials that can't work."""
        ...


def proven_connector(provider: Provider) -> ProvenConnector | None:
    """`provider` as one that asks for proof of ownership when connecting, if it is one."""
    if getattr(provider, "proves_ownership", False):
        return cast(ProvenConnector, provider)
    return None


@dataclass(frozen=True)
class Choice:
    """One of an account's own things a post can name in its `options` (a board, a location)."""

    id: str
    name: str


class ChoiceLister(Protocol):
    """What a provider adds when a post to its network names one of the account's own things
    in `options` (a Pinterest board, a Google Business Profile location): the kinds it lists
    (`GET /api/v1/social-accounts/{id}/{kind}`, kinds from `CHOICE_KINDS`) and the listing."""

    choice_kinds: ClassVar[frozenset[str]]

    async def list_choices(self, credentials: Credentials, kind: str) -> list[Choice]:
        """The account's choices of `kind`, in the network's order."""
        ...


# Every kind of choice an account may list; each is a route of its own under an account.
CHOICE_KINDS = ("boards", "locations")


def choice_lister(provider: Provider, kind: str) -> ChoiceLister | None:
    """`provider` as one that lists choices of `kind`, if it does."""
    if kind in getattr(provider, "choice_kinds", frozenset()):
        return cast(ChoiceLister, provider)
    return None


@dataclass(frozen=True)
class InstanceApp:
    """T21's app on one server of a network whose accounts live on many servers (Mastodon):
    registered there once, then kept per instance (its secret encrypted)."""

    instance: str
    client_id: str
    client_secret: str
    # Whether the instance's authorization server takes PKCE (S256) challenges.
    pkce: bool


class InstanceProvider(Provider, Protocol):
    """A network whose connect request names the server (`instance`): T21 registers an app
    there before sending the browser, and completes the sign-in with that app."""

    needs_instance: ClassVar[bool]

    def instance_host(self, value: str) -> str:
        """`value` as the server's host name; `Permanent` (code `invalid_instance`) if not one."""
        ...

    async def register_app(self, instance: str, redirect_uri: str) -> InstanceApp: ...

    def authorization_url_at(
        self, app: InstanceApp, *, state: str, redirect_uri: str, code_verifier: str | None
    ) -> str: ...

    async def exchange_code_at(
        self, app: InstanceApp, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]: ...

    def instance_of(self, credentials: Credentials) -> str:
        """The host name of the server a connected account lives on."""
        ...

    async def revoke_at(self, app: InstanceApp, credentials: Credentials) -> bool:
        """Revoke the account's token at its instance with T21's app there."""
        ...


class ThreadingProvider(Provider, Protocol):
    """A network with reply chains: a thread's parts after the first go out as replies, each
    to the part before it (`supports_threads = True`)."""

    supports_threads: ClassVar[bool]

    async def publish_reply(
        self, credentials: Credentials, request: PublishRequest, reply_to: ReplyTo
    ) -> Published | Continuing:
        """Publish `request` as a reply to `reply_to.parent_id`; failures as `publish`'s."""
        ...

    async def find_replies(
        self, credentials: Credentials, reply_to: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The account's own replies to `reply_to.parent_id` since `since`, newest first
        (reconciling a part whose sending was cut off); raises as `find_recent`."""
        ...


# How many of an account's latest posts are read to find its replies to one post.
REPLIES_LOOKBACK = 100


async def replies_among_recent(
    provider: Provider, credentials: Credentials, reply_to: ReplyTo, since: datetime
) -> list[RecentPost]:
    """`find_replies` for a network whose post listing says what each post answers."""
    recent = await provider.find_recent(credentials, since=since, limit=REPLIES_LOOKBACK)
    return [post for post in recent if post.reply_to == reply_to.parent_id]


class CommentingProvider(Provider, Protocol):
    """A network where the account may comment on its own post right after publishing it
    (`supports_first_comment = True`): a target's `options.first_comment`. An adapter whose
    network allows a comment only on some accounts or posts may also have
    `comment_blocker(options, capabilities) -> Violation | None` (`posts.validation`), saying
    when the post is written why this target can't have one (YouTube: a channel connected
    without the comment scope)."""

    supports_first_comment: ClassVar[bool]
    # The longest comment the network takes, counted as `limits.text_counting` counts.
    max_comment: ClassVar[int]

    async def publish_comment(self, credentials: Credentials, on: ReplyTo, text: str) -> Published:
        """Comment `text` on the post `on.parent_id`; failures classified as `publish`'s."""
        ...

    async def find_comments(
        self, credentials: Credentials, on: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The account's own comments on `on.parent_id` since `since` (reconciling a first
        comment whose sending was cut off)."""
        ...


def threading(provider: Provider) -> ThreadingProvider | None:
    """`provider` as one with reply chains, if its network has them."""
    if getattr(provider, "supports_threads", False):
        return cast(ThreadingProvider, provider)
    return None


def commenting(provider: Provider) -> CommentingProvider | None:
    """`provider` as one whose network takes a first comment, if it does."""
    if getattr(provider, "supports_first_comment", False):
        return cast(CommentingProvider, provider)
    return None


def instance_provider(provider: Provider) -> InstanceProvider | None:
    """`provider` as one whose connection names an instance, if it is one."""
    if getattr(provider, "needs_instance", False):
        return cast(InstanceProvider, provider)
    return None


@dataclass(frozen=True)
class PushedStart:
    """Where to send the browser, and what the sign-in's completion needs (secrets among it:
    kept encrypted with the connection attempt, never shown)."""

    authorization_url: str
    handoff: dict[str, Any]
    # The authorization server that must name itself in the callback (`iss`, RFC 9207).
    issuer: str


class PushedAuthorizer(Protocol):
    """A network whose sign-in T21 prepares at the network before sending the browser there
    (AT Protocol OAuth: a pushed authorization request bound to a DPoP key) and whose client
    T21 describes in a document the network fetches. `pushes_authorization` is true only
    when it is configured."""

    @property
    def pushes_authorization(self) -> bool: ...

    async def begin_authorization(
        self, *, login_hint: str | None, state: str, redirect_uri: str, code_verifier: str
    ) -> PushedStart: ...

    async def finish_authorization(
        self, handoff: dict[str, Any], *, code: str, redirect_uri: str, code_verifier: str
    ) -> list[Connection]:
        """The account the completed sign-in gives access to, its tokens bound to the key."""
        ...

    def client_metadata(self, redirect_uri: str, client_uri: str) -> dict[str, Any]:
        """The client metadata document the network fetches from T21."""
        ...

    def client_jwks(self) -> dict[str, Any]:
        """The public keys T21 authenticates to the network with."""
        ...


def pushed_authorizer(provider: Provider) -> PushedAuthorizer | None:
    """`provider` as one whose sign-in is pushed to the network first, when configured so."""
    if getattr(provider, "pushes_authorization", False):
        return cast(PushedAuthorizer, provider)
    return None
