"""The one protocol every social network implements, and the values that cross it.

A provider is built per use from the platform's configuration (`PlatformConfig`: client id,
secret, base URLs), never shared: `registry.provider(name, config)`. Its methods take the
account's decrypted `Credentials` and talk to the network over HTTP. Every failure leaves a
provider as exactly one of `t21.core.outside`'s classes:

- `Retryable(after=…)`: nothing happened; try again later (429 with its reset, throttling codes,
  5xx or a network error *before* anything was published).
- `Permanent`: the network refused the request itself (validation, policy, duplicate).
- `ReauthRequired`: the token is expired, revoked or lacks a permission.
- `Ambiguous`: the publishing request may have taken effect (timeout or 5xx after sending it).
  The caller never re-sends blindly; it asks `find_recent` first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from t21.core.outside import Permanent


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


ReadRange = Callable[[int, int], Awaitable[bytes]]


@dataclass(frozen=True)
class MediaItem:
    """One image or video of a post, as an adapter sees it.

    `url` is a time-limited public URL the network can download (Instagram, Facebook, TikTok
    pull from URLs); `read(offset, length)` returns bytes for networks that take uploads (X,
    LinkedIn, TikTok file upload).
    """

    kind: MediaKind
    content_type: str
    size: int
    url: str
    read: ReadRange
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    alt_text: str | None = None


@dataclass(frozen=True)
class PublishRequest:
    text: str
    media: list[MediaItem] = field(default_factory=list)
    # Validated against the provider's `options` model beforehand.
    options: dict[str, Any] = field(default_factory=dict)
    # What an earlier attempt of this same publication left at the network (`Continuing`):
    # the provider resumes from it instead of starting over. Empty on a first attempt.
    progress: dict[str, Any] = field(default_factory=dict)
    # What the account may do at the network as last read (`Connection.capabilities`, kept on
    # the account), for `check`; empty when unknown.
    capabilities: dict[str, Any] = field(default_factory=dict)
    # The same for every attempt of one publication (its target's id), so a network with
    # idempotency keys can tell a repeated attempt from a new post; None outside publishing.
    key: str | None = None


@dataclass(frozen=True)
class Published:
    external_id: str
    permalink: str | None
    published_at: datetime | None = None
    # What else a later reply or comment needs to name this post at the network (Bluesky: its
    # record's `cid` for a strong reference); kept with the thread's step record.
    ref: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Continuing:
    """Publishing continues later: the network is still working on what this attempt sent
    (media processing that takes minutes). The caller frees its worker, keeps `progress` with
    the target and calls `publish` again, with that `progress`, in `after_s` seconds. Nothing
    is published yet, so this is never a doubt; `reason` is safe to show a user."""

    after_s: float
    progress: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Credentials:
    """A connected account's secrets and identity, decrypted for one use."""

    access_token: str
    external_id: str
    username: str | None = None
    refresh_token: str | None = None
    expires_at: datetime | None = None
    scopes: frozenset[str] = frozenset()
    # The private key (a JWK, JSON) the account's tokens are bound to (DPoP), where they are.
    dpop_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TokenGrant:
    """What a code exchange or a refresh returns. A refresh that rotates the refresh token
    returns the new one; `None` keeps the stored one."""

    access_token: str
    refresh_token: str | None = None
    expires_in: int | None = None
    refresh_expires_in: int | None = None
    scopes: frozenset[str] = frozenset()
    # The private key the tokens are bound to (DPoP); kept encrypted with them.
    dpop_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Profile:
    external_id: str
    username: str | None
    display_name: str | None
    avatar_url: str | None = None


@dataclass(frozen=True)
class Connection:
    """One account that a sign-in at the network gives access to (Facebook: one per Page)."""

    profile: Profile
    grant: TokenGrant
    # What the account may do at the network (TikTok: the privacy levels it may post with),
    # kept on the account for validation; empty when the network says nothing of the kind.
    capabilities: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecentPost:
    external_id: str
    text: str | None
    created_at: datetime | None
    permalink: str | None = None
    # The post it answers, where the network's listing says (a thread's part, a comment).
    reply_to: str | None = None


@dataclass(frozen=True)
class ReplyTo:
    """What a thread's part or a first comment answers at the network: the post before it
    (`parent`) and the thread's first post (`root`), each by id and its `Published.ref`."""

    parent_id: str
    root_id: str
    parent_ref: dict[str, Any] = field(default_factory=dict)
    root_ref: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PostMetrics:
    """Per-post numbers in T21's names; `None` where the network doesn't give that number."""

    impressions: int | None = None
    reach: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    clicks: int | None = None
    video_views: int | None = None
    # Clicks out to the post's link, where the network counts them apart from `clicks`.
    outbound_clicks: int | None = None


def metrics_unavailable(provider: object) -> str | None:
    """Why a network gives no numbers per post at all (Google Business Profile's insights are
    per location), in words for a person; None for a network that gives some. A provider
    (class or instance) says so with a `metrics_unavailable` string."""
    value = getattr(provider, "metrics_unavailable", None)
    return value if isinstance(value, str) else None


class TextCounting(StrEnum):
    CHARACTERS = "characters"  # Unicode code points
    X_WEIGHTED = "x_weighted"  # twitter-text: URLs 23, emoji and CJK 2
    GRAPHEMES = "graphemes"
    # Threads: characters, except that each emoji counts as its UTF-8 bytes (4 for most).
    UTF8_EMOJI = "utf8_emoji"


@dataclass(frozen=True)
class MediaRule:
    """What one kind of media must be on a network."""

    content_types: frozenset[str]
    max_size_bytes: int
    min_aspect: float | None = None  # width / height
    max_aspect: float | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    min_width: int | None = None
    max_width: int | None = None


@dataclass(frozen=True)
class PlatformLimits:
    max_text: int
    text_counting: TextCounting
    requires_media: bool
    max_images: int
    max_videos: int
    # Whether images and a video may share a post.
    mixed_media: bool
    image: MediaRule | None
    video: MediaRule | None
    # The fewest images of a multi-image post, where the network has a minimum (LinkedIn 2).
    min_multi_images: int = 1
    notes: tuple[str, ...] = ()


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


OptionsT = TypeVar("OptionsT", bound=BaseModel)


def parse_options(model: type[OptionsT], options: dict[str, Any], network: str) -> OptionsT:
    """A target's options as `model`, or `Permanent` saying what is wrong with them."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'options'}: {error['msg']}"
            for error in exc.errors()
        )
        raise Permanent(f"Invalid {network} options: {problems}", code="invalid_options") from None


@dataclass(frozen=True)
class Budget:
    """How many posts one account may publish in a window at the network, so T21 waits its
    turn rather than collecting 429s (a wait is a later `due_at`, never a sleep)."""

    posts: int
    window: timedelta
    # Whose budget it is: one account's, or T21's own app's at the network, every account's
    # publications together (YouTube's daily quota belongs to T21's Google Cloud project).
    shared: bool = False
    # A calendar budget: the start of the period `at` falls in (YouTube's day starts at midnight
    # Pacific time); publications are counted since then and a wait lasts until the next period
    # (`period_start(at + window)`). None: a rolling `window`.
    period_start: Callable[[datetime], datetime] | None = None
    # Why an attempt waits, in words for a person, kept on the target with `code`; None: the
    # wait says nothing (a short rolling budget).
    reason: str | None = None
    code: str = "budget"

    def period(self, at: datetime) -> tuple[datetime, datetime]:
        """The window a publication at `at` counts in, and when it ends."""
        if self.period_start is None:
            return at - self.window, at
        start = self.period_start(at)
        return start, self.period_start(start + self.window + timedelta(hours=2))


@dataclass(frozen=True)
class Writing:
    """How a good post reads at the network, for the AI prompts: its norms in a sentence or two
    and the length a good post has there (the prompts aim under the limit anyway)."""

    norms: str
    typical_length: int


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
