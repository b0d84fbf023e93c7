"""Graph API wire helpers the fake's endpoints share: parameters, fields, ids, timestamps,
node lookup and the standard refusals."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from t21.sandbox.instagram.state import GraphError, InstagramAccount, InstagramState, Media
from t21.sandbox.platform import IssuedToken

VERSION = re.compile(r"v\d+\.\d+")
Params = dict[str, Any]


def graph_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def shortcode(media_id: str) -> str:
    digest = hashlib.sha256(media_id.encode()).digest()
    return base64.urlsafe_b64encode(digest[:8]).rstrip(b"=").decode()


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


def int_param(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise GraphError(100, f"(#100) Param {name} must be an integer") from None


def pick(available: dict[str, Any], fields: Any, node_type: str) -> dict[str, Any]:
    """The requested `fields` of a node (Graph answers `id` by default)."""
    names = [name.strip() for name in str(fields or "id").split(",") if name.strip()]
    for name in names:
        if name not in available:
            raise GraphError(
                100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})"
            )
    chosen = {name: available[name] for name in names if available[name] is not None}
    return {"id": available["id"], **chosen}


async def request_params(request: Request) -> Params:
    """A Graph call's parameters: the query string, plus a form body on POST. Instagram's
    reference sends every parameter (and `access_token`) in the query; a JSON body is refused
    (the real API's answer to one is unconfirmed, so the fake is strict)."""
    params: Params = dict(request.query_params)
    if request.method != "POST":
        return params
    raw = await request.body()
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if raw and content_type == "application/json":
        raise GraphError(
            100,
            "(#100) Parameters must be sent in the query string or as a form "
            "(application/x-www-form-urlencoded), not as a JSON body",
        )
    if raw:
        params.update(parse_qsl(raw.decode("utf-8", errors="replace")))
    return params


def unsupported(method: str, node_id: str) -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{node_id}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        kind="IGApiException",
    )


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
