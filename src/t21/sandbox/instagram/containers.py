"""The fake's publishing endpoints: media containers (downloaded and checked as Instagram
does, then processed for a few status polls), `media_publish` under the rolling 24 h quota, and
`content_publishing_limit`."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request

from t21.sandbox.instagram.media import fetch_image, video_problem
from t21.sandbox.instagram.state import (
    PUBLISH,
    Container,
    InstagramAccount,
    InstagramState,
    Media,
)
from t21.sandbox.instagram.wire import account_of, list_param, require, truthy
from t21.sandbox.meta.state import QUOTA_WINDOW_S, now
from t21.sandbox.meta.wire import GraphError, Params, int_param, shortcode
from t21.sandbox.platform import IssuedToken, character_count

USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")
MAX_CAPTION, MAX_HASHTAGS, MAX_MENTIONS = 2200, 30, 20
REEL_SECONDS, SHORT_VIDEO_SECONDS = (3.0, 900.0), (3.0, 60.0)


def check_caption(caption: str) -> None:
    if character_count(caption) > MAX_CAPTION:
        raise GraphError(
            36004,
            "The caption is too long.",
            subcode=2207010,
            user_title="Caption too long",
            user_msg=f"The caption is too long. It must be at most {MAX_CAPTION} characters.",
        )
    if len(re.findall(r"(?<![\w#])#\w+", caption)) > MAX_HASHTAGS:
        raise GraphError(
            36004,
            "The caption has too many hashtags.",
            subcode=2207010,
            user_title="Too many hashtags",
            user_msg=f"A caption can have at most {MAX_HASHTAGS} hashtags.",
        )
    if len(re.findall(r"(?<![\w@])@[A-Za-z0-9._]+", caption)) > MAX_MENTIONS:
        raise GraphError(
            100,
            f"Cannot use more than {MAX_MENTIONS} tags per media",
            subcode=2207040,
            user_title="Too many tags",
            user_msg=f"Cannot use more than {MAX_MENTIONS} tags per media.",
        )


class Containers:
    def __init__(self, state: InstagramState) -> None:
        self.state = state

    async def create(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        account = account_of(self.state, token, node_id, "POST")
        require(token, PUBLISH)
        media_type = str(params.get("media_type") or "IMAGE").upper()
        is_item = truthy(params.get("is_carousel_item"))
        collaborators = list_param(params.get("collaborators"))
        _check_kind(media_type, is_item, collaborators)
        caption = params.get("caption")
        takes_caption = not is_item and media_type != "STORIES"
        if takes_caption and isinstance(caption, str):
            check_caption(caption)
        container = Container(
            id=self.state.next_id("179"),
            owner=account.user_id,
            media_type=media_type,
            created_at=now(),
            caption=caption if takes_caption and isinstance(caption, str) else None,
            is_carousel_item=is_item,
        )
        if collaborators:
            container.extras["collaborators"] = collaborators
        if media_type == "CAROUSEL":
            container.children = self.carousel_children(account, params.get("children"))
            container.polls_left = self.state.processing_polls
            container.ready_at = self.state.ready_at(video=False)
        elif media_type in ("REELS", "VIDEO") or params.get("video_url"):
            await self.video_container(container, params)
        else:
            await self.image_container(container, params)
        if self.state.outcomes:
            injected = self.state.outcomes.pop(0)
            container.outcome = injected.status_code
            if injected.status_code == "ERROR":
                subcode = injected.error_subcode or 2207053
                container.error = f"Error: Media upload has failed with error code {subcode}"
        self.state.containers[container.id] = container
        return {"id": container.id}

    async def image_container(self, container: Container, params: Params) -> None:
        url = params.get("image_url")
        if not url:
            raise GraphError(100, "(#100) The parameter image_url is required")
        await fetch_image(str(url), check_aspect=container.media_type != "STORIES")
        container.media_url = str(url)
        container.polls_left = self.state.processing_polls
        container.ready_at = self.state.ready_at(video=False)
        if params.get("alt_text"):
            container.extras["alt_text"] = str(params["alt_text"])

    async def video_container(self, container: Container, params: Params) -> None:
        url = params.get("video_url")
        if not url:
            raise GraphError(100, "(#100) The parameter video_url is required")
        thumb_offset = int_param(params, "thumb_offset")
        if thumb_offset is not None and thumb_offset < 0:
            raise GraphError(
                1,
                "Thumbnail offset must be greater than or equal to 0 and less than video duration",
                subcode=2207057,
                user_title="Invalid thumbnail offset",
                user_msg="The thumbnail offset must be 0 or more, in milliseconds.",
            )
        low, high = REEL_SECONDS if container.media_type == "REELS" else SHORT_VIDEO_SECONDS
        problem = await video_problem(str(url), min_s=low, max_s=high, thumb_offset_ms=thumb_offset)
        cover = params.get("cover_url")
        if problem is None and cover and container.media_type == "REELS":
            try:
                await fetch_image(str(cover), check_aspect=False)
            except GraphError as exc:
                problem = f"Error: The cover image failed: {exc.message} (error code {exc.subcode})"
        container.media_url, container.is_video = str(url), True
        container.polls_left = self.state.processing_polls
        container.ready_at = self.state.ready_at(video=True)
        if problem is not None:
            container.outcome, container.error = "ERROR", problem
        if params.get("cover_url"):
            container.extras["cover_url"] = str(params["cover_url"])
        if thumb_offset is not None:
            container.extras["thumb_offset"] = thumb_offset
        if "share_to_feed" in params:
            container.extras["share_to_feed"] = truthy(params["share_to_feed"])

    def carousel_children(self, account: InstagramAccount, raw: Any) -> list[str]:
        ids = list_param(raw)
        if not 2 <= len(ids) <= 10:
            raise GraphError(
                100,
                "(#100) The carousel has too little or too many attachments.",
                subcode=2207028,
                user_title="Carousel validation failed",
                user_msg=(
                    "Your post won't be shared as a carousel. Carousels need at least 2 "
                    "photos/videos and no more than 10 photos/videos."
                ),
            )
        moment = now()
        for child_id in ids:
            child = self.state.containers.get(child_id)
            if child is None or child.owner != account.user_id:
                raise _not_found(child_id)
            if not child.is_carousel_item:
                raise GraphError(100, f"(#100) Media {child_id} was not created as a carousel item")
            if child.status_code(moment) != "FINISHED":
                raise _not_ready()
        return ids

    async def publish(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        account = account_of(self.state, token, node_id, "POST")
        require(token, PUBLISH)
        creation_id = params.get("creation_id")
        pending = self.state.containers.get(str(creation_id))
        self.state.received_send(account=account.user_id, text=pending and pending.caption)
        if not creation_id:
            raise GraphError(100, "(#100) The parameter creation_id is required")
        container = self.state.containers.get(str(creation_id))
        if container is None or container.owner != account.user_id:
            raise _not_found(str(creation_id))
        if container.is_carousel_item:
            raise GraphError(100, "(#100) A carousel item is published through its carousel")
        moment = now()
        _check_publishable(container.status_code(moment), container)
        if len(self.state.published_in_window(account.user_id, moment)) >= self.state.quota_total:
            raise GraphError(
                9,
                "Application request limit reached",
                subcode=2207042,
                user_title="Publishing limit reached",
                user_msg=(
                    "You reached maximum number of posts that is allowed to be published by "
                    f"Content Publish API ({self.state.quota_total} per 24 hours)."
                ),
            )
        media = self.new_media(container, account, moment)
        self.state.record_publication(
            id=media.id,
            account=account.user_id,
            username=account.username,
            caption=media.caption,
            media_type=media.media_type,
            media_product_type=media.product_type,
            media=self.published_urls(container),
            container_id=container.id,
            **container.extras,
        )
        return {"id": media.id}

    def new_media(self, container: Container, account: InstagramAccount, moment: float) -> Media:
        kinds = {
            "CAROUSEL": ("CAROUSEL_ALBUM", "FEED"),
            "REELS": ("VIDEO", "REELS"),
            "STORIES": ("VIDEO" if container.is_video else "IMAGE", "STORY"),
        }
        media_type, product = kinds.get(container.media_type, ("IMAGE", "FEED"))
        media_id = self.state.next_id("180")
        media = Media(
            id=media_id,
            owner=account.user_id,
            media_type=media_type,
            product_type=product,
            caption=container.caption,
            timestamp=moment,
            shortcode=shortcode(media_id),
            media_url=container.media_url,
            container_id=container.id,
            children=list(container.children),
            insights=self.state.insights_default,
        )
        container.published_media_id = media.id
        self.state.media[media.id] = media
        return media

    def published_urls(self, container: Container) -> list[dict[str, Any]]:
        parts = [self.state.containers[child] for child in container.children] or [container]
        return [
            {"kind": "video" if part.is_video else "image", "url": part.media_url} for part in parts
        ]

    async def publishing_limit(
        self, request: Request, token: IssuedToken, node_id: str, params: Params
    ) -> dict[str, Any]:
        account = account_of(self.state, token, node_id)
        used = len(self.state.published_in_window(account.user_id, now()))
        entry = {
            "quota_usage": used,
            "config": {"quota_total": self.state.quota_total, "quota_duration": QUOTA_WINDOW_S},
        }
        fields = [name for name in str(params.get("fields") or "quota_usage").split(",") if name]
        return {"data": [{name: entry[name] for name in fields if name in entry}]}

    # --- reading back --------------------------------------------------------------------


def _check_kind(media_type: str, is_item: bool, collaborators: list[str]) -> None:
    unknown = GraphError(
        100,
        f"(#100) The media type {media_type} is not supported here",
        subcode=2207023,
        user_title="Unknown media type",
        user_msg="The media type is unknown.",
    )
    if media_type not in ("IMAGE", "VIDEO", "REELS", "STORIES", "CAROUSEL"):
        raise unknown
    if is_item and media_type not in ("IMAGE", "VIDEO"):
        raise unknown
    if media_type == "VIDEO" and not is_item:
        # Feed videos are reels since 2023-11-09.
        raise unknown
    if collaborators and (is_item or media_type == "STORIES"):
        raise GraphError(100, "(#100) param collaborators is not allowed for this media")
    if len(collaborators) > 3:
        raise GraphError(100, "(#100) param collaborators must have at most 3 usernames")
    if any(not USERNAME.fullmatch(name) for name in collaborators):
        raise GraphError(
            100,
            "One of the collaborators could not be tagged",
            subcode=2207018,
            user_title="Collaborator can't be tagged",
            user_msg="Collaborators are Instagram usernames, without the @.",
        )


def _check_publishable(status_code: str, container: Container) -> None:
    if status_code == "FINISHED":
        return
    if status_code == "IN_PROGRESS":
        raise _not_ready()
    if status_code == "EXPIRED":
        raise GraphError(
            -2,
            "The media you are trying to access has expired. Please try to upload again.",
            subcode=2207020,
            user_title="Media expired",
            user_msg="The media you are trying to access has expired. Please try to upload again.",
        )
    if status_code == "PUBLISHED":
        raise GraphError(100, "(#100) This media container has already been published")
    raise GraphError(
        -1,
        "Create media fail, please try to re-create media",
        subcode=2207032,
        user_title="Media creation failed",
        user_msg=container.error or "Create media fail, please try to re-create media",
    )


def _not_found(media_id: str) -> GraphError:
    return GraphError(
        24,
        f"The media with id {media_id} cannot be found",
        subcode=2207006,
        user_title="Media not found",
        user_msg=f"The media with id {media_id} cannot be found.",
    )


def _not_ready() -> GraphError:
    return GraphError(
        9007,
        "Media ID is not available",
        subcode=2207027,
        user_title="Media not ready for publishing",
        user_msg="The media is not ready for publishing, please wait for a moment",
    )
