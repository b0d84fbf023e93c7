"""Display API: the user's posts (video/list) and chosen posts with their numbers
(video/query), plus a stand-in public page for the sandbox's permalinks."""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import base_url
from t21.sandbox.tiktok.common import (
    authorized,
    int_field,
    invalid_params,
    json_object,
    ok,
    requested_fields,
)
from t21.sandbox.tiktok.state import TikTokState, Video

VIDEO_FIELDS = {
    "id", "create_time", "cover_image_url", "share_url", "video_description", "duration",
    "height", "width", "title", "embed_html", "embed_link",
    "like_count", "comment_count", "share_count", "view_count",
}  # fmt: skip
MAX_COUNT = 20
MAX_IDS = 20


def video_routes(state: TikTokState) -> list[Route]:
    def shown(video: Video, names: list[str], request: Request) -> dict[str, Any]:
        state.grow(
            video.counts,
            post_key=video.id,
            published_at=video.create_ms / 1000,
            names=list(video.counts),
        )
        link = f"{base_url(request)}/@{state.creator.username}/video/{video.id}"
        values: dict[str, Any] = {
            "id": video.id,
            "create_time": video.create_ms // 1000,
            "cover_image_url": f"{link}/cover.jpeg",
            "share_url": f"{link}?utm_campaign=tt4d_open_api&utm_source=sandbox",
            "video_description": video.description or video.title,
            "duration": 12 if video.kind == "video" else 0,
            "height": 1920,
            "width": 1080,
            "title": video.title or video.description,
            "embed_html": f'<blockquote class="tiktok-embed" cite="{link}"></blockquote>',
            "embed_link": f"{link}/embed",
            **video.counts,
        }
        return {name: values[name] for name in names}

    async def video_list(request: Request) -> Response:
        token = authorized(state, request, "video.list")
        names = requested_fields(request, VIDEO_FIELDS)
        body = await json_object(request)
        count = int_field(body, "max_count", required=False) or MAX_COUNT
        if count > MAX_COUNT:
            raise invalid_params(f"max_count must be at most {MAX_COUNT}.")
        cursor = int_field(body, "cursor", required=False)  # Unix ms: posts before it
        mine = [video for video in reversed(state.videos) if video.open_id == token.account_id]
        if cursor:
            mine = [video for video in mine if video.create_ms < cursor]
        page = mine[:count]
        return ok(
            {
                "videos": [shown(video, names, request) for video in page],
                "cursor": page[-1].create_ms if page else (cursor or 0),
                "has_more": len(mine) > count,
            }
        )

    async def video_query(request: Request) -> Response:
        token = authorized(state, request, "video.list")
        names = requested_fields(request, VIDEO_FIELDS)
        filters = (await json_object(request)).get("filters")
        ids = filters.get("video_ids") if isinstance(filters, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_IDS:
            raise invalid_params(f"filters.video_ids must hold 1 to {MAX_IDS} ids.")
        found = [state.video(str(video_id)) for video_id in ids]
        videos = [v for v in found if v is not None and v.open_id == token.account_id]
        return ok(
            {
                "videos": [shown(video, names, request) for video in videos],
                "cursor": 0,
                "has_more": False,
            }
        )

    async def post_page(request: Request) -> Response:
        video = state.video(request.path_params["video_id"])
        if video is None or request.path_params["username"] != state.creator.username:
            return HTMLResponse("<!doctype html><title>TikTok</title><p>Video not found", 404)
        title = html.escape(video.title or video.description or "TikTok video")
        return HTMLResponse(f"<!doctype html><title>{title}</title><h1>{title}</h1>")

    return [
        Route("/v2/video/list/", video_list, methods=["POST"]),
        Route("/v2/video/query/", video_query, methods=["POST"]),
        Route("/@{username}/video/{video_id}", post_page, methods=["GET"]),
    ]
