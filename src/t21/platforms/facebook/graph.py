"""Talking to the Graph API for Facebook Pages, and classifying every failure once.

Graph errors come as `{"error": {message, type, code, error_subcode?, error_user_title?,
error_user_msg?, fbtrace_id}}`, mostly at HTTP 400 (throttling and expired tokens included) and at
500 for codes 1 and 2 (PLATFORMS.md §1; the status of each code is unconfirmed, so the class is
decided on the code, never on the status alone). Reels uploads go to a different host
(rupload.facebook.com) that answers `{"debug_info": {retriable, type, message}}` instead.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from t21.core.outside import Ambiguous, OutsideFailure, Permanent, ReauthRequired, Retryable
from t21.platforms.base import PlatformConfig
from t21.platforms.http import PlatformHttp, json_body, retry_after_seconds

GRAPH_VERSION = "v25.0"

# Token expired, revoked or invalid (190, 102), a permission missing or removed (10, 200–299),
# Page Publishing Authorization pending (1404078) and 490, which postiz reconnects on.
REAUTH_CODES = frozenset({102, 190, 490, 10, *range(200, 300)})
REAUTH_SUBCODES = frozenset({458, 459, 460, 463, 464, 467, 490, 1404078})
REAUTH_MARKERS = ("REVOKED_ACCESS_TOKEN", "Error validating access token")
# App, user, Page and business-use-case throttling; 1390008 "posting too fast" is a subcode of
# 368, so it is looked at before 368 (which is otherwise permanent: blocked for policy).
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})
THROTTLE_SUBCODES = frozenset({1390008})
# Unknown error, service down, and the two "service unavailable" subcodes postiz retries.
TRANSIENT_CODES = frozenset({1, 2})
TRANSIENT_SUBCODES = frozenset({1363047, 1609010})
# Everything else with an envelope is permanent; these are the ones seen in practice (506
# duplicate, 368 blocked, 1346003/1404102 policy, 1366046 photo too large, 1366051 photos already
# posted, 1609008 facebook.com link, 2061006 bad URL, 1349125 invalid content, 2069019 invalid
# file, 4854002 identity confirmation) and are listed for the reader, not for the code.
# When throttled without a reset estimate: Meta's app and Page windows roll over an hour, so
# waiting five minutes and asking again is T21's choice, not a documented number.
DEFAULT_THROTTLE_S = 300.0


class GraphError:
    """The fields of a Graph error envelope that decide its class."""

    def __init__(self, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        self.present = isinstance(error, dict)
        fields: dict[str, Any] = error if isinstance(error, dict) else {}
        self.code = _int(fields.get("code"))
        self.subcode = _int(fields.get("error_subcode"))
        self.type = str(fields.get("type") or "")
        self.message = str(fields.get("message") or "")
        user_message = fields.get("error_user_msg")
        self.user_message = str(user_message) if user_message else None

    @property
    def label(self) -> str:
        """`graph_<code>` or `graph_<code>.<subcode>`: the failure's code for callers' logs."""
        return f"graph_{self.code}" + (f".{self.subcode}" if self.subcode else "")

    def shown(self) -> str:
        """Facebook's own words, safe to show: its messages never carry tokens."""
        text = self.user_message or self.message or "no message"
        return f"Facebook: {text}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def throttle_after(response: httpx.Response) -> float:
    """Seconds until the throttled window reopens: `Retry-After` where given, else the largest
    `estimated_time_to_regain_access` (minutes) of `x-business-use-case-usage`, else a default
    (`x-app-usage` only says how much is used, not when it frees up)."""
    after = retry_after_seconds(response)
    if after is not None:
        return after
    try:
        usage = json.loads(response.headers.get("x-business-use-case-usage", "{}"))
    except ValueError:
        usage = {}
    minutes = [
        float(entry.get("estimated_time_to_regain_access") or 0)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else DEFAULT_THROTTLE_S


def classify(response: httpx.Response, *, publishing: bool = False) -> OutsideFailure:
    """The one class a failed Graph answer belongs to."""
    error = GraphError(json_body(response))
    status = response.status_code
    if not error.present:
        return _classify_bare(response, publishing=publishing)
    shown = error.shown()
    if (
        error.code in REAUTH_CODES
        or error.subcode in REAUTH_SUBCODES
        or any(marker in response.text for marker in REAUTH_MARKERS)
    ):
        return ReauthRequired(shown, code=error.label)
    if error.subcode in THROTTLE_SUBCODES or error.code in THROTTLE_CODES:
        return Retryable(shown, after=throttle_after(response), code=error.label)
    if error.code in TRANSIENT_CODES or error.subcode in TRANSIENT_SUBCODES or status >= 500:
        if publishing:
            return Ambiguous(shown, code=error.label)
        return Retryable(shown, after=retry_after_seconds(response), code=error.label)
    return Permanent(shown, code=error.label)


def _classify_bare(response: httpx.Response, *, publishing: bool) -> OutsideFailure:
    """An error answer without a Graph envelope (a proxy, a load balancer, rupload)."""
    status = response.status_code
    if status >= 500:
        message = f"Facebook answered HTTP {status}"
        if publishing:
            return Ambiguous(message, code="server_error")
        return Retryable(message, after=retry_after_seconds(response), code="server_error")
    if status == 429:
        return Retryable("Facebook is throttling T21", after=throttle_after(response))
    if status in (401, 403):
        return ReauthRequired("Facebook refused the Page's access token", code=str(status))
    return Permanent(f"Facebook refused the request (HTTP {status})", code=str(status))


def classify_upload(response: httpx.Response) -> OutsideFailure:
    """A failed reel upload to rupload: never the publishing request, so never Ambiguous."""
    body = json_body(response)
    info = body.get("debug_info") if isinstance(body, dict) else None
    if isinstance(body, dict) and "error" in body:
        return classify(response)
    if (
        not isinstance(info, dict)
        or response.status_code in (401, 403, 429)
        or (response.status_code >= 500)
    ):
        return _classify_bare(response, publishing=False)
    message = f"Facebook could not receive the video: {info.get('message') or info.get('type')}"
    if info.get("retriable"):
        return Retryable(message, code="upload")
    return Permanent(message, code="upload")


class Graph:
    """One operation's Graph API calls with one Page's (or user's) access token, sent in the
    Authorization header so it never lands in a URL, a log or an error."""

    def __init__(self, http: PlatformHttp, config: PlatformConfig, token: str | None) -> None:
        self.http = http
        self.config = config
        self.token = token

    def url(self, path: str, *, video_host: bool = False) -> str:
        base = (self.config.upload_base or self.config.api_base) if video_host else None
        return f"{base or self.config.api_base}/{GRAPH_VERSION}/{path}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        return await self.send("GET", self.url(path), params=params)

    async def post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        fields: str | None = None,
        publishing: bool = False,
        video_host: bool = False,
    ) -> dict[str, Any]:
        """POST a JSON body; `fields` asks for more of the created object in the answer."""
        params = {"fields": fields} if fields else None
        url = self.url(path, video_host=video_host)
        return await self.send("POST", url, params=params, json=body, publishing=publishing)

    async def send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        publishing: bool = False,
    ) -> dict[str, Any]:
        response = await self.http.request(
            method, url, params=params, json=json, headers=self._headers(), publishing=publishing
        )
        body = json_body(response)
        if response.is_success and isinstance(body, dict) and "error" not in body:
            return body
        if response.is_success:
            # A 2xx we can't read: on the publishing request the post may well exist.
            message = "Facebook's answer could not be read"
            if publishing:
                raise Ambiguous(message, code="unreadable")
            raise Retryable(message, code="unreadable")
        raise classify(response, publishing=publishing)

    async def upload(self, url: str, headers: dict[str, str]) -> dict[str, Any]:
        """POST to a rupload URL, which takes `Authorization: OAuth <token>`."""
        sent = {"Authorization": f"OAuth {self.token}", **headers}
        response = await self.http.request("POST", url, headers=sent)
        body = json_body(response)
        if response.is_success and isinstance(body, dict):
            return body
        raise classify_upload(response)


def text_field(body: dict[str, Any], name: str, *, publishing: bool = False) -> str:
    """A required string field of a successful answer (ids come as strings, or numbers). Missing
    from the publishing request's answer, the post may exist all the same: Ambiguous."""
    value = body.get(name)
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    message = f"Facebook answered without `{name}`"
    if publishing:
        raise Ambiguous(message, code="unexpected_answer")
    raise Retryable(message, code="unexpected_answer")
