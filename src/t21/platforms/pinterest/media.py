"""Video pins' media: register an upload (`POST /v5/media`), send the file to the address
Pinterest returns (a presigned form POST to its S3 bucket: every `upload_parameters` field,
then the file as `file`), and read the media's status until it is `succeeded`.

The file is streamed from storage in chunks into the multipart body, never held whole. The
upload is one POST (S3's form uploads can't be resumed part-way), so an interrupted one is
sent again; once it is done, the media id is kept with the attempt (`Continuing.progress`) and
a later attempt only waits for processing, never uploads again.

An upload cut off (a failure, a lost answer, a killed worker) leaves nothing T21 can continue:
S3 keeps nothing of a form POST that didn't arrive whole, and the registration's form fields
are signed for one POST of the whole file. The next attempt registers again and sends the
whole file; the attempts are bounded by `T21_PUBLISH_MAX_ATTEMPTS`, after which the target
fails. No pin is created before an upload has succeeded and been processed, so a cut-off
upload never makes a pin, and a killed worker's publication is found absent at Pinterest
(`find_recent`) and goes on.

Sources: Pinterest's media registration ("make an HTTP POST request to upload_url …, send the
media file's contents as the request's file parameter and also include all of the parameters
from upload_parameters"):
https://developers.pinterest.com/docs/api/v5/media-create and Pinterest's generated SDK
(`MediaApi.media_create`); S3's browser-based uploads are one POST of the whole object under a
signed policy (resuming needs the multipart-upload API and credentials of the bucket, which
Pinterest doesn't hand out):
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

from t21.core.outside import Permanent, Retryable
from t21.platforms.base import MediaItem
from t21.platforms.http import PlatformHttp
from t21.platforms.pinterest.wire import PinterestApi, error_of

CHUNK_BYTES = 8 * 1024 * 1024
EXTENSIONS = {"video/mp4": "mp4", "video/quicktime": "mov", "video/x-m4v": "m4v"}


class MultipartStream:
    """A multipart/form-data body of text fields and one file, produced chunk by chunk."""

    def __init__(self, fields: dict[str, str], item: MediaItem) -> None:
        self.boundary = f"t21-{secrets.token_hex(16)}"
        self.item = item
        parts = [
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        ]
        extension = EXTENSIONS.get(item.content_type, "mp4")
        parts.append(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="video.{extension}"\r\nContent-Type: {item.content_type}\r\n\r\n'
        )
        self.head = "".join(parts).encode("utf-8")
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def length(self) -> int:
        return len(self.head) + self.item.size + len(self.tail)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        offset = 0
        while offset < self.item.size:
            chunk = await self.item.read(offset, min(CHUNK_BYTES, self.item.size - offset))
            if not chunk:
                raise Retryable("The video's file ended early in storage.", code="media_short")
            offset += len(chunk)
            yield chunk
        yield self.tail


async def register(api: PinterestApi) -> dict[str, Any]:
    """A new media upload: its `media_id`, `upload_url` and `upload_parameters`."""
    body = await api.call(
        "POST", "/media", json={"media_type": "video"}, what="registering the video's upload"
    )
    if not isinstance(body.get("media_id"), str) or not isinstance(body.get("upload_url"), str):
        raise Retryable("Pinterest registered the upload without its address.", code="bad_answer")
    return body


async def upload(http: PlatformHttp, registered: dict[str, Any], item: MediaItem) -> None:
    """Send the video to where Pinterest said; S3 answers 204 with no body."""
    parameters = registered.get("upload_parameters") or {}
    fields = {str(name): str(value) for name, value in dict(parameters).items()}
    body = MultipartStream(fields, item)
    response = await http.request(
        "POST",
        str(registered["upload_url"]),
        content=body,
        headers={"Content-Type": body.content_type, "Content-Length": str(body.length)},
    )
    if response.is_success:
        return
    code, message = error_of(response)
    detail = f"{message} ({code})"
    if response.status_code >= 500 or response.status_code in (403, 408, 429):
        # An expired policy (403) or a busy bucket: a new registration and upload will do.
        raise Retryable(f"Uploading the video to Pinterest failed: {detail}", code="upload")
    raise Permanent(f"Pinterest's upload refused the video: {detail}", code="upload_refused")


async def processed(api: PinterestApi, media_id: str, *, interval_s: float, wait_s: float) -> bool:
    """Whether the media is `succeeded`, reading its status for up to `wait_s` seconds;
    `Permanent` when Pinterest says it `failed`."""
    deadline = time.monotonic() + wait_s
    while True:
        body = await api.call("GET", f"/media/{media_id}", what="the video's processing")
        status = body.get("status")
        if status == "succeeded":
            return True
        if status == "failed":
            raise Permanent("Pinterest could not process the video.", code="video_failed")
        if time.monotonic() + interval_s > deadline:
            return False
        await asyncio.sleep(interval_s)
