"""Comment threads: `POST /youtube/v3/commentThreads?part=snippet` (commentThreads.insert, 50
units, `youtube.force-ssl` only), recorded as a send of kind "comment" and counted in the video's
`commentCount`; `GET /youtube/v3/commentThreads?videoId=` lists a video's, newest first."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.youtube.state import COMMENT_SCOPES, MAX_COMMENT, READ_SCOPES, YouTubeState, new_id
from t21.sandbox.youtube.wire import ApiError, authorized, now_rfc3339


def comment_routes(state: YouTubeState) -> list[Route]:
    async def insert_comment_thread(request: Request) -> Response:
        """commentThreads.insert: a top-level comment on a video, as the token's channel."""
        raw = await request.body()
        if request.query_params.get("part") != "snippet":
            raise ApiError(400, "invalidPart", "The part parameter must be snippet.")
        token = authorized(state, request, COMMENT_SCOPES, 50)
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
                        "publishedAt": now_rfc3339(),
                        "updatedAt": now_rfc3339(),
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
        authorized(state, request, READ_SCOPES, 1)
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

    return [
        Route("/youtube/v3/commentThreads", insert_comment_thread, methods=["POST"]),
        Route("/youtube/v3/commentThreads", list_comment_threads, methods=["GET"]),
    ]
