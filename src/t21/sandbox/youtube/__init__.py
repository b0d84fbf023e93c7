"""A fake of Google's OAuth and the YouTube Data API v3, strict like YouTube, so T21's adapter
runs against it unchanged:

- Google OAuth (`t21.sandbox.google_oauth`: `/o/oauth2/v2/auth`, `/token`, `/revoke`):
  consent at once for the sandbox's creator on the channel picked (`/_control/consent`), whose
  tokens belong to that channel; incremental and granular consent, offline refresh tokens.
- `GET /youtube/v3/channels` (`mine=true` or `id`), `playlistItems` (the uploads playlist,
  newest first), `videos` (`part=snippet,statistics`): need `youtube.readonly` (403
  insufficientPermissions otherwise); each call costs a unit of the project's quota.
- Resumable uploads: `POST /upload/youtube/v3/videos?uploadType=resumable` opens a session
  (one `videos.insert` call of the project's 100 a day) after checking the metadata as YouTube
  does (title 1-100 characters, description up to 5000 bytes, neither with < or >, tags up to
  500 characters counted with commas and quotes, a known category, privacy, publishAt only
  when private and in the future); chunk `PUT`s must start where the session stands and be
  multiples of 256 KiB but the last; 308 with `Range`, `bytes */N` asks; the last chunk makes
  the video (200). Every range received is recorded, and a range sent again is kept apart
  (`resent`), so a test proves no byte was sent twice. The send record (`/_control/sends`)
  holds the chunk that completes a file, the request that makes a video.
- `POST /upload/youtube/v3/thumbnails/set?videoId=`: JPEG or PNG up to 2 MB, 50 units; 403
  forbidden for a channel not verified.
- `POST /youtube/v3/commentThreads?part=snippet` (commentThreads.insert, 50 units): needs
  `youtube.force-ssl` (403 insufficientPermissions otherwise); `snippet.channelId` and
  `snippet.videoId` (400 channelOrVideoIdMissing), a known video (404 videoNotFound) of that
  channel (400 invalidCommentThreadMetadata), `topLevelComment.snippet.textOriginal` not blank
  (400 commentTextRequired) and at most 10,000 characters (400 commentTextTooLong); the
  comment is recorded as a send of kind "comment" and counted in the video's `commentCount`.
  `GET /youtube/v3/commentThreads?videoId=` lists a video's threads, newest first (1 unit).
- The quota: 10,000 units and 100 uploads a day; spent, any call answers 403 quotaExceeded.

`/_control` adds to the shared routes: `POST /consent` `{channel?, untick?: [scope]}`,
`POST /channels` `{title, handle?, verified?}` (another channel of the creator), `POST /quota`
`{units?, uploads?}`, `POST /chunk-faults` `{after, count?}` (chunk PUTs fail with 503 after
`after` more chunks), `GET /sessions`, `GET /videos`, `GET /comments` (every comment thread),
`POST /videos/{id}/statistics`,
`POST /videos/{id}/analytics` `{views?, likes?, comments?, shares?, estimatedMinutesWatched?,
…, reported?}` (the video's report numbers; `reported: false` leaves it out of reports, as
YouTube's data comes late).

- `GET /v2/reports` (the YouTube Analytics API's `reports.query`, served at the fake's root as
  at youtubeanalytics.googleapis.com): needs `yt-analytics.readonly` (or the monetary scope)
  and `youtube.readonly`, else 403 insufficientPermissions in Google's envelope; `ids`,
  `startDate`, `endDate` and `metrics` required; an unknown metric is refused (400 "Unknown
  identifier"); `dimensions` none or `video`, `filters` `video==id,…` (several ids only with the
  video dimension). Views, likes and comments are the video's statistics unless set.
"""

from __future__ import annotations

import json
import re
import time
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.google_oauth import google_oauth_routes
from t21.sandbox.oauth import ControlError, base_url, control_body, control_error, optional
from t21.sandbox.platform import FaultMiddleware, IssuedToken, bearer, control_routes
from t21.sandbox.youtube.state import (
    ANALYTICS_SCOPES,
    COMMENT_SCOPES,
    KNOWN_SCOPES,
    MAX_COMMENT,
    READ_SCOPES,
    REPORT_METRICS,
    WRITE_SCOPES,
    Session,
    YouTubeState,
    new_id,
)

UNIT = 256 * 1024
CATEGORIES = frozenset({"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26",
                        "27", "28", "29"})  # fmt: skip
PRIVACY = frozenset({"public", "private", "unlisted"})
CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+)$")
THUMB_TYPES = frozenset({"image/jpeg", "image/png"})


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason, self.message = status, reason, message


async def api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    domain = "youtube.quota" if exc.reason == "quotaExceeded" else "youtube.api"
    body = {
        "error": {
            "code": exc.status,
            "message": exc.message,
            "errors": [{"domain": domain, "reason": exc.reason, "message": exc.message}],
        }
    }
    return JSONResponse(body, status_code=exc.status)


def tags_length(tags: list[str]) -> int:
    """YouTube's count: each tag, quotes around one with a space, a comma between two."""
    total = 0
    for index, tag in enumerate(tags):
        total += len(tag) + (2 if " " in tag else 0) + (1 if index else 0)
    return total


def _routes(state: YouTubeState) -> list[Route]:
    def authorized(request: Request, scopes: frozenset[str], units: int) -> IssuedToken:
        token = state.token(bearer(request))
        if token is None:
            raise ApiError(401, "authError", "Invalid Credentials")
        if not token.scopes & scopes:
            raise ApiError(403, "insufficientPermissions", "Request had insufficient scopes.")
        if not state.spend(units):
            raise ApiError(
                403,
                "quotaExceeded",
                "The request cannot be completed because you have exceeded your quota.",
            )
        return token

    # --- reading -------------------------------------------------------------------------------

    def channel_resource(channel_id: str) -> dict[str, Any]:
        channel = state.channels[channel_id]
        return {
            "kind": "youtube#channel",
            "id": channel.id,
            "snippet": {
                "title": channel.title,
                "customUrl": channel.handle,
                "thumbnails": {"default": {"url": f"https://yt3.example/{channel.id}"}},
            },
            "contentDetails": {"relatedPlaylists": {"uploads": channel.uploads}},
        }

    async def channels(request: Request) -> Response:
        token = authorized(request, READ_SCOPES, 1)
        query = request.query_params
        if query.get("mine") == "true":
            ids = [token.account_id]
        elif query.get("id"):
            ids = [i for i in query["id"].split(",") if i in state.channels]
        else:
            raise ApiError(400, "missingRequiredParameter", "No filter selected.")
        return JSONResponse(
            {"kind": "youtube#channelListResponse", "items": [channel_resource(i) for i in ids]}
        )

    async def playlist_items(request: Request) -> Response:
        authorized(request, READ_SCOPES, 1)
        playlist = request.query_params.get("playlistId", "")
        channel = next((c for c in state.channels.values() if c.uploads == playlist), None)
        if channel is None:
            raise ApiError(404, "playlistNotFound", "The playlist cannot be found.")
        size = _page_size(request.query_params.get("maxResults"))
        items = []
        for video_id in reversed(channel.videos[-size:] if size else []):
            snippet = state.videos[video_id]["snippet"]
            items.append(
                {
                    "kind": "youtube#playlistItem",
                    "snippet": {
                        "publishedAt": snippet["publishedAt"],
                        "title": snippet["title"],
                        "description": snippet["description"],
                        "playlistId": playlist,
                        "resourceId": {"kind": "youtube#video", "videoId": video_id},
                    },
                }
            )
        return JSONResponse({"kind": "youtube#playlistItemListResponse", "items": items})

    async def videos(request: Request) -> Response:
        authorized(request, READ_SCOPES, 1)
        ids = [i for i in request.query_params.get("id", "").split(",") if i in state.videos]
        if len(ids) > 50:
            raise ApiError(400, "invalidValue", "At most 50 ids.")
        parts = set(request.query_params.get("part", "").split(","))
        items = [
            {"kind": "youtube#video", "id": i}
            | {part: state.videos[i][part] for part in parts if part in state.videos[i]}
            for i in ids
        ]
        return JSONResponse({"kind": "youtube#videoListResponse", "items": items})

    # --- analytics -----------------------------------------------------------------------------

    async def reports(request: Request) -> Response:
        """`reports.query` of the YouTube Analytics API, for a channel's own videos."""
        token = state.token(bearer(request))
        if token is None:
            raise ApiError(401, "authError", "Invalid Credentials")
        if not token.scopes & ANALYTICS_SCOPES or not token.scopes & READ_SCOPES:
            raise ApiError(403, "insufficientPermissions", "Request had insufficient scopes.")
        query = request.query_params
        for name in ("ids", "startDate", "endDate", "metrics"):
            if not query.get(name):
                raise ApiError(400, "required", f"Required parameter: {name}")
        if query["ids"] not in ("channel==MINE", f"channel=={token.account_id}"):
            raise ApiError(403, "forbidden", "Forbidden")
        start, end = _report_day(query["startDate"]), _report_day(query["endDate"])
        if start > end:
            raise ApiError(400, "badRequest", "The start date must not be after the end date.")
        metrics = query["metrics"].split(",")
        for metric in metrics:
            if metric not in REPORT_METRICS:
                raise ApiError(
                    400, "badRequest", f"Unknown identifier ({metric}) given in field "
                    "parameters.metrics.",
                )  # fmt: skip
        dimensions = [d for d in query.get("dimensions", "").split(",") if d]
        if dimensions not in ([], ["video"]):
            raise ApiError(400, "badRequest", "The query is not supported.")
        asked = _video_filter(query.get("filters", ""))
        if asked is not None and len(asked) > 1 and not dimensions:
            raise ApiError(400, "badRequest", "The query is not supported.")
        channel = state.channels[token.account_id]
        shown = [
            video_id
            for video_id in channel.videos
            if (asked is None or video_id in asked) and state.reported(video_id)
        ]
        headers = [{"name": "video", "columnType": "DIMENSION", "dataType": "STRING"}]
        headers = headers if dimensions else []
        headers += [
            {"name": m, "columnType": "METRIC", "dataType": REPORT_METRICS[m]} for m in metrics
        ]
        rows: list[list[Any]]
        if dimensions:
            rows = [[video_id, *state.report_row(video_id, metrics)] for video_id in shown]
        else:
            rows = [_summed([state.report_row(video_id, metrics) for video_id in shown])]
        body: dict[str, Any] = {"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers}
        if shown:
            body["rows"] = rows
        return JSONResponse(body)

    # --- uploading -----------------------------------------------------------------------------

    async def open_upload(request: Request) -> Response:
        query = request.query_params
        if query.get("uploadType") != "resumable":
            raise ApiError(400, "badRequest", "Only resumable uploads here.")
        raw = await request.body()
        token = authorized(request, WRITE_SCOPES, 0)
        if state.uploads_left <= 0:
            raise ApiError(
                403,
                "quotaExceeded",
                "The request cannot be completed because you have exceeded your quota.",
            )
        state.uploads_left -= 1
        size_header = request.headers.get("x-upload-content-length", "")
        kind = request.headers.get("x-upload-content-type", "")
        if not size_header.isdigit() or int(size_header) <= 0:
            raise ApiError(400, "badContent", "X-Upload-Content-Length is required.")
        if not (kind.startswith("video/") or kind == "application/octet-stream"):
            raise ApiError(400, "badContent", "Unsupported media type.")
        resource = _checked_resource(raw, query.get("part", ""))
        session = Session(
            id=new_id(32),
            channel=token.account_id,
            resource=resource,
            size=int(size_header),
            content_type=kind,
            created_at=time.time(),
        )
        state.sessions[session.id] = session
        location = (
            f"{base_url(request)}/upload/youtube/v3/videos?uploadType=resumable"
            f"&upload_id={session.id}"
        )
        return JSONResponse({}, headers={"Location": location})

    async def upload_chunk(request: Request) -> Response:
        session = state.sessions.get(request.query_params.get("upload_id", ""))
        if session is None:
            raise ApiError(404, "notFound", "The upload session doesn't exist.")
        if state.token(bearer(request)) is None:
            raise ApiError(401, "authError", "Invalid Credentials")
        match = CONTENT_RANGE.match(request.headers.get("content-range", ""))
        body = await request.body()
        if match is None or int(match.group(3)) != session.size:
            raise ApiError(400, "badContent", "Content-Range is missing or wrong.")
        if session.video is not None:
            return JSONResponse(state.videos[session.video], status_code=200)
        if match.group(1) is None:
            return _incomplete(session)
        start, end = int(match.group(1)), int(match.group(2))
        if len(body) != end - start + 1:
            raise ApiError(400, "badContent", "The body doesn't match Content-Range.")
        if start < session.received:
            session.resent.append((start, end))
            raise ApiError(400, "badContent", "These bytes were already received.")
        if start > session.received:
            raise ApiError(400, "badContent", "The chunk doesn't start where the upload stands.")
        if end + 1 < session.size and len(body) % UNIT:
            raise ApiError(400, "badContent", "Chunks are multiples of 256 KiB but the last.")
        if end + 1 == session.size:
            # The chunk that makes the video is the send that publishes: a session opened and
            # never finished makes nothing, so opening one is not a send.
            snippet = session.resource.get("snippet") or {}
            state.received_send(account=session.channel, text=snippet.get("description"))
        if state.chunks_before_fault is not None:
            if state.chunks_before_fault <= 0 and state.chunk_faults > 0:
                state.chunk_faults -= 1
                return JSONResponse({"error": {"code": 503, "message": "Backend Error"}}, 503)
            state.chunks_before_fault -= 1
        session.received = end + 1
        session.ranges.append((start, end))
        if session.received < session.size:
            return _incomplete(session)
        return JSONResponse(_make_video(session), status_code=200)

    def _make_video(session: Session) -> dict[str, Any]:
        video_id = new_id(11)
        snippet = dict(session.resource.get("snippet") or {})
        snippet |= {"publishedAt": _now_rfc3339(), "channelId": session.channel}
        snippet.setdefault("description", "")
        video = {
            "kind": "youtube#video",
            "id": video_id,
            "snippet": snippet,
            "status": {"uploadStatus": "uploaded", **(session.resource.get("status") or {})},
            "statistics": {"viewCount": "0", "likeCount": "0", "commentCount": "0"},
        }
        state.videos[video_id] = video
        state.channels[session.channel].videos.append(video_id)
        session.video = video_id
        state.record_publication(id=video_id, account=session.channel, text=snippet["description"])
        return video

    async def set_thumbnail(request: Request) -> Response:
        token = authorized(request, WRITE_SCOPES, 50)
        video = state.videos.get(request.query_params.get("videoId", ""))
        if video is None or video["snippet"]["channelId"] != token.account_id:
            raise ApiError(404, "videoNotFound", "The video cannot be found.")
        body = await request.body()
        if request.headers.get("content-type", "") not in THUMB_TYPES:
            raise ApiError(400, "invalidImage", "The image isn't JPEG or PNG.")
        if len(body) > 2 * 1024 * 1024:
            raise ApiError(413, "mediaBodyTooLarge", "The image is over 2 MB.")
        if not state.channels[token.account_id].verified:
            raise ApiError(403, "forbidden", "The channel may not set custom thumbnails.")
        video["snippet"]["thumbnails"] = {
            "default": {"url": f"https://i.ytimg.example/{video['id']}"}
        }
        return JSONResponse(
            {"kind": "youtube#thumbnailSetResponse", "items": [video["snippet"]["thumbnails"]]}
        )

    # --- comments ------------------------------------------------------------------------------

    async def insert_comment_thread(request: Request) -> Response:
        """commentThreads.insert: a top-level comment on a video, as the token's channel."""
        raw = await request.body()
        if request.query_params.get("part") != "snippet":
            raise ApiError(400, "invalidPart", "The part parameter must be snippet.")
        token = authorized(request, COMMENT_SCOPES, 50)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(400, "parseError", "The body isn't JSON.") from None
        snippet = body.get("snippet") if isinstance(body, dict) else None
        if not isinstance(snippet, dict):
            raise ApiError(400, "invalidCommentThreadMetadata", "The snippet is missing.")
        video_id, channel_id = snippet.get("videoId"), snippet.get("channelId")
        if not isinstance(video_id, str) or not video_id or not isinstance(channel_id, str):
            raise ApiError(
                400, "channelOrVideoIdMissing", "The comment thread must name a channel and video."
            )
        video = state.videos.get(video_id)
        if video is None:
            raise ApiError(404, "videoNotFound", "The video cannot be found.")
        if video["snippet"]["channelId"] != channel_id:
            raise ApiError(400, "invalidCommentThreadMetadata", "The video isn't that channel's.")
        top = snippet.get("topLevelComment")
        inner = top.get("snippet") if isinstance(top, dict) else None
        text = inner.get("textOriginal") if isinstance(inner, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "commentTextRequired", "The comment must have text.")
        if len(text) > MAX_COMMENT:
            raise ApiError(400, "commentTextTooLong", "The comment's text is too long.")
        state.received_send(account=token.account_id, text=text, reply_to=video_id, kind="comment")
        thread_id = new_id(26, "Ug")
        author = state.channels[token.account_id]
        thread = {
            "kind": "youtube#commentThread",
            "id": thread_id,
            "snippet": {
                "channelId": channel_id,
                "videoId": video_id,
                "canReply": True,
                "totalReplyCount": 0,
                "isPublic": True,
                "topLevelComment": {
                    "kind": "youtube#comment",
                    "id": thread_id,
                    "snippet": {
                        "channelId": channel_id,
                        "videoId": video_id,
                        "textDisplay": text,
                        "textOriginal": text,
                        "authorDisplayName": author.handle,
                        "authorChannelId": {"value": author.id},
                        "likeCount": 0,
                        "publishedAt": _now_rfc3339(),
                        "updatedAt": _now_rfc3339(),
                    },
                },
            },
        }
        state.comments.setdefault(video_id, []).append(thread)
        statistics = video["statistics"]
        statistics["commentCount"] = str(int(statistics.get("commentCount", "0")) + 1)
        return JSONResponse(thread)

    async def list_comment_threads(request: Request) -> Response:
        """commentThreads.list by `videoId`, newest first (`order=time`, the default)."""
        authorized(request, READ_SCOPES, 1)
        query = request.query_params
        video_id = query.get("videoId")
        if not video_id:
            raise ApiError(400, "missingRequiredParameter", "No filter selected.")
        if video_id not in state.videos:
            raise ApiError(404, "videoNotFound", "The video cannot be found.")
        size = query.get("maxResults", "20")
        if not size.isdigit() or not 1 <= int(size) <= 100:
            raise ApiError(400, "invalidValue", "maxResults must be 1-100.")
        threads = list(reversed(state.comments.get(video_id, [])))[: int(size)]
        return JSONResponse({"kind": "youtube#commentThreadListResponse", "items": threads})

    # --- control -------------------------------------------------------------------------------

    async def consent(request: Request) -> Response:
        body = await control_body(request)
        channel = optional(body, "channel", str)
        untick = optional(body, "untick", list) or []
        if channel is not None:
            user = state.user_of(channel)
            if user is None:
                raise ControlError("No such channel.", 404)
            user.channels.remove(channel)
            user.channels.insert(0, channel)
            state.next_user = user.email
        state.untick = {str(scope) for scope in untick}
        return JSONResponse({"untick": sorted(state.untick)})

    async def add_channel(request: Request) -> Response:
        body = await control_body(request)
        title = optional(body, "title", str) or "Another channel"
        handle = optional(body, "handle", str) or "@" + new_id(8).lower()
        email = optional(body, "email", str)
        user = state.users.get(email) if email else None
        if user is None:
            user = state.add_user(email, [(title, handle)]) if email else None
        if user is None:
            user = next(iter(state.users.values()))
            made = state.add_user("_", [(title, handle)])
            state.users.pop("_")
            user.channels += made.channels
        channel = state.channels[user.channels[-1]]
        channel.verified = optional(body, "verified", bool) is not False
        return JSONResponse({"id": channel.id, "handle": channel.handle})

    async def quota(request: Request) -> Response:
        body = await control_body(request)
        units, uploads = optional(body, "units", int), optional(body, "uploads", int)
        if units is not None:
            state.units_left = units
        if uploads is not None:
            state.uploads_left = uploads
        return JSONResponse({"units": state.units_left, "uploads": state.uploads_left})

    async def chunk_faults(request: Request) -> Response:
        body = await control_body(request)
        state.chunks_before_fault = optional(body, "after", int)
        state.chunk_faults = optional(body, "count", int) or 1
        return JSONResponse({"after": state.chunks_before_fault})

    async def sessions(_request: Request) -> Response:
        return JSONResponse(
            {
                "sessions": [
                    {
                        "id": s.id,
                        "channel": s.channel,
                        "size": s.size,
                        "received": s.received,
                        "ranges": s.ranges,
                        "resent": s.resent,
                        "video": s.video,
                    }
                    for s in state.sessions.values()
                ]
            }
        )

    async def list_videos(_request: Request) -> Response:
        return JSONResponse({"videos": list(state.videos.values())})

    async def list_comments(_request: Request) -> Response:
        return JSONResponse(
            {"comments": [thread for threads in state.comments.values() for thread in threads]}
        )

    async def set_statistics(request: Request) -> Response:
        video = state.videos.get(request.path_params["video"])
        if video is None:
            raise ControlError("No such video.", 404)
        body = await control_body(request)
        for name in ("viewCount", "likeCount", "commentCount"):
            value = optional(body, name, int)
            if value is not None:
                video["statistics"][name] = str(value)
        return JSONResponse(video["statistics"])

    async def set_analytics(request: Request) -> Response:
        video = state.videos.get(request.path_params["video"])
        if video is None:
            raise ControlError("No such video.", 404)
        body = await control_body(request)
        numbers = state.analytics.setdefault(video["id"], {})
        for name in REPORT_METRICS:
            value = body.get(name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ControlError(f"`{name}` must be a number, 0 or more.")
                numbers[name] = value
        reported = optional(body, "reported", bool)
        if reported is True:
            state.unreported.discard(video["id"])
        elif reported is False:
            state.unreported.add(video["id"])
        return JSONResponse({"video": video["id"], "analytics": numbers, "reported": reported})

    return [
        Route("/v2/reports", reports, methods=["GET"]),
        Route("/_control/videos/{video}/analytics", set_analytics, methods=["POST"]),
        Route("/youtube/v3/channels", channels, methods=["GET"]),
        Route("/youtube/v3/playlistItems", playlist_items, methods=["GET"]),
        Route("/youtube/v3/videos", videos, methods=["GET"]),
        Route("/upload/youtube/v3/videos", open_upload, methods=["POST"]),
        Route("/upload/youtube/v3/videos", upload_chunk, methods=["PUT"]),
        Route("/upload/youtube/v3/thumbnails/set", set_thumbnail, methods=["POST"]),
        Route("/youtube/v3/commentThreads", insert_comment_thread, methods=["POST"]),
        Route("/youtube/v3/commentThreads", list_comment_threads, methods=["GET"]),
        Route("/_control/consent", consent, methods=["POST"]),
        Route("/_control/channels", add_channel, methods=["POST"]),
        Route("/_control/quota", quota, methods=["POST"]),
        Route("/_control/chunk-faults", chunk_faults, methods=["POST"]),
        Route("/_control/sessions", sessions, methods=["GET"]),
        Route("/_control/videos", list_videos, methods=["GET"]),
        Route("/_control/comments", list_comments, methods=["GET"]),
        Route("/_control/videos/{video}/statistics", set_statistics, methods=["POST"]),
    ]


def _report_day(value: str) -> date:
    try:
        return date.fromisoformat(value) if len(value) == 10 else _bad_day(value)
    except ValueError:
        return _bad_day(value)


def _bad_day(value: str) -> date:
    raise ApiError(400, "invalidValue", f"Invalid value '{value}'. Dates are YYYY-MM-DD.")


def _video_filter(filters: str) -> set[str] | None:
    """The ids of a `video==a,b` filter; None without one. Other filters aren't served."""
    if not filters:
        return None
    name, _, values = filters.partition("==")
    if name != "video" or not values or ";" in values:
        raise ApiError(400, "badRequest", "The query is not supported.")
    return set(values.split(","))


def _summed(rows: list[list[float]]) -> list[float]:
    return [sum(column) for column in zip(*rows, strict=True)] if rows else []


def _incomplete(session: Session) -> Response:
    headers = {"Range": f"bytes=0-{session.received - 1}"} if session.received else {}
    return Response(status_code=308, headers=headers)


def _page_size(value: str | None) -> int:
    if value is None:
        return 5
    if not value.isdigit() or not 0 <= int(value) <= 50:
        raise ApiError(400, "invalidValue", "maxResults must be 0-50.")
    return int(value)


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _checked_resource(raw: bytes, part: str) -> dict[str, Any]:
    """The video resource of a new upload, refused as YouTube refuses it."""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "parseError", "The body isn't JSON.") from None
    parts = set(part.split(",")) if part else set()
    if not isinstance(body, dict) or "snippet" not in parts:
        raise ApiError(400, "invalidVideoMetadata", "The snippet part is required.")
    snippet, status = body.get("snippet"), body.get("status") or {}
    if not isinstance(snippet, dict) or not isinstance(status, dict):
        raise ApiError(400, "invalidVideoMetadata", "snippet and status are objects.")
    title, description = snippet.get("title"), snippet.get("description", "")
    if not isinstance(title, str) or not title.strip() or len(title) > 100:
        raise ApiError(400, "invalidTitle", "The video's title is empty or too long.")
    if not isinstance(description, str) or len(description.encode()) > 5000:
        raise ApiError(400, "invalidDescription", "The video's description is too long.")
    if any(mark in title + description for mark in "<>"):
        raise ApiError(
            400,
            "invalidTitle" if "<" in title or ">" in title else "invalidDescription",
            "< and > are not allowed.",
        )
    tags = snippet.get("tags", [])
    if (
        not isinstance(tags, list)
        or not all(isinstance(t, str) for t in tags)
        or (tags_length(tags) > 500)
    ):
        raise ApiError(400, "invalidTags", "The video's tags are too long.")
    if "categoryId" in snippet and snippet["categoryId"] not in CATEGORIES:
        raise ApiError(400, "invalidCategoryId", "The category doesn't exist.")
    privacy = status.get("privacyStatus", "public")
    if privacy not in PRIVACY:
        raise ApiError(400, "invalidVideoMetadata", "Unknown privacyStatus.")
    if "publishAt" in status:
        if privacy != "private":
            raise ApiError(400, "invalidPublishAt", "publishAt needs a private video.")
        if not isinstance(status["publishAt"], str) or status["publishAt"] <= _now_rfc3339():
            raise ApiError(400, "invalidPublishAt", "publishAt must be in the future.")
    made = status.get("selfDeclaredMadeForKids")
    if made is not None and not isinstance(made, bool):
        raise ApiError(400, "invalidVideoMetadata", "selfDeclaredMadeForKids is a boolean.")
    return {"snippet": snippet, "status": status}


def create_youtube_app(state: YouTubeState | None = None) -> Starlette:
    """The YouTube fake as an ASGI app, served at a root or mounted (at `/youtube`)."""
    state = state or YouTubeState()
    app = Starlette(
        routes=[
            *google_oauth_routes(state, known_scopes=KNOWN_SCOPES, person=state.consenting),
            *_routes(state),
            *control_routes(state, state.forget),
        ],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={ApiError: api_error, ControlError: control_error},
    )
    app.state.youtube = state
    return app
