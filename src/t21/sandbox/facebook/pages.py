"""Publishing at the Facebook fake with a Page token: feed posts (text, link, attached photos,
scheduled), photos, videos, reels with their rupload upload URL, and comments."""

from __future__ import annotations

import json
import math
import time
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from t21.sandbox.facebook.state import (
    MAX_MESSAGE,
    MAX_PHOTO_BYTES,
    MAX_VIDEO_BYTES,
    MIN_VIDEO_BYTES,
    REELS_WINDOW_S,
    FacebookState,
    FakePage,
    FakePhoto,
    FakePost,
    FakeVideo,
    GraphError,
    answer,
    download,
    flag,
    graph_time,
    image_type,
    is_video,
    no_object,
    pick,
    requested_fields,
    unix_time,
)
from t21.sandbox.oauth import base_url
from t21.sandbox.platform import bearer

PUBLISH = ("pages_manage_posts", "pages_read_engagement")
FACEBOOK_HOSTS = ("facebook.com", "fb.com", "fb.me")
# How far back an identical status update counts as a duplicate (Facebook's window is
# unconfirmed; a day is the sandbox's choice).
DUPLICATE_WINDOW_S = 24 * 3600


def _photo_refused(message: str) -> GraphError:
    # The subcode postiz maps to "Photos should be smaller than 4 MB and saved as JPG, PNG";
    # the code and wording around it are unconfirmed.
    return GraphError(
        f"(#100) {message}",
        100,
        subcode=1366046,
        user_title="Can't Read Files",
        user_msg="Photos should be smaller than 4 MB and saved as JPG or PNG files.",
    )


class PagePublishing:
    def __init__(self, state: FacebookState) -> None:
        self.state = state

    # --- publishing ----------------------------------------------------------------------

    def _new_post(self, request: Request, page: FakePage, kind: str, **fields: Any) -> FakePost:
        post_id = f"{page.id}_{self.state.new_id()}"
        local = post_id.partition("_")[2]
        permalink = fields.pop("permalink_url", None) or (
            f"{base_url(request)}/{page.id}/posts/{local}"
        )
        post = FakePost(
            id=post_id,
            page_id=page.id,
            kind=kind,
            message=fields.pop("message", None),
            link=fields.pop("link", None),
            created_time=time.time(),
            permalink_url=permalink,
            **fields,
        )
        self.state.posts[post_id] = post
        return post

    def _record(self, post: FakePost, **extra: Any) -> dict[str, Any]:
        self.state.record_publication(
            id=post.id, page_id=post.page_id, kind=post.kind, message=post.message,
            link=post.link, media=list(post.media), **extra,
        )  # fmt: skip
        return self.state.published[-1]

    async def feed(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        _token, page = self.state.page_caller(request, params, node, *PUBLISH)
        message = params.get("message") or None
        self.state.received_send(account=page.id, text=message)
        link = params.get("link") or None
        attached = self._attached_photos(page, params.get("attached_media"))
        _check_message(message)
        if link is not None:
            _check_link(str(link))
        if not (message or link or attached):
            raise GraphError("(#100) Missing message or attachment", 100)
        published = flag(params.get("published"), True)
        scheduled = _scheduled_time(params.get("scheduled_publish_time"), published)
        if message and not link and not attached:
            self._refuse_duplicate(page, str(message))
        for photo in attached:
            photo.attached = True
        kind = "album" if attached else "link" if link else "status"
        post = self._new_post(
            request, page, kind, message=message, link=link, media=[p.url for p in attached],
            is_published=published, scheduled_for=scheduled,
        )  # fmt: skip
        if published:
            self._record(post)
        fields = requested_fields(params, "id")
        return answer(pick({"id": post.id, "permalink_url": post.permalink_url}, fields, "Post"))

    def _attached_photos(self, page: FakePage, raw: Any) -> list[FakePhoto]:
        if raw is None or raw == "":
            return []
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise GraphError("(#100) param attached_media must be an array", 100) from None
        if not isinstance(raw, list):
            raise GraphError("(#100) param attached_media must be an array", 100)
        photos = []
        for index, entry in enumerate(raw):
            media_id = entry.get("media_fbid") if isinstance(entry, dict) else None
            photo = self.state.photos.get(str(media_id))
            if photo is None or photo.page_id != page.id:
                raise GraphError(
                    f"(#100) param attached_media[{index}] must be a valid photo id", 100
                )
            if photo.published or photo.attached:
                raise GraphError(
                    "(#100) These photos were already posted.",
                    100,
                    subcode=1366051,
                    user_title="Photos Already Posted",
                    user_msg="These photos were already posted.",
                )
            photos.append(photo)
        return photos

    def _refuse_duplicate(self, page: FakePage, message: str) -> None:
        """Facebook refuses a status update identical to a recent one of the same Page."""
        since = time.time() - DUPLICATE_WINDOW_S
        for post in self.state.posts.values():
            if (
                post.page_id == page.id
                and post.kind == "status"
                and post.message == message
                and post.created_time >= since
                and self.state.refuses_duplicate()
            ):
                raise GraphError(
                    "(#506) Duplicate status message",
                    506,
                    user_title="Duplicate Status Update",
                    user_msg="This status update is identical to the last one you posted. Try "
                    "posting something different, or delete your previous update.",
                )

    async def photos(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        _token, page = self.state.page_caller(request, params, node, *PUBLISH)
        url = params.get("url")
        if not url:
            raise GraphError("(#324) Requires upload file", 324)
        caption = params.get("caption") or params.get("message") or None
        _check_message(caption)
        data = await download(url)
        if data is None:
            raise GraphError("(#324) Missing or invalid image file", 324)
        if image_type(data) is None:
            raise _photo_refused("The photo is not a JPG or PNG file")
        if len(data) >= MAX_PHOTO_BYTES:
            raise _photo_refused("The photo is too large")
        published = flag(params.get("published"), True)
        photo_id = self.state.new_id()
        self.state.photos[photo_id] = FakePhoto(photo_id, page.id, str(url), published)
        if not published:
            return answer({"id": photo_id})
        post = self._new_post(request, page, "photo", message=caption, media=[str(url)])
        self._record(post, alt_text=params.get("alt_text_custom"))
        return answer({"id": photo_id, "post_id": post.id})

    async def videos(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        _token, page = self.state.page_caller(request, params, node, *PUBLISH)
        file_url = params.get("file_url")
        if not file_url:
            raise GraphError("(#100) Either file_url or source must be provided", 100)
        description = params.get("description") or None
        _check_message(description)
        await _fetch_video(file_url)
        video = self._new_video(page, "video", file_url=str(file_url), description=description)
        video.permalink_url = f"/{page.id}/videos/{video.id}/"
        self._publish_video(request, page, video)
        return answer({"id": video.id})

    def _new_video(self, page: FakePage, kind: str, **fields: Any) -> FakeVideo:
        video = FakeVideo(id=self.state.new_id(), page_id=page.id, kind=kind, **fields)
        self.state.videos[video.id] = video
        return video

    def _publish_video(self, request: Request, page: FakePage, video: FakeVideo) -> None:
        """Published at once; processing then takes `processing_polls` status reads."""
        video.phase = "processing"
        video.polls_left = self.state.processing_polls
        video.outcome = self.state.video_outcome
        video.published_at = time.time()
        permalink = (
            f"{base_url(request)}/reel/{video.id}"
            if video.kind == "reel"
            else f"{base_url(request)}{video.permalink_url}"
        )
        post = self._new_post(
            request, page, video.kind, message=video.description, permalink_url=permalink,
            media=[video.file_url or ""], video_id=video.id,
        )  # fmt: skip
        video.post_id = post.id
        video.record = self._record(post, video_id=video.id, status="processing")

    async def video_reels(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        _token, page = self.state.page_caller(request, params, node, *PUBLISH)
        phase = params.get("upload_phase")
        if phase == "start":
            video = self._new_video(page, "reel")
            upload_url = f"{base_url(request)}/video-upload/{request.path_params['version']}"
            return answer({"video_id": video.id, "upload_url": f"{upload_url}/{video.id}"})
        if phase != "finish":
            raise GraphError("(#100) upload_phase must be one of {START, FINISH}", 100)
        found = self.state.videos.get(str(params.get("video_id")))
        if found is None or found.page_id != page.id or found.kind != "reel":
            raise GraphError("(#100) Invalid video_id", 100)
        video = found
        if video.phase == "created":
            raise GraphError(
                "There was a problem uploading your video file. Please try again.",
                6000,
                subcode=1363130,
                user_title="Video Upload Is Missing",
                user_msg="The video was not uploaded before it was published.",
            )
        if video.published_at is not None:
            raise GraphError("(#100) This video has already been published", 100)
        state_param = str(params.get("video_state") or "")
        if state_param not in ("PUBLISHED", "DRAFT"):
            raise GraphError("(#100) video_state must be one of {DRAFT, PUBLISHED}", 100)
        video.description = params.get("description") or None
        _check_message(video.description)
        if state_param == "DRAFT":
            return answer({"success": True})
        self._reels_quota(page)
        self._publish_video(request, page, video)
        return answer({"success": True})

    def _reels_quota(self, page: FakePage) -> None:
        """30 API-published reels per Page per rolling 24 h. The error Facebook answers with is
        unconfirmed: the Page rate limit (code 32) with its business-use-case header is the
        most plausible, and tells the caller when the window frees up."""
        now = time.time()
        times = sorted(
            video.published_at
            for video in self.state.videos.values()
            if video.page_id == page.id
            and video.kind == "reel"
            and video.published_at is not None
            and video.published_at > now - REELS_WINDOW_S
        )
        if len(times) < self.state.reels_per_day:
            return
        minutes = max(1, math.ceil((times[0] + REELS_WINDOW_S - now) / 60))
        usage = {
            page.id: [
                {"type": "pages", "call_count": 100, "total_cputime": 0, "total_time": 0,
                 "estimated_time_to_regain_access": minutes}
            ]
        }  # fmt: skip
        raise GraphError(
            f"(#32) Page request limit reached: the Page has published "
            f"{self.state.reels_per_day} reels through the API in the last 24 hours",
            32,
            headers={"x-business-use-case-usage": json.dumps(usage)},
        )

    async def rupload(self, request: Request) -> Response:
        """The reel's upload URL (rupload.facebook.com): `Authorization: OAuth <page token>`,
        then a `file_url` header, or `offset` + `file_size` headers with the bytes."""
        video = self.state.videos.get(request.path_params["video_id"])
        token = self.state.tokens.get(bearer(request) or "")
        if token is None or not token.usable() or token.kind != "page":
            return _upload_error(401, "AuthError", "Invalid OAuth access token.")
        if video is None or video.kind != "reel":
            return _upload_error(404, "NotFoundError", "The upload session does not exist.")
        if token.account_id != video.page_id:
            return _upload_error(403, "AuthError", "The token can't upload to this Page.")
        file_url = request.headers.get("file_url")
        if file_url:
            data = await download(file_url)
            if data is None:
                return _upload_error(400, "DownloadError", "Could not download the file_url.")
        else:
            data = await request.body()
            offset, size = request.headers.get("offset"), request.headers.get("file_size")
            if not (offset and size and offset.isdigit() and size.isdigit()):
                return _upload_error(
                    400,
                    "ParameterValidationError",
                    "HeaderValuePredicate: Header Offset not convertable to unsigned long",
                )
            if int(offset) + len(data) != int(size):
                return _upload_error(400, "PartialRequestError", "Partial upload.", True)
        if not is_video(data):
            return _upload_error(400, "UnsupportedFileType", "The file is not a video.")
        video.phase = "uploaded"
        video.file_url = file_url or "(uploaded bytes)"
        return JSONResponse({"success": True})

    async def comments(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        owner = self.state.owner(node)
        if owner is None or (node not in self.state.posts and node not in self.state.videos):
            raise no_object(node, "post")
        self.state.page_caller(request, params, owner, "pages_manage_engagement")
        message = params.get("message")
        if not message:
            raise GraphError("(#100) Missing message or attachment", 100)
        target = self.state.posts.get(node) or self.state.videos[node]
        comment_id = f"{node.rpartition('_')[2]}_{self.state.new_id()}"
        self.state.received_send(account=owner, text=str(message), reply_to=node, kind="comment")
        target.comments.append(
            {
                "id": comment_id,
                "message": str(message),
                "from": {"id": owner, "name": self.state.pages[owner].name},
                "created_time": time.time(),
            }
        )
        return answer({"id": comment_id})

    async def list_comments(self, request: Request, node: str, params: dict[str, Any]) -> Response:
        """`GET /{object-id}/comments` (graph-api/reference/object/comments): the object's
        comments, oldest first unless `order=reverse_chronological`, with the fields asked."""
        owner = self.state.owner(node)
        if owner is None or (node not in self.state.posts and node not in self.state.videos):
            raise no_object(node, "post")
        self.state.page_caller(request, params, owner, "pages_read_engagement")
        target = self.state.posts.get(node) or self.state.videos[node]
        found = list(target.comments)
        if params.get("order") == "reverse_chronological":
            found.reverse()
        fields = requested_fields(params, "created_time,message,id")
        shown = [
            pick(comment | {"created_time": graph_time(comment["created_time"])}, fields, "Comment")
            for comment in found
        ]
        return answer({"data": shown})


def _check_message(message: Any) -> None:
    # The exact wording of Facebook's refusal is unconfirmed; the limit is postiz's 63,206.
    if message is not None and len(str(message)) > MAX_MESSAGE:
        raise GraphError(
            f"(#100) The message is too long. Posts can have at most {MAX_MESSAGE} characters.",
            100,
            user_title="Post Too Long",
            user_msg=f"Posts can have at most {MAX_MESSAGE} characters.",
        )


def _scheduled_time(value: Any, published: bool) -> float | None:
    """`scheduled_publish_time` (Unix seconds here; Graph also takes ISO 8601 and relative
    strings) needs `published=false` and a time 10 minutes to 6 months ahead (the window is
    unconfirmed). Without it, `published=false` makes a hidden ("dark") post."""
    if value is None or value == "":
        return None
    if published:
        raise GraphError(
            "(#100) Cannot set a scheduled_publish_time on a published post; set published "
            "to false",
            100,
        )
    at = unix_time(value) or 0.0
    now = time.time()
    if not now + 600 <= at <= now + 183 * 86400:
        raise GraphError(
            "(#100) The specified scheduled publish time is invalid.",
            100,
            user_msg="Scheduled posts must be between 10 minutes and 6 months in the future.",
        )
    return at


def _check_link(link: str) -> None:
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GraphError("(#100) The link is not a valid URL", 100, subcode=2061006)
    host = (parts.hostname or "").lower()
    if any(host == name or host.endswith("." + name) for name in FACEBOOK_HOSTS):
        raise GraphError("(#100) Links to Facebook content can't be attached", 100, subcode=1609008)


async def _fetch_video(file_url: Any) -> bytes:
    data = await download(file_url)
    if data is None:
        raise GraphError("(#389) Unable to fetch video file from URL.", 389)
    if not is_video(data):
        raise GraphError(
            "(#352) Sorry, the video file you selected is in a format that we don't support.",
            352,
        )
    if len(data) < MIN_VIDEO_BYTES:
        raise GraphError(
            "The video you tried to upload is too small. The minimum size for a video is 1 KB.",
            6000,
            subcode=1363022,
        )
    if len(data) > MAX_VIDEO_BYTES:
        raise GraphError(
            "The video you tried to upload is too large. The maximum size for a video is 2 GB.",
            6000,
            subcode=1363023,
        )
    return data


def _upload_error(status: int, kind: str, message: str, retriable: bool = False) -> Response:
    body = {"debug_info": {"retriable": retriable, "type": kind, "message": message}}
    return JSONResponse(body, status_code=status)
