"""Fetching and inspecting media as Instagram does: it downloads every image and video from its
public URL, refuses what it can't fetch, and checks format, size, aspect ratio and duration."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import httpx

from t21.core.tls import tls_context
from t21.sandbox.meta.wire import GraphError

MB = 1024 * 1024
MAX_IMAGE_BYTES = 8 * MB
MAX_VIDEO_BYTES = 300 * MB
MIN_ASPECT, MAX_ASPECT = 0.8, 1.91
HEAD_BYTES = 256 * 1024  # enough to find PNG/JPEG dimensions and an early `mvhd`
DOWNLOAD_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Fetched:
    size: int
    head: bytes


@dataclass
class FetchFailed(Exception):
    """Why a URL could not be fetched, as Graph reports it."""

    subcode: int
    code: int
    message: str
    user_title: str
    user_msg: str

    def graph_error(self) -> GraphError:
        return GraphError(
            self.code,
            self.message,
            subcode=self.subcode,
            user_title=self.user_title,
            user_msg=self.user_msg,
        )


async def fetch(url: str, max_bytes: int) -> Fetched:
    """Download `url` (keeping its first bytes), or FetchFailed with Instagram's error."""
    try:
        async with (
            httpx.AsyncClient(
                timeout=DOWNLOAD_TIMEOUT_S, follow_redirects=True, verify=tls_context()
            ) as http,
            http.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise _not_fetched(url)
            size, head = 0, bytearray()
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                if size > max_bytes:
                    return Fetched(size=size, head=bytes(head))
            return Fetched(size=size, head=bytes(head))
    except httpx.TimeoutException:
        raise FetchFailed(
            2207003,
            -2,
            "It takes too long to download the media.",
            "Timeout downloading media",
            "It takes too long to download the media.",
        ) from None
    except (httpx.HTTPError, ValueError):
        raise _not_fetched(url) from None


def _not_fetched(url: str) -> FetchFailed:
    return FetchFailed(
        2207052,
        9004,
        "Only photo or video can be accepted as media type.",
        "Media download has failed.",
        f"The media could not be fetched from this uri: {url}",
    )


async def fetch_image(url: str, *, check_aspect: bool) -> tuple[int, int]:
    """An image Instagram accepts (JPEG or PNG, ≤ 8 MiB, 4:5 to 1.91:1 in the feed), as its
    width and height; GraphError otherwise. Instagram rescales widths outside 320–1440."""
    try:
        fetched = await fetch(url, MAX_IMAGE_BYTES)
    except FetchFailed as failed:
        raise failed.graph_error() from None
    if fetched.size > MAX_IMAGE_BYTES:
        raise GraphError(
            36000,
            "The image size is too large.",
            subcode=2207004,
            user_title="Image size too large",
            user_msg="The image is too large to download. It should be less than 8 MiB.",
        )
    dimensions = image_dimensions(fetched.head)
    if dimensions is None:
        raise GraphError(
            36001,
            "The image format is not supported.",
            subcode=2207005,
            user_title="Unsupported image format",
            user_msg="The image format is not supported. Supported formats are: JPEG, PNG.",
        )
    width, height = dimensions
    if check_aspect and not MIN_ASPECT - 0.001 <= width / height <= MAX_ASPECT + 0.001:
        raise GraphError(
            36003,
            "The aspect ratio is not supported.",
            subcode=2207009,
            user_title="Invalid aspect ratio",
            user_msg=(
                f"The submitted image with aspect ratio ('{width}/{height}',) cannot be "
                "published. Please submit an image with a valid aspect ratio."
            ),
        )
    return width, height


async def video_problem(
    url: str, *, min_s: float, max_s: float, thumb_offset_ms: int | None
) -> str | None:
    """Why Instagram's processing of the video at `url` would end in ERROR (the container's
    `status` text, with its subcode), or None. Durations are checked when the file says them
    (an `mvhd` box near its start)."""
    try:
        fetched = await fetch(url, MAX_VIDEO_BYTES)
    except FetchFailed as failed:
        return f"Error: {failed.user_msg} Media upload has failed with error code {failed.subcode}"
    if fetched.size > MAX_VIDEO_BYTES:
        return "Error: The video file is too large. Media upload has failed with error code 2207026"
    if fetched.head[4:8] != b"ftyp":
        return (
            "Error: The video format is not supported. Please check spec for supported "
            "streams format. Media upload has failed with error code 2207026"
        )
    duration = mp4_duration_s(fetched.head)
    if duration is not None and not min_s <= duration <= max_s:
        return (
            f"Error: The video is {duration:.1f} s long; it must last {min_s:g} to {max_s:g} s. "
            "Media upload has failed with error code 2207026"
        )
    if duration is not None and thumb_offset_ms is not None and thumb_offset_ms >= duration * 1000:
        return (
            "Error: Thumbnail offset must be greater than or equal to 0 and less than video "
            f"duration, i.e. {int(duration * 1000)}. Media upload has failed with error code "
            "2207057"
        )
    return None


def image_dimensions(head: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG from its first bytes; None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return (width, height) if width and height else None
    if head.startswith(b"\xff\xd8"):
        return _jpeg_dimensions(head)
    return None


def _jpeg_dimensions(head: bytes) -> tuple[int, int] | None:
    start_of_frame = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE}
    offset = 2
    while offset + 9 <= len(head):
        if head[offset] != 0xFF:
            return None
        marker = head[offset + 1]
        length = struct.unpack(">H", head[offset + 2 : offset + 4])[0]
        if marker in start_of_frame:
            height, width = struct.unpack(">HH", head[offset + 5 : offset + 9])
            return (width, height) if width and height else None
        offset += 2 + length
    return None


def mp4_duration_s(head: bytes) -> float | None:
    """The movie duration from an `mvhd` box, if one is in `head`."""
    at = head.find(b"mvhd")
    if at < 0:
        return None
    version = head[at + 4] if at + 4 < len(head) else None
    if version == 0 and at + 24 <= len(head):
        timescale, duration = struct.unpack(">II", head[at + 16 : at + 24])
    elif version == 1 and at + 36 <= len(head):
        timescale = struct.unpack(">I", head[at + 24 : at + 28])[0]
        duration = struct.unpack(">Q", head[at + 28 : at + 36])[0]
    else:
        return None
    return duration / timescale if timescale else None
