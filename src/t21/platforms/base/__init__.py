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

The values live in `values.py`, a network's limits and a target's options in `limits.py`, the
protocol in `provider.py` and what a provider may add to it in `capabilities.py`.
"""

from t21.platforms.base.capabilities import (
    CHOICE_KINDS,
    REPLIES_LOOKBACK,
    Choice,
    ChoiceLister,
    CommentingProvider,
    CredentialsConnector,
    InstanceApp,
    InstanceProvider,
    ProofRequired,
    ProvenConnector,
    PushedAuthorizer,
    PushedStart,
    ThreadingProvider,
    choice_lister,
    commenting,
    instance_provider,
    proven_connector,
    pushed_authorizer,
    replies_among_recent,
    threading,
)
from t21.platforms.base.limits import (
    Budget,
    MediaRule,
    NoOptions,
    OptionsT,
    PlatformLimits,
    TextCounting,
    Writing,
    parse_options,
)
from t21.platforms.base.provider import (
    PlatformConfig,
    Provider,
)
from t21.platforms.base.values import (
    Connection,
    Continuing,
    Credentials,
    MediaItem,
    MediaKind,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    ReadRange,
    RecentPost,
    ReplyTo,
    TokenGrant,
    metrics_unavailable,
)

__all__ = [
    "CHOICE_KINDS",
    "REPLIES_LOOKBACK",
    "Budget",
    "Choice",
    "ChoiceLister",
    "CommentingProvider",
    "Connection",
    "Continuing",
    "Credentials",
    "CredentialsConnector",
    "InstanceApp",
    "InstanceProvider",
    "MediaItem",
    "MediaKind",
    "MediaRule",
    "NoOptions",
    "OptionsT",
    "PlatformConfig",
    "PlatformLimits",
    "PostMetrics",
    "Profile",
    "ProofRequired",
    "ProvenConnector",
    "Provider",
    "PublishRequest",
    "Published",
    "PushedAuthorizer",
    "PushedStart",
    "ReadRange",
    "RecentPost",
    "ReplyTo",
    "TextCounting",
    "ThreadingProvider",
    "TokenGrant",
    "Writing",
    "choice_lister",
    "commenting",
    "instance_provider",
    "metrics_unavailable",
    "parse_options",
    "proven_connector",
    "pushed_authorizer",
    "replies_among_recent",
    "threading",
]
