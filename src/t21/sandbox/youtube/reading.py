"""Reading a channel and its videos: `GET /youtube/v3/channels` (`mine=true` or `id`),
`playlistItems` (the uploads playlist, newest first) and `videos` (`part=snippet,statistics`),
a unit of quota each."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.youtube.state import READ_SCOPES, YouTubeState
from t21.sandbox.youtube.wire import ApiError, authorized


def reading_routes(state: YouTubeState) -> list[Route]:
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
        token = authorized(state, request, READ_SCOPES, 1)
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
        authorized(state, request, READ_SCOPES, 1)
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
        authorized(state, request, READ_SCOPES, 1)
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

    return [
        Route("/youtube/v3/channels", channels, methods=["GET"]),
        Route("/youtube/v3/playlistItems", playlist_items, methods=["GET"]),
        Route("/youtube/v3/videos", videos, methods=["GET"]),
    ]


def _page_size(value: str | None) -> int:
    if value is None:
        return 5
    if not value.isdigit() or not 0 <= int(value) <= 50:
        raise ApiError(400, "invalidValue", "maxResults must be 0-50.")
    return int(value)
