"""Which networks exist and how to reach each: real credentials, else the sandbox.

A network lives in two packages, `t21.platforms.<net>` (its provider, rules and settings model)
and `t21.sandbox.<net>` (its fake); adding one is adding those and one `Network` line to
`NETWORKS`. Everything here is named by import path and loaded on first use, so reading the
settings or listing the networks imports no adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, cast

from t21.core.errors import Unavailable
from t21.platforms.base import PlatformConfig, Provider

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from t21.core.runtime import Runtime
    from t21.core.settings import Settings
    from t21.platforms.settings import NetworkSettings


@dataclass(frozen=True)
class Network:
    """One network: its provider, its settings model (read from `T21_<NAME>_…`) and its fake
    (`create_<name>_app`, mounted by the sandbox under `/<name>`), each as `module:attribute`."""

    name: str
    provider: str
    settings: str
    fake: str
    # What the fake serves, shown by `t21 sandbox` and the sandbox's index.
    fake_description: str

    @property
    def env_prefix(self) -> str:
        return f"T21_{self.name.upper()}_"


NETWORKS: tuple[Network, ...] = (
    Network(
        "instagram",
        "t21.platforms.instagram:InstagramProvider",
        "t21.platforms.instagram.settings:InstagramSettings",
        "t21.sandbox.instagram:create_instagram_app",
        "Instagram Login and Graph API publishing (/instagram/v25.0/{ig_user}/media)",
    ),
    Network(
        "twitter",
        "t21.platforms.twitter:TwitterProvider",
        "t21.platforms.twitter.settings:TwitterSettings",
        "t21.sandbox.twitter:create_twitter_app",
        "X OAuth 2.0 and API v2 posting (/twitter/2/tweets)",
    ),
    Network(
        "linkedin",
        "t21.platforms.linkedin:LinkedInProvider",
        "t21.platforms.linkedin.settings:LinkedInSettings",
        "t21.sandbox.linkedin:create_linkedin_app",
        "LinkedIn OAuth, Posts, Images and Videos APIs (/linkedin/rest/posts)",
    ),
    Network(
        "tiktok",
        "t21.platforms.tiktok:TikTokProvider",
        "t21.platforms.tiktok.settings:TikTokSettings",
        "t21.sandbox.tiktok:create_tiktok_app",
        "TikTok Login Kit and Content Posting API (/tiktok/v2/post/publish/video/init/)",
    ),
    Network(
        "facebook",
        "t21.platforms.facebook:FacebookProvider",
        "t21.platforms.facebook.settings:FacebookSettings",
        "t21.sandbox.facebook:create_facebook_app",
        "Facebook Login and Pages Graph API (/facebook/v25.0/{page}/feed)",
    ),
    Network(
        "linkedin_page",
        "t21.platforms.linkedin_page:LinkedInPageProvider",
        "t21.platforms.linkedin_page.settings:LinkedInPageSettings",
        "t21.sandbox.linkedin_page:create_linkedin_page_app",
        "LinkedIn Pages: organization ACLs, page posts and share statistics (/linkedin_page/rest)",
    ),
    Network(
        "threads",
        "t21.platforms.threads:ThreadsProvider",
        "t21.platforms.threads.settings:ThreadsSettings",
        "t21.sandbox.threads:create_threads_app",
        "Threads OAuth and Threads API publishing (/threads/v1.0/{user}/threads)",
    ),
    Network(
        "bluesky",
        "t21.platforms.bluesky:BlueskyProvider",
        "t21.platforms.bluesky.settings:BlueskySettings",
        "t21.sandbox.bluesky:create_bluesky_app",
        "AT Protocol PDS: app-password sessions and post records (/bluesky/xrpc/...)",
    ),
    Network(
        "mastodon",
        "t21.platforms.mastodon:MastodonProvider",
        "t21.platforms.mastodon.settings:MastodonSettings",
        "t21.sandbox.mastodon:create_mastodon_app",
        "Mastodon apps, OAuth and statuses, for every instance (/mastodon/api/v1/statuses)",
    ),
    Network(
        "telegram",
        "t21.platforms.telegram:TelegramProvider",
        "t21.platforms.telegram.settings:TelegramSettings",
        "t21.sandbox.telegram:create_telegram_app",
        "Telegram Bot API: chats, updates, messages and albums (/telegram/bot<token>/<method>)",
    ),
    Network(
        "pinterest",
        "t21.platforms.pinterest:PinterestProvider",
        "t21.platforms.pinterest.settings:PinterestSettings",
        "t21.sandbox.pinterest:create_pinterest_app",
        "Pinterest API v5: OAuth, boards, image, video and carousel pins (/pinterest/v5/pins)",
    ),
    Network(
        "youtube",
        "t21.platforms.youtube:YouTubeProvider",
        "t21.platforms.youtube.settings:YouTubeSettings",
        "t21.sandbox.youtube:create_youtube_app",
        "Google OAuth and the YouTube Data API: channels, resumable uploads, thumbnails "
        "(/youtube/upload/youtube/v3/videos)",
    ),
    Network(
        "google_business",
        "t21.platforms.google_business:GoogleBusinessProvider",
        "t21.platforms.google_business.settings:GoogleBusinessSettings",
        "t21.sandbox.google_business:create_google_business_app",
        "Google OAuth, Business Profile accounts, locations and local posts "
        "(/google_business/v4/accounts/{a}/locations/{l}/localPosts)",
    ),
)
_BY_NAME = {network.name: network for network in NETWORKS}

SANDBOX_CLIENT_ID = "t21-sandbox"
SANDBOX_CLIENT_SECRET = "t21-sandbox-secret"  # noqa: S105 (the sandbox's public test client)


def _load(path: str) -> Any:
    module_name, attribute = path.split(":")
    return getattr(import_module(module_name), attribute)


def names() -> list[str]:
    return [network.name for network in NETWORKS]


def network(name: str) -> Network:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise LookupError(f"no social network {name!r}") from None


def display_name(name: str) -> str:
    """The network as people call it ("X" for `twitter`): for messages, emails and errors'
    details, where the machine id (kept in fields such as `platform`) would read wrong."""
    try:
        return provider_class(name).display_name
    except LookupError:
        return name


@cache
def provider_class(name: str) -> type[Provider]:
    """Network `name`'s provider class (imports its module the first time only: a post's
    checks ask for it on every target, ~4 µs a lookup through `import_module`)."""
    return cast(type[Provider], _load(network(name).provider))


@cache
def settings_model(name: str) -> type[NetworkSettings]:
    """The model of network `name`'s settings (imports only its `settings` module)."""
    return cast("type[NetworkSettings]", _load(network(name).settings))


def fake_app(name: str) -> ASGIApp:
    """A fresh fake of network `name`, as the sandbox mounts it."""
    return cast("ASGIApp", _load(network(name).fake)())


def provider(name: str, config: PlatformConfig) -> Provider:
    """A provider for one use, reaching the network as `config` says."""
    return provider_class(name)(config)


def rules_provider(name: str) -> Provider:
    """A provider used only for its rules (`limits`, `limits_for`, `check`), which never reach
    the network: it holds no credentials and no address, so it works with nothing configured."""
    provider_of = provider_class(name)  # LookupError for a name no network has
    return provider_of(_rules_config(name))


@cache
def _rules_config(name: str) -> PlatformConfig:
    # Frozen: one per network serves every rules provider.
    return PlatformConfig(name=name, client_id="", client_secret="", auth_base="", api_base="")


def platform_config(
    settings: Settings, name: str, sandbox_url: str | None
) -> PlatformConfig | None:
    """How to reach network `name`: T21's own app there when configured, else the sandbox's
    fake (outside production), else None."""
    ours = settings.network(name)
    model = type(ours)
    client_id = ours.client_id
    secret = ours.client_secret
    auth_override, api_override = ours.auth_base, ours.api_base
    upload_override = ours.upload_override
    scopes = ours.requested_scopes
    public = settings.resolved_public_url
    if client_id:
        auth, api, upload = model.real_auth_base, model.real_api_base, model.real_upload_base
        return PlatformConfig(
            name=name,
            client_id=client_id,
            client_secret=secret.get_secret_value() if secret else "",
            auth_base=auth_override or auth,
            api_base=api_override or api,
            upload_base=upload_override or upload,
            poll_interval_s=settings.platform_poll_interval_s,
            poll_timeout_s=settings.platform_poll_timeout_s,
            timeout_s=settings.platform_timeout_s,
            scopes=scopes,
            extras=ours.extras(public_url=public, secret=settings.secret(), sandbox=False),
        )
    if sandbox_url is not None and settings.sandbox_enabled:
        base = f"{sandbox_url}/{name}"
        return PlatformConfig(
            name=name,
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            auth_base=auth_override or base,
            api_base=api_override or base,
            upload_base=upload_override or base,
            sandbox=True,
            # The fakes process media at once; real networks are polled at the settings' pace.
            poll_interval_s=0.05,
            poll_timeout_s=settings.platform_poll_timeout_s,
            timeout_s=settings.platform_timeout_s,
            scopes=scopes,
            extras=ours.extras(public_url=public, secret=settings.secret(), sandbox=True),
        )
    return None


def sandbox_url(runtime: Runtime) -> str | None:
    """The sandbox's address in this process: configured, or started by `t21 serve`."""
    configured = runtime.settings.sandbox_url
    return configured or runtime.state.get("sandbox_url")


def configured_provider(runtime: Runtime, name: str) -> Provider:
    """A provider for network `name` as this process reaches it; 503 when it isn't set up."""
    config = platform_config(runtime.settings, name, sandbox_url(runtime))
    if config is None:
        variable = f"{network(name).env_prefix}CLIENT_ID"
        raise Unavailable(f"{provider_class(name).display_name} isn't configured ({variable}).")
    return provider(name, config)
