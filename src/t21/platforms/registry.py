"""Which networks exist and how to reach each: real credentials, else the sandbox.

Adding a network is adding its module and one line to `PROVIDERS`.
"""

from __future__ import annotations

from importlib import import_module
from typing import cast

from t21.core.errors import Unavailable
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.platforms.base import PlatformConfig, Provider

PROVIDERS: dict[str, str] = {
    "instagram": "t21.platforms.instagram:InstagramProvider",
    "twitter": "t21.platforms.twitter:TwitterProvider",
    "linkedin": "t21.platforms.linkedin:LinkedInProvider",
    "tiktok": "t21.platforms.tiktok:TikTokProvider",
    "facebook": "t21.platforms.facebook:FacebookProvider",
}

# Where the real networks live; each may be overridden by T21_<P>_AUTH_BASE / _API_BASE.
REAL_BASES: dict[str, tuple[str, str, str | None]] = {
    "instagram": ("https://api.instagram.com", "https://graph.instagram.com", None),
    "twitter": ("https://x.com", "https://api.x.com", None),
    "linkedin": ("https://www.linkedin.com", "https://api.linkedin.com", None),
    "tiktok": ("https://www.tiktok.com", "https://open.tiktokapis.com", None),
    "facebook": (
        "https://www.facebook.com",
        "https://graph.facebook.com",
        "https://graph-video.facebook.com",
    ),
}

SANDBOX_CLIENT_ID = "t21-sandbox"
SANDBOX_CLIENT_SECRET = "t21-sandbox-secret"  # noqa: S105 (the sandbox's public test client)


def names() -> list[str]:
    return list(PROVIDERS)


def provider_class(name: str) -> type[Provider]:
    try:
        module_name, class_name = PROVIDERS[name].split(":")
    except KeyError:
        raise LookupError(f"no social network {name!r}") from None
    return cast(type[Provider], getattr(import_module(module_name), class_name))


def provider(name: str, config: PlatformConfig) -> Provider:
    """A provider for one use, reaching the network as `config` says."""
    return provider_class(name)(config)


def rules_provider(name: str) -> Provider:
    """A provider used only for its rules (`limits`, `limits_for`, `check`), which never reach
    the network: it holds no credentials and no address, so it works with nothing configured."""
    return provider(
        name, PlatformConfig(name=name, client_id="", client_secret="", auth_base="", api_base="")
    )


def platform_config(
    settings: Settings, name: str, sandbox_url: str | None
) -> PlatformConfig | None:
    """How to reach network `name`: T21's own app there when configured, else the sandbox's
    fake (outside production), else None."""
    if name not in PROVIDERS:
        raise LookupError(f"no social network {name!r}")
    client_id = getattr(settings, f"{name}_client_id")
    secret = getattr(settings, f"{name}_client_secret")
    auth_override = getattr(settings, f"{name}_auth_base")
    api_override = getattr(settings, f"{name}_api_base")
    upload_override = getattr(settings, f"{name}_upload_base", None)
    scopes = tuple((getattr(settings, f"{name}_scopes", None) or "").replace(",", " ").split())
    if client_id:
        auth, api, upload = REAL_BASES[name]
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
        variable = f"T21_{name.upper()}_CLIENT_ID"
        raise Unavailable(f"{provider_class(name).display_name} isn't configured ({variable}).")
    return provider(name, config)
