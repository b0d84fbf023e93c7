"""The fake's `graph.instagram.com`: token exchange and refresh, `/me`, nodes, media containers,
`media_publish`, the publishing quota, media lists, insights and comments. Any `/vNN.N/` prefix
(or none) is accepted; parameters come from the query (or a form), never a JSON body, and the
token from the `access_token` parameter, as Instagram's reference shows every call
(https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media).
Every answer carries `x-app-usage`."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from starlette.requests import Request

from t21.sandbox.instagram.containers import MAX_CAPTION, Containers
from t21.sandbox.instagram.state import (
    BASIC,
    COMMENTS,
    INSIGHTS,
    Comment,
    InstagramState,
    Media,
    default_values,
)
from t21.sandbox.instagram.wire import account_of, list_param, media_of, permalink, require
from t21.sandbox.meta.host import GraphHost
from t21.sandbox.meta.state import QUOTA_WINDOW_S, now
from t21.sandbox.meta.wire import GraphError, Params, graph_time, int_param, pick
from t21.sandbox.oauth import base_url
from t21.sandbox.platform import IssuedToken

FEED_METRICS = frozenset(
    {"views", "reach", "saved", "likes", "comments", "shares", "total_interactions", "follows",
     "profile_visits", "profile_activity"}
)  # fmt: skip
REELS_METRICS = frozenset(
    {"views", "reach", "saved", "likes", "comments", "shares", "total_interactions",
     "ig_reels_avg_watch_time", "ig_reels_video_view_total_time"}
)  # fmt: skip
STORY_METRICS = frozenset(
    {"views", "reach", "shares", "total_interactions", "replies", "navigation", "follows",
     "profile_visits", "profile_activity"}
)  # fmt: skip
METRICS = {"FEED": FEED_METRICS, "REELS": REELS_METRICS, "STORY": STORY_METRICS}


class GraphApi(GraphHost):
    grant_prefix: ClassVar[str] = "ig"
    error_kind: ClassVar[str] = "IGApiException"

    def __init__(self, state: InstagramState) -> None:
        super().__init__(state)
        self.state: InstagramState = state
        containers = Containers(state)
        self.edges = {
            ("POST", "media"): containers.create,
            ("GET", "media"): self.list_media,
            ("GET", "stories"): self.list_stories,
            ("POST", "media_publish"): containers.publish,
            ("GET", "content_publishing_limit"): containers.publishing_limit,
            ("GET", "insights"): self.insights,
            ("POST", "comments"): self.comment,
            ("GET", "comments"): self.comments,
        }

    def headers(self) -> dict[str, str]:
        usage = self.state.app_usage(now())
        usage_header = {"call_count": usage, "total_cputime": usage, "total_time": usage}
        return {"x-app-usage": json.dumps(usage_header)}

    # --- nodes ---------------------------------------------------------------------------

    def node(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        require(token, BASIC)
        fields = params.get("fields")
        container = self.state.containers.get(node_id)
        if container is not None and container.owner == token.account_id:
            moment = now()
            status = {
                "id": container.id,
                "status_code": container.status_code(moment),
                "status": container.status_text(moment),
            }
            if container.polls_left > 0:
                container.polls_left -= 1
            return pick(status, fields, "ShadowIGMediaBuilder")
        if node_id in self.state.media:
            return self.media_fields(request, media_of(self.state, token, node_id), fields)
        account = account_of(self.state, token, node_id)
        own = sum(1 for m in self.state.media.values() if m.owner == account.user_id)
        user: dict[str, Any] = {
            "id": account.app_scoped_id if node_id == "me" else account.user_id,
            "user_id": account.user_id,
            "username": account.username,
            "name": account.name,
            "account_type": account.account_type,
            "profile_picture_url": f"{base_url(request)}/profile_pictures/{account.user_id}.png",
            "followers_count": account.followers_count,
            "follows_count": 0,
            "media_count": own,
        }
        return pick(user, fields, "User")

    def media_fields(self, request: Request, media: Media, fields: Any) -> dict[str, Any]:
        account = self.state.accounts[media.owner]
        values = media.values or default_values(media.id)
        available = {
            "id": media.id,
            "caption": media.caption,
            "media_type": media.media_type,
            "media_product_type": media.product_type,
            "media_url": media.media_url,
            "permalink": permalink(base_url(request), media, account),
            "shortcode": media.shortcode,
            "timestamp": graph_time(media.timestamp),
            "username": account.username,
            "like_count": values.get("likes", 0),
            "comments_count": len(media.comments),
        }
        return pick(available, fields, "Media")

    # --- containers and publishing --------------------------------------------------------

    async def list_media(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        return self.media_page(request, token, node_id, params, stories=False)

    async def list_stories(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        return self.media_page(request, token, node_id, params, stories=True)

    def media_page(
        self, request: Request, token: IssuedToken, node_id: str, params: Params, *, stories: bool
    ) -> dict[str, Any]:
        account = account_of(self.state, token, node_id)
        require(token, BASIC)
        moment = now()
        since, until = int_param(params, "since"), int_param(params, "until")
        limit = max(1, min(100, int_param(params, "limit") or 25))
        items = sorted(
            (
                m
                for m in self.state.media.values()
                if m.owner == account.user_id
                and (m.product_type == "STORY") == stories
                and (not stories or moment - m.timestamp < QUOTA_WINDOW_S)
                and (since is None or m.timestamp >= since)
                and (until is None or m.timestamp <= until)
            ),
            key=lambda m: (m.timestamp, m.id),
            reverse=True,
        )
        after = params.get("after")
        if after:
            ids = [m.id for m in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        page = items[:limit]
        data = [self.media_fields(request, m, params.get("fields")) for m in page]
        body: dict[str, Any] = {"data": data}
        if page:
            body["paging"] = {"cursors": {"before": page[0].id, "after": page[-1].id}}
        return body

    async def insights(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        media = media_of(self.state, token, node_id)
        require(token, INSIGHTS)
        names = list_param(params.get("metric"))
        if not names:
            raise GraphError(100, "(#100) The parameter metric is required")
        allowed = METRICS[media.product_type]
        for index, name in enumerate(names):
            if name not in FEED_METRICS | REELS_METRICS | STORY_METRICS:
                # Deprecated names (impressions, plays, video_views...) end up here too.
                raise GraphError(
                    100,
                    f"(#100) metric[{index}] must be one of the following values: "
                    f"{', '.join(sorted(allowed))}",
                )
            if name not in allowed:
                raise GraphError(
                    100,
                    f"(#100) The Media Insights API does not support the {name} metric for "
                    "this media product type.",
                )
        if media.insights == "not_enough_viewers":
            raise GraphError(
                10,
                "(#10) Not enough viewers for the media to show insights",
                user_title="Not enough viewers",
                user_msg="Insights are shown once enough people have seen the media.",
            )
        if media.insights == "empty":
            return {"data": []}
        values = media.values or default_values(media.id)
        return {
            "data": [
                {
                    "name": name,
                    "period": "lifetime",
                    "values": [{"value": values.get(name, 0)}],
                    "title": name.replace("_", " ").capitalize(),
                    "description": f"The {name.replace('_', ' ')} of this media.",
                    "id": f"{media.id}/insights/{name}/lifetime",
                }
                for name in names
            ]
        }

    async def comment(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        media = media_of(self.state, token, node_id, "POST")
        require(token, COMMENTS)
        message = params.get("message")
        self.state.received_send(
            account=media.owner, text=message, reply_to=node_id, kind="comment"
        )
        if not isinstance(message, str) or not message.strip():
            raise GraphError(100, "(#100) The parameter message is required")
        if media.product_type == "STORY":
            raise GraphError(100, "(#100) Stories can't be commented on")
        if len(message) > MAX_CAPTION:
            raise GraphError(100, f"(#100) A comment is at most {MAX_CAPTION} characters")
        account = self.state.accounts[media.owner]
        comment = Comment(self.state.next_id("178"), message, now(), account.username)
        media.comments.append(comment)
        return {"id": comment.id}

    async def comments(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        media = media_of(self.state, token, node_id)
        require(token, BASIC)
        return {
            "data": [
                {
                    "id": c.id,
                    "text": c.text,
                    "timestamp": graph_time(c.timestamp),
                    "username": c.username,
                }
                for c in media.comments
            ]
        }
