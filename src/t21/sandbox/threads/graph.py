"""The fake's `graph.threads.net`: token exchange and refresh, `/me`, nodes, media containers,
`threads_publish` under the moving 24 h quota, `threads_publishing_limit`, the user's threads
and insights. Any `/vN.N/` prefix (or none) is accepted; parameters come from the query or a
form body, never JSON, and the token from `access_token`, as the reference shows every call
(https://developers.facebook.com/documentation/threads/posts,
https://developers.facebook.com/documentation/threads/reference/user)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx
from starlette.requests import Request

from t21.core.tls import tls_context
from t21.sandbox.meta.host import GraphHost
from t21.sandbox.meta.state import QUOTA_WINDOW_S, now
from t21.sandbox.meta.wire import (
    GraphError,
    Params,
    graph_time,
    int_param,
    media_kind,
    pick,
    shortcode,
)
from t21.sandbox.oauth import base_url
from t21.sandbox.platform import IssuedToken
from t21.sandbox.threads.state import (
    BASIC,
    INSIGHTS,
    METRICS,
    PUBLISH,
    Container,
    Post,
    ThreadsAccount,
    ThreadsState,
    default_values,
)

MAX_TEXT = 500
MAX_LINKS = 5
MIN_CHILDREN, MAX_CHILDREN = 2, 20
MAX_IMAGE_BYTES, MAX_VIDEO_BYTES = 8 * 1024 * 1024, 1024 * 1024 * 1024
REPLY_CONTROLS = frozenset(
    {"everyone", "accounts_you_follow", "mentioned_only", "parent_post_author_only",
     "followers_only"}
)  # fmt: skip
MEDIA_TYPES = frozenset({"TEXT", "IMAGE", "VIDEO", "CAROUSEL"})
PUBLIC_TYPES = {
    "TEXT": "TEXT_POST",
    "IMAGE": "IMAGE",
    "VIDEO": "VIDEO",
    "CAROUSEL": "CAROUSEL_ALBUM",
}
# Emoji as the fake recognises them, with its own code: a pictograph (the pictographic planes,
# dingbats, misc symbols and arrows, ©, ®, ™ and the like) with its variation selector, skin
# tones and zero-width-joined followers, a pair of regional indicators (a flag), or a keycap.
_PICTOGRAPH = (
    "[\U0001f000-\U0001f1e5\U0001f200-\U0001faff\u2600-\u27bf\u231a\u231b\u2328\u23cf"
    "\u23e9-\u23f3\u23f8-\u23fa\u2b05-\u2b07\u2b1b\u2b1c\u2b50\u2b55\u2194-\u2199"
    "\u21a9\u21aa\u00a9\u00ae\u203c\u2049\u2122\u2139\u3030\u303d\u3297\u3299]"
)
_MODIFIERS = "[\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]*"
_EMOJI = re.compile(
    f"{_PICTOGRAPH}{_MODIFIERS}(?:\u200d{_PICTOGRAPH}{_MODIFIERS})*"
    "|[\U0001f1e6-\U0001f1ff]{1,2}"
    "|[0-9#*]\ufe0f?\u20e3"
)
_URL = re.compile(r"(?:https?://|www\.)[^\s]+", re.IGNORECASE)


def text_length(text: str) -> int:
    """Threads' count: characters, each whole emoji as its UTF-8 bytes ("Emojis are counted
    as the number of UTF-8 bytes", documentation/threads/posts; the fake's own code)."""
    emoji_bytes = sum(len(match.encode("utf-8")) for match in _EMOJI.findall(text))
    return len(_EMOJI.sub("", text)) + emoji_bytes


def require(token: IssuedToken, scope: str) -> None:
    if scope not in token.scopes:
        raise GraphError(10, f"(#10) The user has not granted the {scope} permission")


class GraphApi(GraphHost):
    grant_prefix: ClassVar[str] = "th"

    def __init__(self, state: ThreadsState) -> None:
        super().__init__(state)
        self.state: ThreadsState = state
        self.edges = {
            ("POST", "threads"): self.create,
            ("GET", "threads"): self.list_threads,
            ("GET", "replies"): self.replies,
            ("POST", "threads_publish"): self.publish,
            ("GET", "threads_publishing_limit"): self.publishing_limit,
            ("GET", "insights"): self.insights,
        }

    # --- nodes -----------------------------------------------------------------------------

    def account(self, token: IssuedToken, node_id: str, method: str) -> ThreadsAccount:
        account = self.state.accounts[token.account_id]
        if node_id in ("me", account.user_id):
            return account
        raise self.unsupported(method, node_id)

    def node(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        require(token, BASIC)
        fields = params.get("fields")
        if node_id == "me" or node_id in self.state.accounts:
            account = self.account(token, node_id, "GET")
            available = {
                "id": account.user_id,
                "username": account.username,
                "name": account.name,
                "threads_profile_picture_url": f"{base_url(request)}/profile_pictures/t21.png",
                "threads_biography": "",
            }
            return pick(available, fields, "ThreadsUser")
        container = self.state.containers.get(node_id)
        if container is not None and container.owner == token.account_id:
            return pick(self.container_fields(container), fields, "ThreadsMediaContainer")
        post = self.state.posts.get(node_id)
        if post is not None and post.owner == token.account_id:
            return pick(self.post_fields(request, post), fields, "ThreadsMedia")
        raise self.unsupported("GET", node_id)

    def container_fields(self, container: Container) -> dict[str, Any]:
        if container.published_id is not None:
            status, error = "PUBLISHED", None
        elif container.polls_left > 0:
            container.polls_left -= 1
            status, error = "IN_PROGRESS", None
        elif now() - container.created_at > QUOTA_WINDOW_S:
            status, error = "EXPIRED", None
        else:
            status, error = container.outcome, container.error
        return {"id": container.id, "status": status, "error_message": error}

    def post_fields(self, request: Request, post: Post) -> dict[str, Any]:
        account = self.state.accounts[post.owner]
        return {
            "id": post.id,
            "media_product_type": "THREADS",
            "media_type": post.media_type,
            "text": post.text,
            "timestamp": graph_time(post.timestamp),
            "permalink": f"{base_url(request)}/@{account.username}/post/{post.shortcode}",
            "shortcode": post.shortcode,
            "username": account.username,
            "owner": {"id": account.user_id},
            "is_quote_post": False,
            "reply_audience": post.reply_control.upper(),
            "is_reply": post.replied_to is not None,
            **({"replied_to": {"id": post.replied_to}} if post.replied_to else {}),
        }

    # --- containers ------------------------------------------------------------------------

    async def create(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        account = self.account(token, node_id, "POST")
        require(token, BASIC)
        require(token, PUBLISH)
        media_type = str(params.get("media_type") or "").upper()
        if media_type not in MEDIA_TYPES:
            raise GraphError(
                100, "(#100) Param media_type must be one of TEXT, IMAGE, VIDEO, CAROUSEL"
            )
        is_item = str(params.get("is_carousel_item", "false")).lower() == "true"
        if is_item and media_type not in ("IMAGE", "VIDEO"):
            raise GraphError(100, "(#100) Only IMAGE and VIDEO can be carousel items")
        text = params.get("text")
        if isinstance(text, str) and text:
            if is_item:
                raise GraphError(100, "(#100) Carousel items don't take text")
            check_text(text)
        elif media_type == "TEXT":
            raise GraphError(100, "(#100) Param text is required for media_type=TEXT")
        reply_control = params.get("reply_control")
        if reply_control is not None and reply_control not in REPLY_CONTROLS:
            raise GraphError(100, "(#100) Param reply_control is not a valid value")
        # Replies (retrieve-and-manage-replies/create-replies): `reply_to_id` names a Threads
        # media. The refusal's wording for an unknown one is unconfirmed.
        reply_to_id = params.get("reply_to_id")
        if reply_to_id is not None and (is_item or str(reply_to_id) not in self.state.posts):
            raise GraphError(100, "(#100) Param reply_to_id must be a valid Threads media id")
        container = Container(
            id=self.state.next_id("1789"),
            owner=account.user_id,
            media_type=media_type,
            created_at=now(),
            text=text if isinstance(text, str) and text else None,
            is_carousel_item=is_item,
            reply_control=reply_control,
            alt_text=params.get("alt_text") or None,
            polls_left=self.state.processing_polls,
            reply_to_id=str(reply_to_id) if reply_to_id is not None else None,
        )
        if media_type == "CAROUSEL":
            container.children = self.children(account, params.get("children"))
        elif media_type in ("IMAGE", "VIDEO"):
            await self.fetch_media(container, params)
        if self.state.outcomes and media_type != "TEXT":
            outcome = self.state.outcomes.pop(0)
            container.outcome, container.error = outcome.status, outcome.error
        self.state.containers[container.id] = container
        return {"id": container.id}

    def children(self, account: ThreadsAccount, raw: Any) -> list[str]:
        ids = [part.strip() for part in str(raw or "").split(",") if part.strip()]
        if not MIN_CHILDREN <= len(ids) <= MAX_CHILDREN:
            raise GraphError(
                100, f"(#100) A carousel takes {MIN_CHILDREN} to {MAX_CHILDREN} children"
            )
        for child_id in ids:
            child = self.state.containers.get(child_id)
            if child is None or child.owner != account.user_id or not child.is_carousel_item:
                raise GraphError(100, f"(#100) Param children: {child_id} is not a carousel item")
            if child.outcome != "FINISHED" or child.polls_left > 0:
                raise GraphError(100, f"(#100) The carousel item {child_id} is not ready")
        return ids

    async def fetch_media(self, container: Container, params: Params) -> None:
        video = container.media_type == "VIDEO"
        field = "video_url" if video else "image_url"
        url = params.get(field)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise GraphError(
                100, f"(#100) Param {field} is required for media_type={container.media_type}"
            )
        container.media_url = url
        limit = MAX_VIDEO_BYTES if video else MAX_IMAGE_BYTES
        try:
            async with (
                httpx.AsyncClient(timeout=10, verify=tls_context()) as http,
                http.stream("GET", url) as answer,
            ):
                if answer.status_code != 200:
                    raise httpx.HTTPError("not fetched")
                size, head = 0, b""
                async for chunk in answer.aiter_bytes():
                    size += len(chunk)
                    head = head or chunk[:16]
                    if size > limit:
                        break
        except httpx.HTTPError:
            if video:
                container.outcome, container.error = "ERROR", "FAILED_DOWNLOADING_VIDEO"
                return
            raise GraphError(100, f"(#100) The image could not be fetched from {field}") from None
        kind = media_kind(head)
        if size > limit:
            raise GraphError(100, f"(#100) The media at {field} is larger than Threads accepts")
        if kind is None or kind.startswith("video/") != video:
            raise GraphError(
                100,
                f"(#100) The media at {field} is not a supported {'video' if video else 'image'}",
            )

    # --- publishing ------------------------------------------------------------------------

    async def publish(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        account = self.account(token, node_id, "POST")
        require(token, PUBLISH)
        container = self.state.containers.get(str(params.get("creation_id") or ""))
        send = self.state.received_send(
            account=account.user_id,
            text=container.text if container else None,
            reply_to=container.reply_to_id if container else None,
        )
        del send
        if container is None or container.owner != account.user_id or container.is_carousel_item:
            raise GraphError(
                100, "(#100) Param creation_id is not a media container you can publish"
            )
        if container.published_id is not None:
            raise GraphError(100, "(#100) The media container has already been published")
        if container.polls_left > 0 or container.outcome != "FINISHED":
            raise GraphError(
                24, "The media is not ready for publishing, please wait for a moment",
                subcode=4279009,
            )  # fmt: skip
        moment = now()
        if len(self.state.published_in_window(account.user_id, moment)) >= self.state.quota_total:
            # The refusal's exact code is unconfirmed; Graph's throttling code 4 is what the
            # limit's documentation implies ("enforced on threads_publish").
            raise GraphError(4, "Application request limit reached: publishing limit reached")
        if (
            container.text
            and any(
                post.owner == account.user_id and post.text == container.text
                for post in self.state.posts.values()
            )
            and self.state.refuses_duplicate()
        ):
            raise GraphError(506, "Duplicate post: this text was already posted")
        post = Post(
            id=self.state.next_id("1792"),
            owner=account.user_id,
            media_type=PUBLIC_TYPES[container.media_type],
            text=container.text,
            timestamp=moment,
            shortcode=shortcode(container.id),
            reply_control=container.reply_control or "everyone",
            children=list(container.children),
            replied_to=container.reply_to_id,
        )
        self.state.posts[post.id] = post
        container.published_id = post.id
        self.state.record_publication(
            id=post.id,
            container_id=container.id,
            account=account.user_id,
            media_type=post.media_type,
            text=post.text,
            reply_control=post.reply_control,
            media=[self.state.containers[c].media_url for c in container.children]
            or ([container.media_url] if container.media_url else []),
        )
        return {"id": post.id}

    async def publishing_limit(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        account = self.account(token, node_id, "GET")
        require(token, BASIC)
        require(token, PUBLISH)
        usage = len(self.state.published_in_window(account.user_id, now()))
        available = {
            "quota_usage": usage,
            "config": {"quota_total": self.state.quota_total, "quota_duration": QUOTA_WINDOW_S},
        }
        names = [n.strip() for n in str(params.get("fields") or "quota_usage").split(",")]
        unknown = [n for n in names if n and n not in available]
        if unknown:
            raise GraphError(100, f"(#100) Tried accessing nonexisting field ({unknown[0]})")
        return {"data": [{name: available[name] for name in names if name}]}

    async def list_threads(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        account = self.account(token, node_id, "GET")
        require(token, BASIC)
        since = int_param(params, "since")
        limit = int_param(params, "limit") or 25
        # `/{user}/threads` lists the user's threads; their replies are under `/{user}/replies`.
        posts = sorted(
            (
                p
                for p in self.state.posts.values()
                if p.owner == account.user_id and p.replied_to is None
            ),
            key=lambda p: p.timestamp,
            reverse=True,
        )
        if since is not None:
            posts = [p for p in posts if p.timestamp >= since]
        return {
            "data": [
                pick(self.post_fields(request, p), params.get("fields"), "ThreadsMedia")
                for p in posts[: min(limit, 100)]
            ]
        }

    async def replies(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        """`GET {media-id}/replies`: the top-level replies under a post, newest first
        (`reverse`, default true), with the fields asked for
        (retrieve-and-manage-replies/replies-and-conversations)."""
        require(token, BASIC)
        if node_id not in self.state.posts:
            raise self.unsupported("GET", f"{node_id}/replies")
        newest_first = str(params.get("reverse", "true")).lower() != "false"
        found = sorted(
            (p for p in self.state.posts.values() if p.replied_to == node_id),
            key=lambda p: p.timestamp,
            reverse=newest_first,
        )
        return {
            "data": [
                pick(self.post_fields(request, p), params.get("fields"), "ThreadsMedia")
                for p in found
            ]
        }

    async def insights(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        require(token, BASIC)
        require(token, INSIGHTS)
        post = self.state.posts.get(node_id)
        if post is None or post.owner != token.account_id:
            raise self.unsupported("GET", f"{node_id}/insights")
        names = [n.strip() for n in str(params.get("metric") or "").split(",") if n.strip()]
        if not names:
            raise GraphError(100, "(#100) The parameter metric is required")
        for name in names:
            if name not in METRICS:
                raise GraphError(
                    100,
                    f"(#100) metric[0] must be one of the following values: {', '.join(METRICS)}",
                )
        values = default_values(post.id) | post.values
        return {
            "data": [
                {
                    "name": name,
                    "period": "lifetime",
                    "values": [{"value": values[name]}],
                    "title": name.capitalize(),
                    "id": f"{post.id}/insights/{name}/lifetime",
                }
                for name in names
            ]
        }


def check_text(text: str) -> None:
    length = text_length(text)
    if length > MAX_TEXT:
        raise GraphError(
            100, f"(#100) The text is too long: {length} characters, at most {MAX_TEXT}"
        )
    if len(set(_URL.findall(text))) > MAX_LINKS:
        raise GraphError(100, "THREADS_API__LINK_LIMIT_EXCEEDED: a post takes at most 5 links")
