"""Calling the Instagram Graph API (`graph.instagram.com/vXX.X/...`) with a user token.

Every parameter, and the token as `access_token`, goes in the query string, for `POST` as for
`GET`: that is what Instagram's reference shows for each call T21 makes (container creation
`POST /{ig-user-id}/media?image_url=…&access_token=…`, `media_publish?creation_id=…`, the
container's `?fields=status_code`, `insights?metric=…`) and what open-source clients send
(postiz `instagram.standalone.provider.ts`); no reference example sends a JSON body or a
Bearer header to graph.instagram.com. Sources:
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media_publish
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
https://developers.facebook.com/docs/instagram-platform/reference/instagram-media/insights
A URL carrying the token is never logged: httpx's request log is silenced (`core.logging`) and
transport failures are reported by their type alone (`platforms.http`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from t21.core.outside import Ambiguous, Retryable
from t21.platforms.base import PlatformConfig
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.instagram.errors import classify

# The latest Graph version named in Meta's docs (PLATFORMS.md §1).
GRAPH_VERSION = "v25.0"


class Graph:
    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    def url(self, path: str, *, versioned: bool = True) -> str:
        base = self.config.api_base.rstrip("/")
        return f"{base}/{GRAPH_VERSION}/{path}" if versioned else f"{base}/{path}"

    async def call(
        self,
        http: PlatformHttp,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, Any] | None = None,
        publishing: bool = False,
    ) -> dict[str, Any]:
        """A Graph call with its parameters and `access_token` in the query; the JSON object
        it answers, or its failure classified."""
        response = await self.send(http, method, path, token, params, publishing=publishing)
        if not response.is_success:
            raise classify(
                response, publishing=publishing, redact=(token, self.config.client_secret)
            )
        return answer_object(response.status_code, json_body(response), publishing=publishing)

    async def send(
        self,
        http: PlatformHttp,
        method: str,
        path: str,
        token: str,
        params: dict[str, Any] | None,
        *,
        publishing: bool = False,
    ) -> httpx.Response:
        """The raw answer to a Graph call (for callers that read some errors as "no data")."""
        query = {name: wire_value(value) for name, value in (params or {}).items()}
        query["access_token"] = token
        return await http.request(method, self.url(path), publishing=publishing, params=query)


def wire_value(value: Any) -> str:
    """A parameter as Graph reads it in a query: booleans as true/false, lists (children are
    comma-separated ids, collaborators a JSON array) as the caller encoded them, JSON for the
    rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def answer_object(status: int, body: Any, *, publishing: bool = False) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    message = f"Instagram answered HTTP {status} without a JSON object"
    if publishing:
        raise Ambiguous(message, code="bad_answer")
    raise Retryable(message, code="bad_answer")


def parse_time(value: Any) -> datetime | None:
    """Graph timestamps (`2026-08-01T10:00:00+0000`) as aware UTC datetimes."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def data_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data")
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []
