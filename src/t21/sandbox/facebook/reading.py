"""What the Facebook fake answers about what was published: a Page's posts, posts and videos
as objects, and their insights (with the "no data yet" and "invalid metric" answers)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from t21.sandbox.facebook.state import (
    MIN_FANS_FOR_INSIGHTS,
    FacebookState,
    FakePost,
    FakeVideo,
    GraphError,
    answer,
    graph_time,
    grow_insights,
    no_object,
    pick,
    requested_fields,
    summary_edge,
    unix_time,
)

POST_METRICS = frozenset(
    {
        "post_total_media_view_unique",
        "post_media_view",
        "post_reactions_by_type_total",
        "post_clicks",
        "post_clicks_by_type",
    }
)
PAGE_METRICS = frozenset(
    {"page_total_media_view_unique", "page_media_view", "page_post_engagements", "page_follows",
     "page_daily_follows"}
)  # fmt: skip
# Videos answer total_video_views (https://developers.facebook.com/docs/video-api/guides/insights);
# reels answer the Reels metrics instead and refuse the video ones as invalid metrics (the docs
# document total_video_views for videos only, so the fake is strict).
VIDEO_METRICS = frozenset({"total_video_views", "total_video_views_unique"})
REEL_METRICS = frozenset({"blue_reels_play_count", "post_impressions_unique"})


class PageReading:
    def __init__(self, state: FacebookState) -> None:
        self.state = state

    async def posts(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        self.state.caller(request, params)
        page = self.state.pages.get(node)
        if page is None:
            raise no_object(node)
        since, until = unix_time(params.get("since")), unix_time(params.get("until"))
        limit = int(params.get("limit") or 25)
        found = [
            post
            for post in self.state.posts.values()
            if post.page_id == page.id
            and post.visible(time.time())
            and (since is None or post.created_time >= since)
            and (until is None or post.created_time <= until)
        ]
        found.sort(key=lambda post: post.created_time, reverse=True)
        fields = requested_fields(params, "created_time,message,id")
        data = [pick(self.post_fields(post), fields, "Post") for post in found[:limit]]
        return answer({"data": data})

    def post_fields(self, post: FakePost, fields: dict[str, str] | None = None) -> dict[str, Any]:
        fields = fields or {}
        grow_insights(self.state, post)
        reactions = sum(((post.insights or {}).get("post_reactions_by_type_total") or {}).values())
        return {
            "id": post.id,
            "message": post.message,
            "created_time": graph_time(post.created_time),
            "permalink_url": post.permalink_url,
            "link": post.link,
            "from": {"id": post.page_id, "name": self.state.pages[post.page_id].name},
            "comments": summary_edge(len(post.comments), fields.get("comments")),
            "reactions": summary_edge(reactions, fields.get("reactions")),
            "shares": {"count": post.shares} if post.shares else None,
        }

    def video_fields(self, video: FakeVideo, fields: dict[str, str]) -> dict[str, Any]:
        if "status" in fields:
            video.poll()
        return {
            "id": video.id,
            "description": video.description,
            "status": video.status(),
            "permalink_url": video.permalink_url,
            "post_id": video.post_id,
            "created_time": graph_time(video.published_at) if video.published_at else None,
            "comments": summary_edge(len(video.comments), fields.get("comments")),
            "likes": summary_edge(video.likes, fields.get("likes")),
        }

    async def insights(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        page_id = node if node in self.state.pages else self.state.owner(node)
        if page_id is None or (node not in self.state.pages and node not in self.state.posts):
            raise no_object(node)
        _token, page = self.state.page_caller(request, params, page_id, "read_insights")
        known = PAGE_METRICS if node in self.state.pages else POST_METRICS
        names = _metric_names(params, known)
        if page.fan_count < MIN_FANS_FOR_INSIGHTS:
            return answer({"data": []})  # Page Insights need 100 likes
        if node in self.state.pages:
            return answer({"data": [_insight(node, name, 0, "day") for name in names]})
        grow_insights(self.state, self.state.posts[node])
        values = self.state.posts[node].insights
        if values is None:
            return answer({"data": []})  # no data yet
        return answer({"data": [_insight(node, name, values.get(name, 0)) for name in names]})

    async def video_insights(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        video = self.state.videos.get(node)
        if video is None:
            raise no_object(node)
        self.state.page_caller(request, params, video.page_id, "read_insights")
        names = _metric_names(params, REEL_METRICS if video.kind == "reel" else VIDEO_METRICS)
        if video.views is None:
            return answer({"data": []})
        return answer({"data": [_insight(node, name, video.views) for name in names]})


def _metric_names(params: dict[str, Any], known: frozenset[str]) -> list[str]:
    raw = params.get("metric")
    names = [name.strip() for name in str(raw or "").split(",") if name.strip()]
    if not names:
        raise GraphError(
            "Invalid query",
            3001,
            subcode=1504028,
            user_title="No Metric Specified",
            user_msg="No metric was specified to be fetched. Please specify one or more "
            "metrics to be fetched and try again.",
        )
    if any(name not in known for name in names):
        # Also the answer for deprecated names (post_impressions, post_impressions_unique...).
        raise GraphError("(#100) The value must be a valid insights metric", 100)
    return names


def _insight(node: str, name: str, value: Any, period: str = "lifetime") -> dict[str, Any]:
    title = name.replace("_", " ").capitalize()
    return {
        "name": name,
        "period": period,
        "values": [{"value": value}],
        "title": title,
        "description": f"Lifetime: {title}.",
        "id": f"{node}/insights/{name}/{period}",
    }
