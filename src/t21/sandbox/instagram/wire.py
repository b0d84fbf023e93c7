"""Instagram's own wire helpers (Graph's are `sandbox.meta.wire`): permalinks, list and
boolean parameters, node lookup and its refusals."""

from __future__ import annotations

import json
from typing import Any

from t21.sandbox.instagram.state import InstagramAccount, InstagramState, Media
from t21.sandbox.meta.wire import GraphError
from t21.sandbox.meta.wire import unsupported as graph_unsupported
from t21.sandbox.platform import IssuedToken


def permalink(base: str, media: Media, account: InstagramAccount) -> str:
    if media.product_type == "STORY":
        return f"{base}/stories/{account.username}/{media.id}/"
    return f"{base}/{'reel' if media.product_type == 'REELS' else 'p'}/{media.shortcode}/"


def truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def list_param(value: Any) -> list[str]:
    """A list parameter sent as a JSON array, a JSON-encoded array or comma-separated."""
    if isinstance(value, list):
        return [str(item) for item in value]
    if not isinstance(value, str) or not value.strip():
        return []
    text = value.strip()
    if text.startswith("["):
        try:
            decoded = json.loads(text)
        except ValueError:
            raise GraphError(100, "(#100) Invalid JSON for an array parameter") from None
        return [str(item) for item in decoded] if isinstance(decoded, list) else []
    return [item.strip() for item in text.split(",") if item.strip()]


def unsupported(method: str, node_id: str) -> GraphError:
    return graph_unsupported(method, node_id, kind="IGApiException")


def require(token: IssuedToken, scope: str) -> None:
    if scope not in token.scopes:
        raise GraphError(10, "(#10) Application does not have permission for this action")


def account_of(
    state: InstagramState, token: IssuedToken, node_id: str, method: str = "GET"
) -> InstagramAccount:
    """The caller's own account, by `me`, its IG user id or its app-scoped id."""
    account = state.accounts[token.account_id]
    if node_id in ("me", account.user_id, account.app_scoped_id):
        return account
    raise unsupported(method, node_id)


def media_of(state: InstagramState, token: IssuedToken, node_id: str, method: str = "GET") -> Media:
    media = state.media.get(node_id)
    if media is None or media.owner != token.account_id:
        raise unsupported(method, node_id)
    return media
