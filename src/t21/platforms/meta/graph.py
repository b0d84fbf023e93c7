"""Calling a Meta Graph host (`graph.instagram.com`, `graph.threads.net`) with a user token, and
reading what it answers.

Every parameter, and the token as `access_token`, goes in the query string, for `POST` as for
`GET`: that is what both references show for each call T21 makes, and no example sends a JSON
body or a Bearer header. A URL carrying the token is never logged: httpx's request log is
silenced (`core.logging`) and transport failures are reported by their type alone
(`platforms.http`).
Source: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
Source: https://developers.facebook.com/documentation/threads/posts
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from t21.core import clock
from t21.core.outside import Ambiguous, Retryable
from t21.platforms.base import PlatformConfig, RecentPost
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.meta.errors import GraphErrors

# Meta's user tokens: a long-lived one lasts 60 days and may be refreshed once 24 h old.
LONG_LIVED_S = 60 * 86_400
REFRESH_MIN_AGE_S = 86_400


class Graph:
    """One Graph host at one version; its failures classified by `errors`."""

    def __init__(self, config: PlatformConfig, *, version: str, errors: GraphErrors) -> None:
        self.config = config
        self.version = version
        self.errors = errors

    @property
    def network(self) -> str:
        return self.errors.network

    def url(self, path: str, *, versioned: bool = True) -> str:
        base = self.config.api_base.rstrip("/")
        return f"{base}/{self.version}/{path}" if versioned else f"{base}/{path}"

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
            raise self.errors.classify(
                response, publishing=publishing, redact=(token, self.config.client_secret)
            )
        return self.answer_object(response, publishing=publishing)

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

    def answer_object(
        self, response: httpx.Response, *, publishing: bool = False
    ) -> dict[str, Any]:
        body = json_body(response)
        if isinstance(body, dict):
            return body
        message = f"{self.network} answered HTTP {response.status_code} without a JSON object"
        if publishing:
            raise Ambiguous(message, code="bad_answer")
        raise Retryable(message, code="bad_answer")


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


def number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return None


def metric_values(body: dict[str, Any]) -> dict[str, int]:
    """Insights by metric name, whether Graph answers `values[0].value` or `total_value`."""
    values: dict[str, int] = {}
    for entry in data_of(body):
        name, series = entry.get("name"), entry.get("values")
        if isinstance(series, list) and series and isinstance(series[0], dict):
            value = series[0].get("value")
        elif isinstance(entry.get("total_value"), dict):
            value = entry["total_value"].get("value")
        else:
            value = None
        found = number(value)
        if isinstance(name, str) and found is not None:
            values[name] = found
    return values


def recent_post(entry: dict[str, Any], *, text_field: str) -> RecentPost:
    """A listed media as a `RecentPost` (Instagram names its text `caption`, Threads `text`)."""
    permalink, text = entry.get("permalink"), entry.get(text_field)
    return RecentPost(
        external_id=str(entry.get("id")),
        text=text if isinstance(text, str) else None,
        created_at=parse_time(entry.get("timestamp")),
        permalink=permalink if isinstance(permalink, str) else None,
    )


def newest(posts: list[RecentPost], *, since: datetime, limit: int) -> list[RecentPost]:
    """The posts from `since` on, newest first, at most `limit`."""
    recent = [post for post in posts if post.created_at is None or post.created_at >= since]
    recent.sort(key=lambda post: post.created_at or since, reverse=True)
    return recent[:limit]


def until_refreshable(expires_at: datetime | None) -> float:
    """Seconds until a 60-day token is 24 h old, guessed from its expiry."""
    if expires_at is None:
        return float(REFRESH_MIN_AGE_S)
    issued = expires_at - timedelta(seconds=LONG_LIVED_S)
    after = (issued + timedelta(seconds=REFRESH_MIN_AGE_S) - clock.now()).total_seconds()
    return min(float(REFRESH_MIN_AGE_S), max(60.0, after))
