"""Content Posting API: creator_info, the three inits, the chunked upload URL and status/fetch.

A job's media is complete when its last chunk arrives or, for PULL_FROM_URL, at once (the fake
downloads during init, with httpx). That is when the post is made and recorded; status/fetch
then answers PROCESSING_* for `processing_polls` polls, then PUBLISH_COMPLETE (the public id
after `moderation_polls` more), FAILED with a fail_reason, or SEND_TO_USER_INBOX.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from t21.core.tls import tls_context
from t21.sandbox.oauth import base_url
from t21.sandbox.tiktok.common import (
    TikTokError,
    authorized,
    avatar_url,
    bool_field,
    int_field,
    invalid_params,
    json_object,
    ok,
    text_field,
    throttle,
)
from t21.sandbox.tiktok.state import PRIVACY_LEVELS, PublishJob, TikTokSettings, TikTokState

MIB = 1024 * 1024
MIN_CHUNK = 5 * MIB
MAX_CHUNK = 64 * MIB
MAX_CHUNKS = 1000
MAX_VIDEO_BYTES = 4 * 1024 * MIB
MAX_PHOTOS = 35
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
PULL_TIMEOUT_S = 10.0


def chunk_problem(video_size: int, chunk_size: int, count: int) -> str | None:
    """Why TikTok's chunk rules refuse these numbers, if they do: files under 5 MB in one
    chunk; otherwise chunks of 5–64 MB, count = floor(size / chunk_size) (the last chunk
    absorbs the remainder, so stays under 128 MB), 1–1000 chunks."""
    if video_size <= 0 or video_size > MAX_VIDEO_BYTES:
        return "video_size must be between 1 byte and 4 GB."
    if video_size < MIN_CHUNK:
        if chunk_size != video_size or count != 1:
            return "A video under 5 MB must be uploaded as one chunk of its whole size."
        return None
    if not MIN_CHUNK <= chunk_size <= min(MAX_CHUNK, video_size):
        return "chunk_size must be between 5 MB and 64 MB."
    if count != video_size // chunk_size or not 1 <= count <= MAX_CHUNKS:
        return f"total_chunk_count must be {video_size // chunk_size} for this chunk_size."
    return None


def video_format_ok(head: bytes) -> bool:
    return head[4:8] == b"ftyp" or head[:4] == b"\x1aE\xdf\xa3"  # MP4/MOV, or WebM


def photo_format_ok(head: bytes) -> bool:
    return head[:3] == b"\xff\xd8\xff" or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


async def pull(client: httpx.AsyncClient, url: str) -> bytes | None:
    """The media at `url`, as TikTok's downloader gets it; None when it can't."""
    try:
        response = await client.get(url)
    except httpx.HTTPError:
        return None
    return response.content if response.is_success else None


def offered_levels(settings: TikTokSettings) -> list[str]:
    """creator_info's privacy_level_options: only SELF_ONLY to an unaudited app."""
    levels = list(settings.privacy_level_options)
    if not settings.audited and settings.unaudited_lists_self_only:
        return [level for level in levels if level == "SELF_ONLY"]
    return levels


def posting_routes(state: TikTokState) -> list[Route]:
    # `state.settings` is read at each request: a reset replaces it.

    def creator_data(request: Request) -> dict[str, Any]:
        creator, settings = state.creator, state.settings
        return {
            "creator_avatar_url": avatar_url(request, creator),
            "creator_username": creator.username,
            "creator_nickname": creator.display_name,
            "privacy_level_options": offered_levels(settings),
            "comment_disabled": settings.comment_disabled,
            "duet_disabled": settings.duet_disabled,
            "stitch_disabled": settings.stitch_disabled,
            "max_video_post_duration_sec": settings.max_video_post_duration_sec,
        }

    async def creator_info(request: Request) -> Response:
        token = authorized(state, request, "video.publish")
        throttle(state, token, "creator_info")
        return ok(creator_data(request))

    def post_policy(open_id: str, privacy: Any, urls: list[str]) -> None:
        """The policy refusals of a direct post (HTTP 403 per the direct-post reference;
        PLATFORMS.md calls their status unconfirmed)."""
        settings = state.settings
        if privacy not in PRIVACY_LEVELS or privacy not in settings.privacy_level_options:
            raise TikTokError(
                403,
                "privacy_level_option_mismatch",
                "privacy_level is unspecified or not one of the creator's privacy_level_options.",
            )
        if not settings.audited and privacy != "SELF_ONLY":
            raise TikTokError(
                403,
                "unaudited_client_can_only_post_to_private_accounts",
                "Unaudited clients can only post to a private account (SELF_ONLY).",
            )
        prefixes = settings.verified_url_prefixes
        if prefixes is not None and not all(url.startswith(tuple(prefixes)) for url in urls):
            raise TikTokError(
                403,
                "url_ownership_unverified",
                "The domain or URL prefix of the media URL is not verified for this client.",
            )
        if state.posts_today(open_id) >= settings.daily_post_cap:
            raise TikTokError(
                403,
                "spam_risk_too_many_posts",
                "The daily post cap from the API is reached for the current user.",
            )

    def new_job(
        open_id: str, kind: str, source: str, inbox: bool, post: dict[str, Any]
    ) -> PublishJob:
        tag = ("p" if kind == "photo" else "v") + ("_inbox" if inbox else "_pub")
        tag += "_file" if source == "FILE_UPLOAD" else "_url"
        publish_id = f"{tag}~v2-1.{state.next_number()}{secrets.randbelow(10**6):06d}"
        job = PublishJob(
            publish_id=publish_id,
            open_id=open_id,
            kind=kind,
            source=source,
            inbox=inbox,
            post=post,
            media_urls=[],
            processing_left=state.settings.processing_polls,
            moderation_left=state.settings.moderation_polls,
        )
        state.jobs[publish_id] = job
        return job

    def commit(job: PublishJob) -> None:
        """The media is in: check it, and make the post unless it fails or goes to the inbox."""
        job.complete = True
        check = video_format_ok if job.kind == "video" else photo_format_ok
        if not check(job.head):
            job.fail_reason = "file_format_check_failed"
        if job.fail_reason or job.inbox:
            return
        video = state.new_video(job)
        job.post_id = video.id
        state.record_publication(
            publish_id=job.publish_id,
            post_id=video.id,
            open_id=job.open_id,
            kind=job.kind,
            source=job.source,
            media=job.media_urls or [f"upload:{job.video_size}"],
            chunks=job.chunks_received,
            **job.post,
        )

    async def pull_media(job: PublishJob, urls: list[str]) -> None:
        job.media_urls = urls
        heads = []
        async with httpx.AsyncClient(
            timeout=PULL_TIMEOUT_S, follow_redirects=True, verify=tls_context()
        ) as client:
            for url in urls:
                data = await pull(client, url)
                if data is None:
                    failed = "video_pull_failed" if job.kind == "video" else "photo_pull_failed"
                    job.fail_reason, job.complete = failed, True
                    return
                heads.append(data[:16])
                job.downloaded += len(data)
        check = video_format_ok if job.kind == "video" else photo_format_ok
        job.head = next((head for head in heads if not check(head)), heads[0])
        commit(job)

    def video_post_info(body: dict[str, Any]) -> dict[str, Any]:
        info = body.get("post_info")
        if not isinstance(info, dict):
            raise invalid_params("post_info is required.")
        post = {
            "title": text_field(info, "title", 2200),
            "privacy_level": info.get("privacy_level"),
            **{name: bool_field(info, name) for name in (
                "disable_duet", "disable_comment", "disable_stitch",
                "brand_content_toggle", "brand_organic_toggle", "is_aigc",
            )},
        }  # fmt: skip
        cover = int_field(info, "video_cover_timestamp_ms", required=False)
        if cover is not None:
            post["video_cover_timestamp_ms"] = cover
        return post

    async def video_init(request: Request, *, inbox: bool) -> Response:
        token = authorized(state, request, "video.upload" if inbox else "video.publish")
        throttle(state, token, "init")
        body = await json_object(request)
        state.received_send(account=token.account_id, text=_title(body))
        post = {} if inbox else video_post_info(body)
        source_info = body.get("source_info")
        if not isinstance(source_info, dict):
            raise invalid_params("source_info is required.")
        source = source_info.get("source")
        if source == "PULL_FROM_URL":
            url = source_info.get("video_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise invalid_params("video_url must be an http(s) URL.")
            urls = [url]
        elif source == "FILE_UPLOAD":
            numbers = [int_field(source_info, name) or 0 for name in (
                "video_size", "chunk_size", "total_chunk_count",
            )]  # fmt: skip
            problem = chunk_problem(*numbers)
            if problem:
                raise invalid_params(problem)
            urls = []
        else:
            raise invalid_params("source must be FILE_UPLOAD or PULL_FROM_URL.")
        if not inbox:
            post_policy(token.account_id, post["privacy_level"], urls)
        job = new_job(token.account_id, "video", source, inbox, post)
        if urls:
            await pull_media(job, urls)
            return ok({"publish_id": job.publish_id})
        job.video_size, job.chunk_size, job.total_chunk_count = numbers
        job.upload_token = secrets.token_urlsafe(16)
        upload_id = str(state.next_number() + 10**9)
        state.uploads[upload_id] = job.publish_id
        upload_url = (
            f"{base_url(request)}/video/?upload_id={upload_id}&upload_token={job.upload_token}"
        )
        return ok({"publish_id": job.publish_id, "upload_url": upload_url})

    async def direct_video_init(request: Request) -> Response:
        return await video_init(request, inbox=False)

    async def inbox_video_init(request: Request) -> Response:
        return await video_init(request, inbox=True)

    async def content_init(request: Request) -> Response:
        token = authorized(state, request, "video.publish", "video.upload")
        body = await json_object(request)
        mode = body.get("post_mode")
        inbox = mode == "MEDIA_UPLOAD"
        authorized(state, request, "video.upload" if inbox else "video.publish")
        throttle(state, token, "init")
        state.received_send(account=token.account_id, text=_title(body))
        if body.get("media_type") != "PHOTO":
            raise invalid_params("media_type must be PHOTO.")
        if mode not in ("DIRECT_POST", "MEDIA_UPLOAD"):
            raise invalid_params("post_mode must be DIRECT_POST or MEDIA_UPLOAD.")
        info, source_info = body.get("post_info"), body.get("source_info")
        if not isinstance(info, dict) or not isinstance(source_info, dict):
            raise invalid_params("post_info and source_info are required.")
        post = {
            "title": text_field(info, "title", 90),
            "description": text_field(info, "description", 4000),
            "privacy_level": info.get("privacy_level"),
            **{name: bool_field(info, name) for name in (
                "disable_comment", "auto_add_music", "brand_content_toggle", "brand_organic_toggle",
            )},
        }  # fmt: skip
        if source_info.get("source") != "PULL_FROM_URL":
            raise invalid_params("Photos can only be posted with source PULL_FROM_URL.")
        images = source_info.get("photo_images")
        if not isinstance(images, list) or not 1 <= len(images) <= MAX_PHOTOS:
            raise invalid_params(f"photo_images must hold 1 to {MAX_PHOTOS} URLs.")
        if not all(
            isinstance(url, str) and url.startswith(("http://", "https://")) for url in images
        ):
            raise invalid_params("Every photo_images entry must be an http(s) URL.")
        cover = int_field(source_info, "photo_cover_index", required=False) or 0
        if cover >= len(images):
            raise invalid_params("photo_cover_index is out of range.")
        if not inbox:
            post_policy(token.account_id, post["privacy_level"], images)
        job = new_job(token.account_id, "photo", "PULL_FROM_URL", inbox, post)
        await pull_media(job, list(images))
        return ok({"publish_id": job.publish_id})

    async def upload(request: Request) -> Response:
        publish_id = state.uploads.get(request.query_params.get("upload_id", ""))
        job = state.jobs.get(publish_id or "")
        if job is None or request.query_params.get("upload_token") != job.upload_token:
            raise TikTokError(404, "invalid_params", "The upload URL is invalid or expired.")
        if job.complete:
            raise TikTokError(400, "invalid_file_upload", "Every chunk was already uploaded.")
        content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if content_type not in VIDEO_TYPES:
            raise TikTokError(400, "invalid_file_upload", "Content-Type must be a video type.")
        match = CONTENT_RANGE.fullmatch(request.headers.get("content-range", ""))
        if match is None:
            raise TikTokError(400, "invalid_file_upload", "Content-Range is missing or invalid.")
        first, last, total = (int(group) for group in match.groups())
        if first != job.received:
            # Chunks must arrive in order: the next one starts where the last one ended.
            raise TikTokError(
                416, "invalid_file_upload", f"Expected the chunk starting at byte {job.received}."
            )
        chunk = await request.body()
        expected = job.expected_chunk()
        if total != job.video_size or last - first + 1 != expected or len(chunk) != expected:
            raise TikTokError(
                400,
                "invalid_file_upload",
                f"Chunk {job.chunks_received + 1} must be bytes {first}-{first + expected - 1}"
                f"/{job.video_size}.",
            )
        if not job.head:
            job.head = chunk[:16]
        job.received += len(chunk)
        job.chunks_received += 1
        if job.chunks_received < job.total_chunk_count:
            return Response(status_code=206)
        commit(job)
        return Response(status_code=201)

    async def status(request: Request) -> Response:
        token = authorized(state, request, "video.publish", "video.upload")
        throttle(state, token, "status")
        body = await json_object(request)
        job = state.jobs.get(str(body.get("publish_id") or ""))
        if job is None or job.open_id != token.account_id:
            raise invalid_params("publish_id is invalid.")
        data: dict[str, Any] = {
            "publicaly_available_post_id": [],  # sic, as TikTok spells it
            "uploaded_bytes": job.received,
            "downloaded_bytes": job.downloaded,
        }
        if not job.complete:
            data["status"] = "PROCESSING_UPLOAD"
        elif job.processing_left > 0:
            job.processing_left -= 1
            pulled = job.source == "PULL_FROM_URL"
            data["status"] = "PROCESSING_DOWNLOAD" if pulled else "PROCESSING_UPLOAD"
        elif job.fail_reason:
            data |= {"status": "FAILED", "fail_reason": job.fail_reason}
        elif job.inbox:
            data["status"] = "SEND_TO_USER_INBOX"
        else:
            data["status"] = "PUBLISH_COMPLETE"
            if job.moderation_left > 0:
                job.moderation_left -= 1
            elif job.post_id is not None:
                data["publicaly_available_post_id"] = [int(job.post_id)]
        return ok(data)

    return [
        Route("/v2/post/publish/creator_info/query/", creator_info, methods=["POST"]),
        Route("/v2/post/publish/video/init/", direct_video_init, methods=["POST"]),
        Route("/v2/post/publish/inbox/video/init/", inbox_video_init, methods=["POST"]),
        Route("/v2/post/publish/content/init/", content_init, methods=["POST"]),
        Route("/video/", upload, methods=["PUT"]),
        Route("/v2/post/publish/status/fetch/", status, methods=["POST"]),
    ]


def _title(body: dict[str, Any]) -> Any:
    """The text a publish request posts (its title), for the send record."""
    info = body.get("post_info")
    return info.get("title") if isinstance(info, dict) else None
