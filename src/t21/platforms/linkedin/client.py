"""One operation's conversation with LinkedIn on behalf of one connected member."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from t21.platforms.base import Credentials, PlatformConfig
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.linkedin.wire import classify, rest_headers, unexpected


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class LinkedInClient:
    """Sends the member's requests with the versioned headers and classifies every refusal."""

    def __init__(self, http: PlatformHttp, config: PlatformConfig, credentials: Credentials):
        self.http = http
        self.config = config
        self.credentials = credentials

    def url(self, path: str) -> str:
        return f"{self.config.api_base}{path}"

    def _trusted(self, url: str) -> bool:
        """Whether `url` is on one of the configured LinkedIn origins (the member's token goes
        nowhere else)."""
        bases = (self.config.auth_base, self.config.api_base, self.config.upload_base)
        origin = _origin(url)
        return any(base and _origin(base) == origin for base in bases)

    def _scope_missing(self, scope: str | None) -> bool:
        granted = self.credentials.scopes
        return scope is not None and bool(granted) and scope not in granted

    async def send(
        self,
        method: str,
        url: str,
        *,
        scope: str | None = None,
        publishing: bool = False,
        allow: tuple[int, ...] = (),
        versioned: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """`url` (absolute, or a path under the API base) with the member's token, and the
        version headers unless `versioned` is off (`/v2/*`, upload URLs); a 2xx or an `allow`ed
        status is returned, anything else raised as its failure class."""
        target = url if url.startswith(("http://", "https://")) else self.url(url)
        token = self.credentials.access_token
        base = rest_headers(token) if versioned else {"Authorization": f"Bearer {token}"}
        if not self._trusted(target):
            # An upload URL LinkedIn handed out on another host gets no token (video part
            # URLs are signed and don't need it).
            base = {}
        response = await self.http.request(
            method, target, publishing=publishing, headers=base | (headers or {}), **kwargs
        )
        if response.is_success or response.status_code in allow:
            return response
        raise classify(response, publishing=publishing, scope_missing=self._scope_missing(scope))

    async def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """A call whose success answer is a JSON object."""
        response = await self.send(method, url, **kwargs)
        body = json_body(response)
        if not isinstance(body, dict):
            raise unexpected(f"{method} {url.split('?', 1)[0].rsplit('/', 1)[-1]}")
        return body

    async def value(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A Rest.li action's `value` object (`?action=initializeUpload` and the like)."""
        body = await self.json(method, path, **kwargs)
        value = body.get("value")
        if not isinstance(value, dict):
            raise unexpected(path.split("?", 1)[-1])
        return value
