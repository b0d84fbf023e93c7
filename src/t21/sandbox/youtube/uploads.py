"""Resumable uploads and thumbnails: `POST /upload/youtube/v3/videos?uploadType=resumable`
opens a session once the metadata passes YouTube's checks, chunk `PUT`s bring the bytes (every
range recorded, a range sent again kept apart) and the last one makes the video;
`POST /upload/youtube/v3/thumbnails/set` sets a verified channel's custom thumbnail."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import base_url
from t21.sandbox.platform import bearer
from t21.sandbox.youtube.state import WRITE_SCOPES, Session, YouTubeState, new_id
from t21.sandbox.youtube.wire import ApiError, authorized, now_rfc3339, quota_exceeded

UNIT = 256 * 1024
CATEGORIES = frozenset({"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26",
                        "27", "28", "29"})  # fmt: skip
PRIVACY = frozenset({"public", "private", "unlisted"})
CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+)$")
THUMB_TYPES = frozenset({"image/jpeg", "image/png"})


def tags_length(tags: list[str]) -> int:
    """YouTube's count: each tag, quotes around one with a space, a comma between two."""
    total = 0
    for index, tag in enumerate(tags):
        total += len(tag) + (2 if " " in tag else 0) + (1 if index else 0)
    return total


def upload_routes(state: YouTubeState) -> list[Route]:
    async def open_upload(request: Request) -> Response:
        query = request.query_params
        if query.get("uploadType") != "resumable":
            raise ApiError(400, "badRequest", "Only resumable uploads here.")
        raw = await request.body()
        token = authorized(state, request, WRITE_SCOPES, 0)
        if state.uploads_left <= 0:
            raise quota_exceeded()
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
        snippet |= {"publishedAt": now_rfc3339(), "channelId": session.channel}
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
        token = authorized(state, request, WRITE_SCOPES, 50)
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

    return [
        Route("/upload/youtube/v3/videos", open_upload, methods=["POST"]),
        Route("/upload/youtube/v3/videos", upload_chunk, methods=["PUT"]),
        Route("/upload/youtube/v3/thumbnails/set", set_thumbnail, methods=["POST"]),
    ]


def _incomplete(session: Session) -> Response:
    headers = {"Range": f"bytes=0-{session.received - 1}"} if session.received else {}
    return Response(status_code=308, headers=headers)


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
        if not isinstance(status["publishAt"], str) or status["publishAt"] <= now_rfc3339():
            raise ApiError(400, "invalidPublishAt", "publishAt must be in the future.")
    made = status.get("selfDeclaredMadeForKids")
    if made is not None and not isinstance(made, bool):
        raise ApiError(400, "invalidVideoMetadata", "selfDeclaredMadeForKids is a boolean.")
    return {"snippet": snippet, "status": status}
