"""Pinterest through API v5: connecting with OAuth (continuous refresh), the account's boards,
image, video and carousel pins, the account's recent pins and each pin's analytics. Sources in
the package docstring; the wire format and failure classes in `wire`, video uploads in
`media`, the limits and options in `rules`."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import BaseModel

from t21.core import clock
from t21.core.outside import Ambiguous, ReauthRequired, Retryable
from t21.platforms import oauth2
from t21.platforms.base import (
    Budget,
    Choice,
    Connection,
    Continuing,
    Credentials,
    MediaItem,
    PlatformConfig,
    PlatformLimits,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    RecentPost,
    TokenGrant,
    Writing,
)
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.pinterest import media
from t21.platforms.pinterest.rules import LIMITS, PinterestOptions, check, pin_kind
from t21.platforms.pinterest.wire import PinterestApi, raise_for
from t21.platforms.text import comparable

# The API reference lists boards:write beside the pins scopes for `POST /v5/pins`.
SCOPES = ("boards:read", "boards:write", "pins:read", "pins:write", "user_accounts:read")
# Connecting without these is refused at once: the pins and boards scopes pin; boards:read
# lists the boards and, with pins:read, reads analytics; pins:read lists pins (find_recent);
# user_accounts:read the profile.
REQUIRED_SCOPES = frozenset(SCOPES)
MAX_BOARDS = 2000
# Pin analytics reach 90 days back at most (start_date "cannot be more than 90 days back").
ANALYTICS_DAYS = 89
METRIC_TYPES = "IMPRESSION,SAVE,PIN_CLICK,OUTBOUND_CLICK"
# How many pins find_recent reads at most, whatever `limit` asks (pins are listed newest
# first, unconfirmed: every pin read is compared, none is assumed older).
MAX_RECENT = 250
CONTINUE_AFTER_S = 30.0


class PinterestProvider:
    name: ClassVar[str] = "pinterest"
    display_name: ClassVar[str] = "Pinterest"
    uses_pkce: ClassVar[bool] = False
    scopes: ClassVar[tuple[str, ...]] = SCOPES
    limits: ClassVar[PlatformLimits] = LIMITS
    options: ClassVar[type[BaseModel]] = PinterestOptions
    # Pin creation is in the org_write category: 100 a minute per user at standard access.
    # T21 keeps well under it for one account.
    publish_budget: ClassVar[Budget | None] = Budget(30, timedelta(minutes=1))
    idempotency_window: ClassVar[timedelta | None] = None
    choice_kinds: ClassVar[frozenset[str]] = frozenset({"boards"})
    writing: ClassVar[Writing] = Writing(
        "Pinterest pin description: keyword-rich and helpful, saying what the idea is and why "
        "to save it, in one or two plain sentences, with a few relevant keywords and no "
        "more than two hashtags.",
        200,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    # --- OAuth ---------------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        query = urlencode(
            {
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": ",".join(self.config.requested_scopes(self.scopes)),
                "state": state,
            }
        )
        return f"{self.config.auth_base}/oauth/?{query}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        # Apps created before 25 Sep 2025 ask for the continuous refresh token explicitly.
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "continuous_refresh": "true",
        }
        async with PlatformHttp(self.config) as http:
            grant = await self._token(http, form, what="the authorization code")
            oauth2.require_scopes(grant, REQUIRED_SCOPES, self.display_name)
            profile = await self._profile(PinterestApi(http, self.config, grant.access_token))
        return [Connection(profile=profile, grant=grant)]

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        """New tokens; Pinterest's continuous refresh answers with a new refresh token too (60
        days, refreshable again), which replaces the stored one."""
        form = oauth2.refresh_form(credentials, self.display_name)
        async with PlatformHttp(self.config) as http:
            return await self._token(http, form, what="the token refresh")

    async def revoke(self, credentials: Credentials) -> bool:
        """Pinterest's revocation endpoint takes only system users' tokens, so a person's
        tokens can't be revoked by T21: they remove the app in their Pinterest settings."""
        return False

    async def _token(self, http: PlatformHttp, form: dict[str, str], *, what: str) -> TokenGrant:
        pair = f"{self.config.client_id}:{self.config.client_secret}".encode()
        response = await http.request(
            "POST",
            f"{self.config.api_base}/v5/oauth/token",
            data=form,
            headers={"Authorization": f"Basic {base64.b64encode(pair).decode()}"},
        )
        if response.status_code in (400, 401):
            # A used, expired or revoked code or refresh token: only a new sign-in helps.
            raise ReauthRequired(f"Pinterest refused {what}; connect the account again.")
        if not response.is_success:
            raise_for(response, what=what)
        return oauth2.grant_of(
            json_body(response),
            network=self.display_name,
            what=what,
            refresh_lifetime="refresh_token_expires_in",
        )

    # --- reading -------------------------------------------------------------------------------

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            return await self._profile(PinterestApi(http, self.config, credentials.access_token))

    async def _profile(self, api: PinterestApi) -> Profile:
        body = await api.call("GET", "/user_account", what="the profile")
        user_id, username = body.get("id"), body.get("username")
        if not user_id or not username:
            raise Retryable("Pinterest answered the profile without the account's id.")
        return Profile(
            external_id=str(user_id),
            username=str(username),
            display_name=body.get("business_name") or str(username),
            avatar_url=body.get("profile_image") or None,
        )

    async def list_choices(self, credentials: Credentials, kind: str) -> list[Choice]:
        """The account's boards (its own and group boards it joined), every page of them."""
        async with PlatformHttp(self.config) as http:
            api = PinterestApi(http, self.config, credentials.access_token)
            boards = await api.pages("/boards", what="the account's boards", most=MAX_BOARDS)
        return [
            Choice(id=str(board["id"]), name=str(board.get("name") or board["id"]))
            for board in boards
            if board.get("id")
        ]

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # pins:read, asked for at connection, lists the account's pins

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        async with PlatformHttp(self.config) as http:
            api = PinterestApi(http, self.config, credentials.access_token)
            pins = await api.pages(
                "/pins", what="the account's recent pins", most=max(limit, MAX_RECENT)
            )
        found = []
        for pin in pins:
            created = _datetime(pin.get("created_at"))
            # created_at has whole seconds: a pin made within `since`'s second still counts.
            if created is not None and created < since.replace(microsecond=0):
                continue
            found.append(
                RecentPost(
                    external_id=str(pin.get("id")),
                    text=pin.get("description") or None,
                    created_at=created,
                    permalink=permalink(str(pin.get("id"))),
                )
            )
        found.sort(key=lambda post: post.created_at or clock.now(), reverse=True)
        return found[:limit]

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        today = clock.now().date()
        params = {
            "start_date": (today - timedelta(days=ANALYTICS_DAYS)).isoformat(),
            "end_date": today.isoformat(),
            "metric_types": METRIC_TYPES,
            "app_types": "ALL",
        }
        results: dict[str, PostMetrics | None] = dict.fromkeys(external_ids)
        async with PlatformHttp(self.config) as http:
            api = PinterestApi(http, self.config, credentials.access_token)
            for pin_id in dict.fromkeys(external_ids):
                body = await api.call(
                    "GET", f"/pins/{pin_id}/analytics", what="pin analytics", params=params
                )
                results[pin_id] = _metrics(body)
        return results

    # --- publishing ----------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return self.limits

    def check(self, request: PublishRequest) -> None:
        check(request)

    async def publish(
        self, credentials: Credentials, request: PublishRequest
    ) -> Published | Continuing:
        """Create the pin. A video is uploaded and processed first; processing that outlasts
        `poll_timeout_s` makes it `Continuing`, the next attempt resuming with its media id."""
        options = check(request)
        kind = pin_kind(request.media)
        async with PlatformHttp(self.config) as http:
            api = PinterestApi(http, self.config, credentials.access_token)
            if kind == "video":
                media_id = request.progress.get("media_id")
                if not isinstance(media_id, str):
                    registered = await media.register(api)
                    await media.upload(http, registered, request.media[0])
                    media_id = str(registered["media_id"])
                ready = await media.processed(
                    api,
                    media_id,
                    interval_s=self.config.poll_interval_s,
                    wait_s=self.config.poll_timeout_s,
                )
                if not ready:
                    return Continuing(
                        after_s=CONTINUE_AFTER_S,
                        progress={"media_id": media_id},
                        reason="Pinterest is processing the video; T21 pins it once ready.",
                    )
                source: dict[str, Any] = {
                    "source_type": "video_id",
                    "media_id": media_id,
                    # The cover: a frame one second in (every video pin is 4 s or longer).
                    "cover_image_key_frame_time": 1,
                }
            elif kind == "carousel":
                source = {
                    "source_type": "multiple_image_urls",
                    "items": [{"url": item.url} for item in request.media],
                }
            else:
                source = {"source_type": "image_url", "url": request.media[0].url}
            body = await api.call(
                "POST",
                "/pins",
                what="creating the pin",
                json=_pin(request.text, options, request.media, source),
                publishing=True,
            )
        pin_id = body.get("id")
        if not isinstance(pin_id, str) or not pin_id:
            # It answered success: the pin may well exist, so this is a doubt, never a retry.
            raise Ambiguous("Pinterest created the pin without saying its id.", code="bad_answer")
        return Published(
            external_id=pin_id,
            permalink=permalink(pin_id),
            published_at=_datetime(body.get("created_at")),
        )


def permalink(pin_id: str) -> str:
    return f"https://www.pinterest.com/pin/{pin_id}/"


def _pin(
    text: str, options: PinterestOptions, items: list[MediaItem], source: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {"board_id": options.board_id, "media_source": source}
    if text:
        body["description"] = text
    alt_text = options.alt_text or (items[0].alt_text if items else None)
    for name, value in (("title", options.title), ("link", options.link), ("alt_text", alt_text)):
        if value:
            body[name] = value
    return body


def _metrics(body: dict[str, Any]) -> PostMetrics | None:
    """Numbers from a pin's analytics, keyed by app type ("all": every app)."""
    summary: Any = None
    for key, value in body.items():
        if key.lower() == "all" and isinstance(value, dict):
            summary = value.get("summary_metrics")
    if not isinstance(summary, dict):
        return None

    def number(name: str) -> int | None:
        value = summary.get(name)
        return int(value) if isinstance(value, int | float) else None

    # Clicks on the pin (opening it) and clicks out to its link are kept apart.
    return PostMetrics(
        impressions=number("IMPRESSION"),
        saves=number("SAVE"),
        clicks=number("PIN_CLICK"),
        outbound_clicks=number("OUTBOUND_CLICK"),
    )


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
