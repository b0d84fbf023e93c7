"""X's dedicated media upload endpoints: `initialize`, `append` (multipart, or JSON with base64
`media`), `finalize`, the `STATUS` command's processing state machine, and alt text through
`/2/media/metadata`."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.twitter.state import TwitterState, Upload
from t21.sandbox.twitter.wire import invalid_request, json_object, multipart_fields

MB = 1024 * 1024
EXPIRES_AFTER_S = 86_400
MAX_SEGMENTS = 1000
# The v1.1 docs cap a chunk at 5 MB; the v2 docs don't say (unconfirmed), so the fake keeps it.
MAX_SEGMENT_BYTES = 5 * MB
MAX_ALT_TEXT = 1000
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
# Which media types each category takes, and how large a file may be.
CATEGORIES: dict[str, tuple[frozenset[str], int]] = {
    "tweet_image": (IMAGE_TYPES, 5 * MB),
    "dm_image": (IMAGE_TYPES, 5 * MB),
    "tweet_gif": (frozenset({"image/gif"}), 15 * MB),
    "dm_gif": (frozenset({"image/gif"}), 15 * MB),
    "tweet_video": (VIDEO_TYPES, 512 * MB),
    "amplify_video": (VIDEO_TYPES, 512 * MB),
    "dm_video": (VIDEO_TYPES, 512 * MB),
}
KEY_PREFIX = {"photo": "3", "video": "7", "animated_gif": "16"}
UNSUPPORTED = {
    "code": 1,
    "name": "InvalidMedia",
    "message": "Invalid or Unsupported media, Reason: UnsupportedMedia.",
}


def sniffed_type(data: bytes) -> str | None:
    """The media type the bytes really are, as X's processing would find out."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"GIF8"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


def media_routes(state: TwitterState) -> list[Route]:
    def owned_upload(request: Request, media_id: str) -> Upload:
        caller = state.caller(request, "media.write")
        upload = state.uploads.get(media_id)
        if upload is None or upload.owner != caller.account_id:
            raise invalid_request(f"Invalid media id: {media_id}", media_id=media_id)
        return upload

    async def initialize(request: Request) -> Response:
        caller = state.caller(request, "media.write")
        body = await json_object(request)
        media_type, category = body.get("media_type"), body.get("media_category", "tweet_image")
        total = body.get("total_bytes")
        if category not in CATEGORIES:
            raise invalid_request(f"Invalid media_category: {category}", media_category=category)
        types, max_bytes = CATEGORIES[category]
        if media_type not in types:
            raise invalid_request(
                f"media_type {media_type} is not supported for {category}", media_type=media_type
            )
        if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
            raise invalid_request("total_bytes must be a positive integer", total_bytes=total)
        if total > max_bytes:
            raise invalid_request(
                f"File size exceeds {max_bytes} bytes for {category}.", total_bytes=total
            )
        media_id = state.ids.next()
        upload = Upload(
            id=media_id,
            media_key="",
            owner=caller.account_id,
            media_type=media_type,
            category=category,
            total_bytes=total,
            created_at=time.time(),
        )
        upload.media_key = f"{KEY_PREFIX[upload.kind]}_{media_id}"
        state.uploads[media_id] = upload
        return JSONResponse(
            {"data": {"id": media_id, "media_key": upload.media_key,
                      "expires_after_secs": EXPIRES_AFTER_S}}
        )  # fmt: skip

    async def segment_of(request: Request) -> tuple[Any, bytes | None]:
        content_type = request.headers.get("content-type", "")
        if content_type.lower().startswith("multipart/form-data"):
            fields = multipart_fields(content_type, await request.body())
            index = fields.get("segment_index", b"").decode("ascii", errors="replace")
            return (int(index) if index.isdigit() else index or None), fields.get("media")
        body = await json_object(request)
        try:
            data = base64.b64decode(str(body.get("media", "")), validate=True)
        except (binascii.Error, ValueError):
            data = b""
        return body.get("segment_index"), data or None

    async def append(request: Request) -> Response:
        upload = owned_upload(request, request.path_params["media_id"])
        index, data = await segment_of(request)
        if upload.finalized:
            raise invalid_request("Media was already finalized.", media_id=upload.id)
        if not isinstance(index, int) or not 0 <= index < MAX_SEGMENTS:
            raise invalid_request("segment_index must be between 0 and 999", segment_index=index)
        if data is None:
            raise invalid_request("media is required", media=None)
        if len(data) > MAX_SEGMENT_BYTES:
            raise invalid_request("Segment size exceeds 5 MB.", segment_index=index)
        upload.segments[index] = data
        if sum(len(part) for part in upload.segments.values()) > upload.total_bytes:
            del upload.segments[index]
            raise invalid_request("Segments exceed the declared total_bytes.", segment_index=index)
        return JSONResponse({"data": {"expires_at": int(upload.created_at) + EXPIRES_AFTER_S}})

    def describe(upload: Upload) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": upload.id,
            "media_key": upload.media_key,
            "size": upload.total_bytes,
            "expires_after_secs": max(0, int(upload.created_at + EXPIRES_AFTER_S - time.time())),
        }
        if upload.processing is not None:
            info: dict[str, Any] = {"state": upload.processing}
            if upload.processing in ("pending", "in_progress"):
                info["check_after_secs"] = state.check_after_secs
            if upload.processing == "in_progress":
                done = state.processing_polls - upload.polls_left
                info["progress_percent"] = int(100 * done / (state.processing_polls + 1))
            if upload.processing == "succeeded":
                info["progress_percent"] = 100
            if upload.error is not None:
                info["error"] = upload.error
            data["processing_info"] = info
        return data

    async def finalize(request: Request) -> Response:
        upload = owned_upload(request, request.path_params["media_id"])
        if upload.finalized:
            return JSONResponse({"data": describe(upload)})
        received = upload.data()
        if len(received) != upload.total_bytes:
            raise invalid_request(
                "Segments do not add up to provided total file size.", media_id=upload.id
            )
        actual = sniffed_type(received)
        if upload.kind == "photo" and actual not in IMAGE_TYPES:
            raise invalid_request("media type unrecognized.", media_id=upload.id)
        upload.finalized = True
        if upload.kind != "photo":  # videos and GIFs are processed asynchronously
            upload.processing = "pending"
            upload.polls_left = state.processing_polls
            if actual is None or actual.split("/")[0] != upload.media_type.split("/")[0]:
                upload.error = dict(UNSUPPORTED)
        return JSONResponse({"data": describe(upload)})

    async def status(request: Request) -> Response:
        command = request.query_params.get("command")
        if command != "STATUS":
            raise invalid_request("command must be STATUS", command=command)
        upload = owned_upload(request, request.query_params.get("media_id", ""))
        if not upload.finalized:
            raise invalid_request("Media has not been finalized.", media_id=upload.id)
        if upload.processing in ("pending", "in_progress"):
            if upload.polls_left > 0:
                upload.polls_left -= 1
                upload.processing = "in_progress"
            else:
                upload.processing = "failed" if upload.error is not None else "succeeded"
        return JSONResponse({"data": describe(upload)})

    async def metadata(request: Request) -> Response:
        body = await json_object(request)
        upload = owned_upload(request, str(body.get("id", "")))
        if upload.kind == "video":
            # X documents alt text for images and GIFs only (docs.x.com create-media-metadata;
            # the v1.1 page: "only for images and GIFs"); its answer for a video is unconfirmed,
            # so the fake refuses it.
            raise invalid_request(
                "alt_text is supported only for images and GIFs", id=upload.id, type=upload.kind
            )
        alt = (body.get("metadata") or {}).get("alt_text") or {}
        text = alt.get("text") if isinstance(alt, dict) else None
        if not isinstance(text, str) or len(text) > MAX_ALT_TEXT:
            raise invalid_request("alt_text.text must be at most 1000 characters", alt_text=text)
        upload.alt_text = text
        return JSONResponse(
            {"data": {"id": upload.id, "associated_metadata": {"alt_text": {"text": text}}}}
        )

    return [
        Route("/2/media/upload/initialize", initialize, methods=["POST"]),
        Route("/2/media/upload/{media_id}/append", append, methods=["POST"]),
        Route("/2/media/upload/{media_id}/finalize", finalize, methods=["POST"]),
        Route("/2/media/upload", status, methods=["GET"]),
        Route("/2/media/metadata", metadata, methods=["POST"]),
    ]
