"""Where browser flows may send people back to: the front end, or the allow-list."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from t21.core.errors import ValidationFailed
from t21.core.settings import Settings


def allowed_redirect(settings: Settings, redirect_uri: str, *, field: str = "redirect_uri") -> str:
    """`redirect_uri` if it is on `T21_OAUTH_REDIRECT_ALLOWLIST` (by default: the front end's
    origin); else a 422 naming `field`. Open redirects are how tokens get stolen."""
    parts = urlsplit(redirect_uri)
    if parts.scheme in ("http", "https") and parts.netloc and not parts.fragment:
        allowed = settings.oauth_redirect_allowlist or [settings.resolved_frontend_url]
        for entry in allowed:
            rule = urlsplit(entry)
            same_origin = (parts.scheme, parts.netloc.lower()) == (rule.scheme, rule.netloc.lower())
            if same_origin and parts.path.startswith(rule.path.rstrip("/") or ""):
                return redirect_uri
    message = f"{field} is not an allowed address for this API (T21_OAUTH_REDIRECT_ALLOWLIST)."
    raise ValidationFailed(message, errors=[{"loc": ["body", field], "msg": message}])


def with_params(url: str, **params: str) -> str:
    """`url` with `params` added to its query."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(params)}"
