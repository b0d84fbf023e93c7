"""YouTube channels: connecting through Google's OAuth (one account per channel the sign-in
reaches), resumable video uploads spread over attempts, a custom thumbnail, the first comment
on the published video, the uploads playlist for reconciling, and videos' statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from t21.core import clock
from t21.core.logging import get_logger
from t21.core.outside import Ambiguous, Permanent, ReauthRequired, Retryable
from t21.platforms import google_oauth
from t21.platforms.base import (
    Budget,
    Connection,
    Continuing,
    Credentials,
    MediaItem,
    MediaKind,
    PlatformConfig,
    PlatformLimits,
    PostMetrics,
    Profile,
    Published,
    PublishRequest,
    RecentPost,
    ReplyTo,
    TokenGrant,
    Writing,
    parse_options,
)
from t21.platforms.http import PlatformHttp
from t21.platforms.rules import Violation
from t21.platforms.text import comparable
from t21.platforms.youtube import analytics, rules
from t21.platforms.youtube.media import (
    REAL_PACE,
    SANDBOX_PACE,
    SessionGone,
    open_session,
    send_slice,
    where,
)
from t21.platforms.youtube.rules import LIMITS, MAX_COMMENT, YouTubeOptions
from t21.platforms.youtube.wire import PACIFIC, DataApi, error_reason, failure, quota_day_start

log = get_logger("t21.platforms.youtube")

SCOPE = "https://www.googleapis.com/auth/"
UPLOAD = SCOPE + "youtube.upload"
READONLY = SCOPE + "youtube.readonly"
ANALYTICS = SCOPE + "yt-analytics.readonly"
# commentThreads.insert: the first comment on a video.
COMMENTS = SCOPE + "youtube.force-ssl"
# Posting needs the first two; the analytics and comment scopes are asked for and may be
# unticked (then the channel's videos are read from statistics / take no first comment).
REQUIRED_SCOPES = frozenset({UPLOAD, READONLY})
DEFAULT_SCOPES = (UPLOAD, READONLY, ANALYTICS, COMMENTS)
# videos.insert calls a project may make a day (its own quota bucket).
DAILY_UPLOADS = 100
PAGE = 50  # maxResults of channels, playlistItems and videos lists: at most 50
COMMENT_PAGE = 100  # maxResults of commentThreads.list: at most 100
WATCH = "https://www.youtube.com/watch?v="
SHORT = "https://www.youtube.com/shorts/"


def as_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def as_count(value: Any) -> int | None:
    """A statistic: YouTube sends counts as strings of digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def video_resource(request: PublishRequest, options: YouTubeOptions) -> dict[str, Any]:
    """The `snippet` and `status` of the video to upload."""
    snippet: dict[str, Any] = {
        "title": options.title,
        "description": rules.description_of(request, options),
    }
    if options.tags:
        snippet["tags"] = options.tags
    if options.category_id:
        snippet["categoryId"] = options.category_id
    status: dict[str, Any] = {"privacyStatus": options.privacy}
    if options.made_for_kids is not None:
        status["selfDeclaredMadeForKids"] = options.made_for_kids
    if options.publish_at is not None:
        at = options.publish_at.astimezone(UTC).replace(microsecond=0)
        status["publishAt"] = at.isoformat().replace("+00:00", "Z")
    return {"snippet": snippet, "status": status}


class YouTubeProvider:
    """Videos (and Shorts) uploaded to a YouTube channel."""

    name: ClassVar[str] = "youtube"
    display_name: ClassVar[str] = "YouTube"
    uses_pkce: ClassVar[bool] = True
    # `options.first_comment`, posted by T21 as a step of its own after the video is out
    # (commentThreads.insert, 50 units of the project's daily 10,000).
    supports_first_comment: ClassVar[bool] = True
    max_comment: ClassVar[int] = MAX_COMMENT
    scopes: ClassVar[tuple[str, ...]] = DEFAULT_SCOPES
    limits: ClassVar[PlatformLimits] = LIMITS
    options: ClassVar[type[BaseModel]] = YouTubeOptions
    # The videos.insert quota of T21's Google Cloud project: 100 uploads a day for every
    # channel together, the day starting at midnight Pacific time.
    publish_budget: ClassVar[Budget | None] = Budget(
        DAILY_UPLOADS,
        timedelta(days=1),
        shared=True,
        period_start=quota_day_start,
        reason=(
            f"T21's YouTube project has used today's upload quota ({DAILY_UPLOADS} uploads a "
            "day for all channels together); this upload waits for its reset at midnight "
            "Pacific time."
        ),
        code="youtube_quota_budget",
    )
    # videos.insert has no idempotency key: a doubtful upload is settled through its session.
    idempotency_window: ClassVar[timedelta | None] = None
    writing: ClassVar[Writing] = Writing(
        "YouTube description: the first two lines show above the fold, so say what the video "
        "is and why to watch; then chapters, links and a few hashtags.",
        800,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.pace = SANDBOX_PACE if config.sandbox else REAL_PACE

    @property
    def _upload_base(self) -> str:
        return self.config.upload_base or self.config.api_base

    # --- connecting ----------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        return google_oauth.authorization_url(
            self.config,
            self.config.requested_scopes(DEFAULT_SCOPES),
            state=state,
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        """One account per channel the sign-in reaches (a Google account may own several
        through brand accounts; Google asks which at consent)."""
        async with PlatformHttp(self.config) as http:
            grant = await google_oauth.exchange_code(
                http, self.config, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
            )
        missing = REQUIRED_SCOPES - grant.scopes
        if missing:
            raise ReauthRequired(
                "YouTube was connected without the permissions T21 needs to upload and to read "
                f"the channel ({', '.join(sorted(missing))}); connect again and allow them.",
                code="scope_missing",
            )
        async with PlatformHttp(self.config) as http:
            api = DataApi(http, self.config.api_base, grant.access_token)
            body = await api.get(
                "channels",
                {"part": "snippet", "mine": "true", "maxResults": PAGE},
                what="the channels",
            )
        channels = [item for item in body.get("items") or [] if isinstance(item, dict)]
        if not channels:
            raise Permanent(
                "This Google account has no YouTube channel: create one, then connect again.",
                code="no_channel",
            )
        capabilities = {
            "analytics": ANALYTICS in grant.scopes,
            "comments": COMMENTS in grant.scopes,
        }
        return [
            Connection(profile=_profile(item), grant=grant, capabilities=capabilities)
            for item in channels
        ]

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        async with PlatformHttp(self.config) as http:
            return await google_oauth.refresh(http, self.config, credentials.refresh_token)

    async def revoke(self, credentials: Credentials) -> bool:
        token = credentials.refresh_token or credentials.access_token
        async with PlatformHttp(self.config) as http:
            return await google_oauth.revoke(http, self.config, token)

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            api = DataApi(http, self.config.api_base, credentials.access_token)
            body = await api.get(
                "channels",
                {"part": "snippet", "id": credentials.external_id},
                what="the channel",
            )
        items = [item for item in body.get("items") or [] if isinstance(item, dict)]
        if not items:
            raise ReauthRequired("The YouTube channel is gone.", code="channel_gone")
        return _profile(items[0])

    # --- rules ---------------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        return LIMITS

    def check(self, request: PublishRequest) -> None:
        rules.check(request, parse_options(YouTubeOptions, request.options, "YouTube"))

    def comment_blocker(
        self, options: dict[str, Any], capabilities: dict[str, Any]
    ) -> Violation | None:
        """Why a target of these options, on an account that may do `capabilities`, can't
        have a first comment; None if it can."""
        return rules.comment_blocker(options, capabilities)

    # --- publishing ----------------------------------------------------------------------------

    async def publish(
        self, credentials: Credentials, request: PublishRequest
    ) -> Published | Continuing:
        """Open an upload session (one attempt), then send the file a slice per attempt, each
        resuming where YouTube says the upload stands; then the thumbnail, if there is one."""
        self.check(request)
        options = parse_options(YouTubeOptions, request.options, "YouTube")
        video = next(item for item in request.media if item.kind is MediaKind.VIDEO)
        thumbnail = next((item for item in request.media if item.kind is MediaKind.IMAGE), None)
        token = credentials.access_token
        session = request.progress.get("session")
        async with PlatformHttp(self.config) as http:
            if not isinstance(session, str):
                opened = await open_session(
                    http,
                    self._upload_base,
                    token,
                    video,
                    video_resource(request, options),
                    notify_subscribers=options.notify_subscribers,
                )
                return self._continuing(opened, 0, video.size)
            try:
                standing = await where(http, session, token, video.size)
                if isinstance(standing, int):
                    standing = await send_slice(http, session, token, video, standing, self.pace)
            except SessionGone:
                # Nothing of this session became a video; a new one starts from the top.
                return Continuing(0.0, {}, "YouTube's upload session ended; starting it again.")
            if isinstance(standing, int):
                return self._continuing(session, standing, video.size)
            if thumbnail is not None:
                await self._set_thumbnail(http, token, str(standing["id"]), thumbnail)
        return self._published(standing, video)

    @staticmethod
    def _continuing(session: str, offset: int, size: int) -> Continuing:
        done = int(100 * offset / size) if size else 0
        return Continuing(
            0.0,
            {"session": session, "offset": offset, "size": size},
            f"Uploading the video to YouTube ({done}% sent).",
        )

    def _published(self, resource: dict[str, Any], video: MediaItem) -> Published:
        video_id = str(resource["id"])
        snippet = resource.get("snippet") if isinstance(resource.get("snippet"), dict) else {}
        short = rules.is_short(video.width, video.height, video.duration_s)
        return Published(
            external_id=video_id,
            permalink=(SHORT if short else WATCH) + video_id,
            published_at=as_datetime((snippet or {}).get("publishedAt")),
        )

    async def _set_thumbnail(
        self, http: PlatformHttp, token: str, video_id: str, image: MediaItem
    ) -> None:
        """The video's custom thumbnail. The video is out whatever happens here, so a refusal
        (an unverified channel may not set one) is logged, not raised."""
        body = await image.read(0, image.size)  # at most 2 MB (rules.THUMBNAIL_MAX_BYTES)
        response = await http.request(
            "POST",
            f"{self._upload_base}/upload/youtube/v3/thumbnails/set",
            params={"videoId": video_id},
            content=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": image.content_type},
        )
        if response.status_code != 200:
            problem = failure(response, what="the custom thumbnail")
            log.warning("youtube thumbnail not set", video_id=video_id, error=problem.message)

    # --- first comment -------------------------------------------------------------------------

    async def publish_comment(self, credentials: Credentials, on: ReplyTo, text: str) -> Published:
        """`options.first_comment`: `POST /youtube/v3/commentThreads?part=snippet` with the
        channel, the video and `topLevelComment.snippet.textOriginal`, as the channel, after
        the video is out; T21 records it as a step of its own, so it goes out once and the
        video is never sent again for it. A grant without `youtube.force-ssl` (unticked at
        consent, or withdrawn since) is a refusal of the comment alone: the channel still
        uploads, so it is not marked as needing a new connection."""
        if COMMENTS not in credentials.scopes:
            raise Permanent(rules.COMMENT_SCOPE_MISSING, code="comment_scope_missing")
        resource = {
            "snippet": {
                "channelId": credentials.external_id,
                "videoId": on.parent_id,
                "topLevelComment": {"snippet": {"textOriginal": text}},
            }
        }
        async with PlatformHttp(self.config) as http:
            api = DataApi(http, self.config.api_base, credentials.access_token)
            response = await http.request(
                "POST",
                f"{api.base}/commentThreads",
                params={"part": "snippet"},
                json=resource,
                headers=api.headers,
                publishing=True,
            )
        if response.status_code == 403 and error_reason(response)[0] == "insufficientPermissions":
            raise Permanent(rules.COMMENT_SCOPE_MISSING, code="comment_scope_missing")
        created = DataApi.result(response, what="the first comment")
        comment_id = created.get("id")
        if not isinstance(comment_id, str) or not comment_id:
            raise Ambiguous("YouTube accepted the comment without naming it.", code="no_id")
        top = _comment_snippet(created)
        return Published(
            external_id=comment_id,
            permalink=f"{WATCH}{on.parent_id}&lc={comment_id}",
            published_at=as_datetime(top.get("publishedAt")) or clock.now(),
        )

    async def find_comments(
        self, credentials: Credentials, on: ReplyTo, *, since: datetime
    ) -> list[RecentPost]:
        """The channel's own top-level comments on the video since `since`, newest first
        (`commentThreads.list?videoId=&order=time`, one page of 100)."""
        async with PlatformHttp(self.config) as http:
            api = DataApi(http, self.config.api_base, credentials.access_token)
            body = await api.get(
                "commentThreads",
                {
                    "part": "snippet",
                    "videoId": on.parent_id,
                    "order": "time",
                    "textFormat": "plainText",
                    "maxResults": COMMENT_PAGE,
                },
                what="the video's comments",
            )
        found = []
        for item in body.get("items") or []:
            top = _comment_snippet(item)
            author = top.get("authorChannelId")
            author_id = author.get("value") if isinstance(author, dict) else None
            if author_id != credentials.external_id or not isinstance(item.get("id"), str):
                continue
            created = as_datetime(top.get("publishedAt"))
            if created is not None and created < since:
                continue
            text = top.get("textOriginal")
            found.append(
                RecentPost(
                    external_id=str(item["id"]),
                    text=text if isinstance(text, str) else None,
                    created_at=created,
                    reply_to=on.parent_id,
                )
            )
        return found

    # --- reading -------------------------------------------------------------------------------

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return None  # youtube.readonly is required at connection

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        """The channel's latest uploads (its uploads playlist, newest first); their text is
        the description, as T21 sent it."""
        async with PlatformHttp(self.config) as http:
            api = DataApi(http, self.config.api_base, credentials.access_token)
            channel = await api.get(
                "channels",
                {"part": "contentDetails", "id": credentials.external_id},
                what="the channel's uploads",
            )
            items = [item for item in channel.get("items") or [] if isinstance(item, dict)]
            details = items[0].get("contentDetails") if items else None
            playlists = details.get("relatedPlaylists") if isinstance(details, dict) else None
            uploads = playlists.get("uploads") if isinstance(playlists, dict) else None
            if not isinstance(uploads, str):
                raise Retryable("YouTube named no uploads playlist.", code="no_uploads")
            found: list[RecentPost] = []
            params: dict[str, Any] = {"part": "snippet", "playlistId": uploads}
            while len(found) < limit:
                params["maxResults"] = min(PAGE, limit - len(found))
                listed = await api.get("playlistItems", params, what="the channel's uploads")
                page = [_recent(item) for item in listed.get("items") or []]
                found += [post for post in page if post is not None]
                token = listed.get("nextPageToken")
                oldest = found[-1].created_at if found else None
                if not isinstance(token, str) or (oldest is not None and oldest < since):
                    break
                params["pageToken"] = token
        return found[:limit]

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        """Views, likes, comments and shares from the YouTube Analytics report where the
        channel granted the analytics scope; the Data API's statistics (views, likes,
        comments; 50 videos a call) for the videos the report has no row for yet, and for
        every video without the scope."""
        numbers: dict[str, PostMetrics | None] = dict.fromkeys(external_ids)
        async with PlatformHttp(self.config) as http:
            if ANALYTICS in credentials.scopes:
                numbers |= await self._reported(http, credentials, list(numbers))
            left = [video_id for video_id, found in numbers.items() if found is None]
            api = DataApi(http, self.config.api_base, credentials.access_token)
            for start in range(0, len(left), PAGE):
                batch = left[start : start + PAGE]
                body = await api.get(
                    "videos",
                    {"part": "statistics", "id": ",".join(batch)},
                    what="the videos' statistics",
                )
                for item in body.get("items") or []:
                    stats = item.get("statistics") if isinstance(item, dict) else None
                    if not isinstance(stats, dict) or item.get("id") not in numbers:
                        continue
                    numbers[str(item["id"])] = PostMetrics(
                        video_views=as_count(stats.get("viewCount")),
                        likes=as_count(stats.get("likeCount")),
                        comments=as_count(stats.get("commentCount")),
                    )
        return numbers

    async def _reported(
        self, http: PlatformHttp, credentials: Credentials, video_ids: list[str]
    ) -> dict[str, PostMetrics]:
        """The Analytics report's numbers; none when Google refuses it for the grant (the
        scope withdrawn since connecting): the statistics answer instead."""
        try:
            return await analytics.report(
                http,
                analytics.analytics_base(self.config),
                credentials.access_token,
                video_ids,
                clock.now().astimezone(PACIFIC).date(),
            )
        except ReauthRequired as refused:
            log.info("youtube analytics refused; reading statistics", error=refused.message)
            return {}


def _recent(item: Any) -> RecentPost | None:
    """One entry of the uploads playlist as a recent post (its text: the description)."""
    snippet = item.get("snippet") if isinstance(item, dict) else None
    if not isinstance(snippet, dict):
        return None
    resource = snippet.get("resourceId")
    video_id = resource.get("videoId") if isinstance(resource, dict) else None
    if not isinstance(video_id, str):
        return None
    created = as_datetime(snippet.get("publishedAt"))
    return RecentPost(video_id, snippet.get("description"), created, WATCH + video_id)


def _comment_snippet(thread: Any) -> dict[str, Any]:
    """A comment thread's top-level comment's snippet ({} when absent)."""
    snippet = thread.get("snippet") if isinstance(thread, dict) else None
    top = snippet.get("topLevelComment") if isinstance(snippet, dict) else None
    inner = top.get("snippet") if isinstance(top, dict) else None
    return inner if isinstance(inner, dict) else {}


def _profile(channel: dict[str, Any]) -> Profile:
    snippet = channel.get("snippet") if isinstance(channel.get("snippet"), dict) else {}
    snippet = snippet or {}
    thumbnails = snippet.get("thumbnails") if isinstance(snippet.get("thumbnails"), dict) else {}
    default = (thumbnails or {}).get("default")
    avatar = default.get("url") if isinstance(default, dict) else None
    handle = snippet.get("customUrl")
    return Profile(
        external_id=str(channel.get("id")),
        username=str(handle).lstrip("@") if isinstance(handle, str) and handle else None,
        display_name=snippet.get("title") or None,
        avatar_url=avatar if isinstance(avatar, str) else None,
    )
