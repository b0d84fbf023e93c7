"""The Business Profile APIs' exchange: JSON over HTTPS with the person's bearer token, Google's
error envelope `{"error": {code, message, status, details}}`, and each failure classified once.

Three APIs on three hosts at Google (account management v1, business information v1, the v4
API that keeps local posts); a configured `API_BASE` other than Google's serves all three.

Source: https://cloud.google.com/apis/design/errors (the envelope; UNAUTHENTICATED 401,
PERMISSION_DENIED 403, RESOURCE_EXHAUSTED 429, INVALID_ARGUMENT 400, NOT_FOUND 404)
Source: https://developers.google.com/my-business/content/limits (300 requests a minute per API
by default, and 10 edits a minute per Business Profile)
"""

from __future__ import annotations

from typing import Any

import httpx

from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.platforms.base import Credentials, PlatformConfig
from t21.platforms.google_business.settings import REAL_API_BASE
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

ACCOUNTS_HOST = "https://mybusinessaccountmanagement.googleapis.com"
INFORMATION_HOST = "https://mybusinessbusinessinformation.googleapis.com"
# Quotas are per minute: without a Retry-After, the next minute is when to try again.
QUOTA_WAIT_S = 60.0
# What a refused project's answers say: the API isn't enabled or the project wasn't approved.
_OPERATOR_REASONS = ("SERVICE_DISABLED", "API_DISABLED", "accessNotConfigured")


def hosts(config: PlatformConfig) -> tuple[str, str, str]:
    """Where account management, business information and local posts are served."""
    if config.api_base == REAL_API_BASE:
        return ACCOUNTS_HOST, INFORMATION_HOST, REAL_API_BASE
    return config.api_base, config.api_base, config.api_base


def _reasons(error: dict[str, Any]) -> list[str]:
    found = []
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
            found.append(detail["reason"])
    for item in error.get("errors") or []:
        if isinstance(item, dict) and isinstance(item.get("reason"), str):
            found.append(item["reason"])
    return found


def failure(response: httpx.Response, *, publishing: bool = False) -> OutsideFailure:
    """One refused answer of a Business Profile API, classified."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    status = response.status_code
    message = str(error.get("message") or f"HTTP {status}")
    described = f"Google Business Profile answered {status}: {message}"
    reasons = _reasons(error)
    if status == 429:
        wait = retry_after_seconds(response)
        return Retryable(
            f"{described} (a per-minute quota; a project not yet approved for the Business "
            "Profile APIs has a quota of 0)",
            after=wait if wait is not None else QUOTA_WAIT_S,
            code="rate_limited",
        )
    if status == 401:
        return ReauthRequired(described, code="unauthenticated")
    if status == 403:
        if any(reason in _OPERATOR_REASONS for reason in reasons):
            return Permanent(
                f"{described} (enable the Business Profile APIs in T21's Google Cloud project)",
                code="api_disabled",
            )
        return ReauthRequired(described, code="permission_denied")
    if status >= 500:
        if publishing:
            return Ambiguous(described, code="server_error")
        return Retryable(described, code="server_error")
    if status == 404:
        return Permanent(f"{described} (the location is gone or no longer yours)", code="not_found")
    return Permanent(described, code=str(error.get("status") or f"http_{status}").lower())


class BusinessApi:
    """Calls to the Business Profile APIs as one person."""

    def __init__(self, http: PlatformHttp, config: PlatformConfig, credentials: Credentials):
        self.http = http
        self.accounts_host, self.information_host, self.posts_host = hosts(config)
        self._headers = {"Authorization": f"Bearer {credentials.access_token}"}

    async def get(self, url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.request("GET", url, params=params, headers=self._headers)
        return self._answer(response, publishing=False)

    async def post(
        self, url: str, body: dict[str, Any], *, publishing: bool = False
    ) -> dict[str, Any]:
        response = await self.http.request(
            "POST", url, json=body, headers=self._headers, publishing=publishing
        )
        return self._answer(response, publishing=publishing)

    @staticmethod
    def _answer(response: httpx.Response, *, publishing: bool) -> dict[str, Any]:
        if response.status_code != 200:
            raise failure(response, publishing=publishing)
        body = json_body(response)
        if not isinstance(body, dict):
            message = "Google Business Profile answered without a JSON object."
            if publishing:
                raise Ambiguous(message, code="bad_answer")
            raise Retryable(message, code="bad_answer")
        return body
