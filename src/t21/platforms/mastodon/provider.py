"""Mastodon through OAuth 2.0 on the account's own instance: statuses with text, up to 4
images or one video, a content warning, visibility, sensitivity and language; the account's
statuses for reconciliation and per-status counts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
import unicodedata
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlencode

import regex
from pydantic import BaseModel, ConfigDict, Field

from t21.core.outside import Ambiguous, Permanent
from t21.platforms.base import (
    Budget,
    Connection,
    Continuing,
    Credentials,
    InstanceApp,
    MediaItem,
    MediaRule,
    PlatformConfig,
    PlatformLimits,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    RecentPost,
    ReplyTo,
    TextCounting,
    TokenGrant,
    Writing,
    parse_options,
    replies_among_recent,
)
from t21.platforms.http import PlatformHttp, json_body
from t21.platforms.mastodon.wire import MastodonApi, classify, token_failure, unexpected
from t21.platforms.text import comparable

MB = 1024 * 1024
MAX_TEXT = 500
URL_LENGTH = 23
# A host name (with an optional port), as `instance` is given at connection.
HOST = re.compile(
    r"^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(:[0-9]{1,5})?$"
)
# What Mastodon counts as a link and a mention (app/validators/status_length_validator.rb,
# app/lib/text_formatter.rb): a URL counts 23, a mention `@user@domain` as `@user`.
URL = regex.compile(r"https?://[^\s<>\"]+")
MENTION = regex.compile(r"(?<![\w/])@([\w]+(?:[.\-][\w]+)*)@[\w.\-]+\w", regex.IGNORECASE)
STATUSES_MAX = 40
# When to look again at media still processing after an attempt's bounded wait.
CONTINUE_AFTER_S = 30.0


class MastodonOptions(BaseModel):
    """Per-status options (API.md "More networks")."""

    model_config = ConfigDict(extra="forbid")

    visibility: Literal["public", "unlisted", "private", "direct"] | None = None
    spoiler_text: str | None = Field(default=None, max_length=MAX_TEXT)
    sensitive: bool | None = None
    # ISO 639-1, as Mastodon's `language` (two letters; it refuses unknown ones with 422).
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")


AppRegistration = InstanceApp


def mastodon_length(text: str) -> int:
    """A status's length as Mastodon counts it: grapheme clusters, each URL 23, mentions
    without their domain."""
    counted = URL.sub("x" * URL_LENGTH, unicodedata.normalize("NFC", text))
    counted = MENTION.sub(lambda match: "@" + match.group(1), counted)
    return len(regex.findall(r"\X", counted))


def instance_host(value: str) -> str:
    """`value` as an instance's host name, lower case; Permanent when it isn't one."""
    host = value.strip().lower().removeprefix("https://").rstrip("/")
    if not HOST.match(host):
        raise Permanent(f"{value!r} is not a Mastodon server's host name.", code="invalid_instance")
    return host


def split_account(external_id: str) -> tuple[str, str]:
    """An account's external id `<id>@<instance>` as (id, instance): ids are per instance."""
    account_id, _, host = external_id.partition("@")
    if not account_id or not host:
        raise Permanent("The Mastodon account has no instance.", code="invalid_account")
    return account_id, host


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _created_at(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def idempotency_key(credentials: Credentials, request: PublishRequest) -> str:
    """The `Idempotency-Key` of a status: the same for every attempt of one publication, so a
    doubtful attempt repeated is the same request (Mastodon keeps a key an hour per account and
    answers its repeat with the first status). It is the publication's own key (its target)
    with the account; without one, the post's content as described (text, options, media
    facts; not the media ids each attempt uploads anew)."""
    if request.key:
        identity = json.dumps([credentials.external_id, request.key])
    else:
        media = [[m.kind.value, m.content_type, m.size, m.alt_text] for m in request.media]
        identity = json.dumps(
            [credentials.external_id, request.text, request.options, media],
            sort_keys=True,
            ensure_ascii=False,
        )
    return "t21-" + hashlib.sha256(identity.encode()).hexdigest()[:48]


class MastodonProvider:
    """Accounts on any Mastodon instance: text, up to 4 images or one video per status."""

    name: ClassVar[str] = "mastodon"
    display_name: ClassVar[str] = "Mastodon"
    uses_pkce: ClassVar[bool] = True
    # Granular scopes (Mastodon 3.0+): posting, media, reading the account and its statuses.
    scopes: ClassVar[tuple[str, ...]] = (
        "read:accounts",
        "read:statuses",
        "write:statuses",
        "write:media",
    )
    # Threads: each part a status with `in_reply_to_id` the part before (`publish_reply`).
    supports_threads: ClassVar[bool] = True
    # A repeated `Idempotency-Key` returns the first status: a doubt is settled exactly.
    supports_idempotency: ClassVar[bool] = True
    # The connect request names the account's server (`instance`).
    needs_instance: ClassVar[bool] = True
    limits: ClassVar[PlatformLimits] = PlatformLimits(
        max_text=MAX_TEXT,  # the default; each instance says its own in /api/v2/instance
        text_counting=TextCounting.GRAPHEMES,
        requires_media=False,
        max_images=4,
        max_videos=1,
        mixed_media=False,
        image=MediaRule(
            content_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
            max_size_bytes=16 * MB,
        ),
        video=MediaRule(
            content_types=frozenset({"video/mp4", "video/quicktime", "video/webm"}),
            max_size_bytes=99 * MB,
        ),
        notes=(
            "The text limit is the instance's (500 by default); a URL counts 23 characters, a "
            "mention without its domain, and the content warning counts too.",
            "A status takes up to 4 images or one video.",
            "Statuses per account: 300 per 3 hours.",
        ),
    )
    options: ClassVar[type[BaseModel]] = MastodonOptions
    # 300 statuses per 3 hours per account (config/initializers/rack_attack.rb).
    publish_budget: ClassVar[Budget | None] = Budget(300, timedelta(hours=3))
    # The instance keeps an `Idempotency-Key` for an hour: a repeat within 50 minutes is
    # answered with the first status.
    idempotency_window: ClassVar[timedelta | None] = timedelta(minutes=50)
    writing: ClassVar[Writing] = Writing(
        "Mastodon: conversational and plain, no marketing tone; CamelCase hashtags at the end "
        "(they are how posts are found); a content warning for sensitive topics.",
        400,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    # --- where an instance is -----------------------------------------------------------------

    def instance_host(self, value: str) -> str:
        return instance_host(value)

    def instance_of(self, credentials: Credentials) -> str:
        return split_account(credentials.external_id)[1]

    def base(self, instance: str) -> str:
        """The instance's address: the real host, or the sandbox (every instance reaches it)."""
        return self.config.api_base.replace("{instance}", instance_host(instance))

    def _api(self, http: PlatformHttp, credentials: Credentials) -> MastodonApi:
        _, host = split_account(credentials.external_id)
        return MastodonApi(http, self.config, self.base(host), credentials.access_token)

    # --- connecting ---------------------------------------------------------------------------

    async def register_app(self, instance: str, redirect_uri: str) -> AppRegistration:
        """Register T21's app on `instance` (once per instance; the caller keeps it)."""
        host = instance_host(instance)
        base = self.base(host)
        async with PlatformHttp(self.config) as http:
            response = await http.request(
                "POST",
                f"{base}/api/v1/apps",
                json={
                    "client_name": self.config.client_id or "T21",
                    "redirect_uris": redirect_uri,
                    "scopes": " ".join(self.config.requested_scopes(self.scopes)),
                },
            )
            if response.status_code != 200:
                raise token_failure(response)
            body = json_body(response)
            client_id = body.get("client_id") if isinstance(body, dict) else None
            secret = body.get("client_secret") if isinstance(body, dict) else None
            if not isinstance(client_id, str) or not isinstance(secret, str):
                raise unexpected("the app registration")
            metadata = await http.request("GET", f"{base}/.well-known/oauth-authorization-server")
            found = json_body(metadata) if metadata.status_code == 200 else None
            methods = (
                found.get("code_challenge_methods_supported") if isinstance(found, dict) else None
            )
        pkce = isinstance(methods, list) and "S256" in methods
        return AppRegistration(host, client_id, secret, pkce)

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        raise Permanent("Connecting Mastodon needs the instance.", code="instance_required")

    def authorization_url_at(
        self, app: AppRegistration, *, state: str, redirect_uri: str, code_verifier: str | None
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.requested_scopes(self.scopes)),
            "state": state,
        }
        if app.pkce and code_verifier:
            params |= {"code_challenge": _s256(code_verifier), "code_challenge_method": "S256"}
        base = self.config.auth_base.replace("{instance}", app.instance)
        return f"{base}/oauth/authorize?{urlencode(params, quote_via=quote)}"

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        raise Permanent("Connecting Mastodon needs the instance.", code="instance_required")

    async def exchange_code_at(
        self, app: AppRegistration, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.requested_scopes(self.scopes)),
        }
        if app.pkce and code_verifier:
            form["code_verifier"] = code_verifier
        base = self.base(app.instance)
        async with PlatformHttp(self.config) as http:
            response = await http.request("POST", f"{base}/oauth/token", data=form)
            if response.status_code != 200:
                raise token_failure(response)
            body = json_body(response)
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(token, str) or not token:
                raise unexpected("the token request")
            scope = body.get("scope")
            # Mastodon's tokens don't expire: no expires_in, no refresh token.
            grant = TokenGrant(
                access_token=token,
                scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
            )
            api = MastodonApi(http, self.config, base, token)
            profile = await self._profile(api, app.instance)
        return [Connection(profile=profile, grant=grant)]

    async def _profile(self, api: MastodonApi, host: str) -> Profile:
        body = await api.json("GET", "/api/v1/accounts/verify_credentials")
        account_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(account_id, str) or not account_id:
            raise unexpected("verify_credentials")
        username = body.get("acct") or body.get("username")
        avatar = body.get("avatar")
        return Profile(
            external_id=f"{account_id}@{host}",
            username=f"{username}@{host}" if isinstance(username, str) else None,
            display_name=body.get("display_name") or None,
            avatar_url=avatar if isinstance(avatar, str) else None,
        )

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        return None  # Mastodon's access tokens live until revoked

    async def revoke(self, credentials: Credentials) -> bool:
        """Revoking (`POST /oauth/revoke`) needs T21's app on the instance: `revoke_at`."""
        return False

    async def revoke_at(self, app: AppRegistration, credentials: Credentials) -> bool:
        async with PlatformHttp(self.config) as http:
            response = await http.request(
                "POST",
                f"{self.base(app.instance)}/oauth/revoke",
                data={
                    "client_id": app.client_id,
                    "client_secret": app.client_secret,
                    "token": credentials.access_token,
                },
            )
        if response.status_code != 200:
            raise token_failure(response)
        return True

    async def profile(self, credentials: Credentials) -> Profile:
        _, host = split_account(credentials.external_id)
        async with PlatformHttp(self.config) as http:
            return await self._profile(self._api(http, credentials), host)

    # --- rules --------------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return self.limits

    def check(self, request: PublishRequest) -> None:
        options = parse_options(MastodonOptions, request.options, self.display_name)
        assert isinstance(options, MastodonOptions)
        self._check_length(request.text, options, self.limits.max_text)

    def _check_length(self, text: str, options: MastodonOptions, max_text: int) -> None:
        length = mastodon_length((options.spoiler_text or "") + text)
        if length > max_text:
            raise Permanent(
                f"The text and content warning are {length} characters as Mastodon counts them "
                f"(a link 23); the instance takes at most {max_text}.",
                code="text_too_long",
            )

    async def max_text(self, api: MastodonApi) -> int:
        """The instance's own limit (`configuration.statuses.max_characters`)."""
        response = await api.http.request("GET", f"{api.base}/api/v2/instance")
        body = json_body(response) if response.status_code == 200 else None
        statuses = ((body or {}).get("configuration") or {}).get("statuses") or {}
        limit = _count(statuses.get("max_characters")) if isinstance(statuses, dict) else None
        return limit or MAX_TEXT

    # --- publishing ---------------------------------------------------------------------------

    async def publish(
        self, credentials: Credentials, request: PublishRequest
    ) -> Published | Continuing:
        return await self._publish(credentials, request, None)

    async def publish_reply(
        self, credentials: Credentials, request: PublishRequest, reply_to: ReplyTo
    ) -> Published | Continuing:
        """A thread's part: a status with `in_reply_to_id` the part before it
        (https://docs.joinmastodon.org/methods/statuses/#create)."""
        return await self._publish(credentials, request, reply_to.parent_id)

    async def _publish(
        self, credentials: Credentials, request: PublishRequest, in_reply_to: str | None
    ) -> Published | Continuing:
        """Upload the media (or take up those an earlier attempt uploaded, `progress`), wait a
        bounded while for their processing, then post. Media still processing at
        `poll_timeout_s` make it `Continuing`: the next attempt resumes with the same ids."""
        options = parse_options(MastodonOptions, request.options, self.display_name)
        assert isinstance(options, MastodonOptions)
        async with PlatformHttp(self.config) as http:
            api = self._api(http, credentials)
            self._check_length(request.text, options, await self.max_text(api))
            media_ids = _resumed(request)
            pending = list(media_ids) if media_ids else []
            if media_ids is None:
                media_ids, pending = [], []
                for item in request.media:
                    media_id, processing = await self._upload(api, item)
                    media_ids.append(media_id)
                    if processing:
                        pending.append(media_id)
            if pending and not await self._processed(api, pending):
                return Continuing(
                    after_s=CONTINUE_AFTER_S,
                    progress={"media_ids": media_ids},
                    reason="Mastodon is still processing the media.",
                )
            form: dict[str, str | list[str]] = {"status": request.text}
            if in_reply_to is not None:
                form["in_reply_to_id"] = in_reply_to
            if media_ids:
                form["media_ids[]"] = media_ids
            for name, value in options.model_dump(exclude_none=True).items():
                form[name] = str(value).lower() if isinstance(value, bool) else str(value)
            body = await api.json(
                "POST",
                "/api/v1/statuses",
                publishing=True,
                data=form,
                headers={"Idempotency-Key": idempotency_key(credentials, request)},
            )
        status_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(status_id, str) or not status_id:
            raise Ambiguous("Mastodon answered the status without its id", code="bad_answer")
        url = body.get("url")
        return Published(
            external_id=status_id,
            permalink=url if isinstance(url, str) else None,
            published_at=_created_at(body.get("created_at")),
        )

    async def _upload(self, api: MastodonApi, item: MediaItem) -> tuple[str, bool]:
        """`POST /api/v2/media`: the media id, and whether it is still processing (a 202)."""
        data = await item.read(0, item.size)
        extension = item.content_type.rsplit("/", 1)[-1]
        form = {"description": item.alt_text} if item.alt_text else None
        response = await api.send(
            "POST",
            "/api/v2/media",
            files={"file": (f"media.{extension}", data, item.content_type)},
            data=form,
        )
        body = json_body(response)
        media_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise unexpected("the media upload")
        return media_id, response.status_code == 202

    async def _processed(self, api: MastodonApi, media_ids: list[str]) -> bool:
        """Poll `GET /api/v1/media/:id` (206 while processing, 200 once done) until each is
        processed, for at most `poll_timeout_s`; whether they all are."""
        deadline = time.monotonic() + self.config.poll_timeout_s
        waiting = list(media_ids)
        while waiting:
            response = await api.send("GET", f"/api/v1/media/{waiting[0]}")
            if response.status_code == 200:
                waiting.pop(0)
                continue
            if time.monotonic() + self.config.poll_interval_s > deadline:
                return False
            await asyncio.sleep(self.config.poll_interval_s)
        return True

    # --- reading back -------------------------------------------------------------------------

    def comparable_text(self, text: str) -> str:
        """Listed statuses are HTML made plain (`_plain`), links shown shortened."""
        return comparable(text)

    async def find_replies(
        self, credentials: Credentials, reply_to: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The account's replies to the part before: its recent posts that answer it."""
        return await replies_among_recent(self, credentials, reply_to, since)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # an account's own statuses are readable with read:statuses

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        account_id, _ = split_account(credentials.external_id)
        async with PlatformHttp(self.config) as http:
            body = await self._api(http, credentials).json(
                "GET",
                f"/api/v1/accounts/{account_id}/statuses",
                params={"limit": str(min(max(limit, 1), STATUSES_MAX)), "exclude_reblogs": "true"},
            )
        found = []
        for item in body if isinstance(body, list) else []:
            created = _created_at(item.get("created_at")) if isinstance(item, dict) else None
            if created is None or created < since or not isinstance(item.get("id"), str):
                continue
            url = item.get("url")
            content = item.get("content")
            answers = item.get("in_reply_to_id")
            found.append(
                RecentPost(
                    external_id=item["id"],
                    text=_plain(content) if isinstance(content, str) else None,
                    created_at=created,
                    permalink=url if isinstance(url, str) else None,
                    reply_to=answers if isinstance(answers, str) else None,
                )
            )
        return found

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        results: dict[str, PostMetrics | None] = {}
        async with PlatformHttp(self.config) as http:
            api = self._api(http, credentials)
            for status_id in external_ids:
                response = await api.http.request(
                    "GET",
                    f"{api.base}/api/v1/statuses/{quote(status_id, safe='')}",
                    headers={"Authorization": f"Bearer {api.token}"},
                )
                if response.status_code == 404:
                    results[status_id] = None
                    continue
                if response.status_code >= 300:
                    raise classify(response)
                body = json_body(response)
                if not isinstance(body, dict):
                    results[status_id] = None
                    continue
                results[status_id] = PostMetrics(
                    likes=_count(body.get("favourites_count")),
                    shares=_count(body.get("reblogs_count")),
                    comments=_count(body.get("replies_count")),
                )
        return results


def _resumed(request: PublishRequest) -> list[str] | None:
    """The media ids an earlier attempt uploaded (`Continuing`), if they fit this request."""
    found = request.progress.get("media_ids")
    if (
        isinstance(found, list)
        and len(found) == len(request.media)
        and all(isinstance(item, str) and item for item in found)
    ):
        return list(found)
    return None


def _plain(content: str) -> str:
    """A status's HTML `content` as text (paragraphs and breaks as newlines)."""
    text = re.sub(r"<br\s*/?>", "\n", content)
    text = re.sub(r"</p>\s*<p>", "\n\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&#39;", "'")
        .replace("&amp;", "&")
    )
