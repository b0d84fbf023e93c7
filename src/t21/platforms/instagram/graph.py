"""Calling the Instagram Graph API (`graph.instagram.com/vXX.X/...`) with a user token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
        json: dict[str, Any] | None = None,
        publishing: bool = False,
    ) -> dict[str, Any]:
        """A Graph call with the token in the Authorization header (never in a URL that could
        be logged); the JSON object it answers, or its failure classified."""
        response = await http.request(
            method,
            self.url(path),
            publishing=publishing,
            params=params,
            json=json,
            headers={"Authorization": f"Bearer {token}"},
        )
        if not response.is_success:
            raise classify(
                response, publishing=publishing, redact=(token, self.config.client_secret)
            )
        return answer_object(response.status_code, json_body(response), publishing=publishing)


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
