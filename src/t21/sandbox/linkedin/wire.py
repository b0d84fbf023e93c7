"""How the LinkedIn fake speaks: LinkedIn's error envelopes, JSON bodies, the `little` text
format of commentary, and what LinkedIn's media processing would make of uploaded bytes."""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_IMAGE_PIXELS = 36_152_320
LITTLE_RESERVED = frozenset("\\|{}@[]()<>#*_~")
MENTION = re.compile(r"@\[([^\]]*)\]\((urn:li:(?:person|organization):[^)]+)\)")


@dataclass
class Refusal(Exception):
    """An error answer in LinkedIn's envelope."""

    status: int
    body: dict[str, Any]


def refusal(
    status: int, message: str, code: str | None = None, service: int | None = None
) -> Refusal:
    """`{"status", "serviceErrorCode"?, "code"?, "message"}`, as 401/403/404/426/429 come."""
    body: dict[str, Any] = {"status": status, "message": message}
    if code is not None:
        body["code"] = code
    if service is not None:
        body["serviceErrorCode"] = service
    return Refusal(status, body)


def access_denied(message: str) -> Refusal:
    return refusal(403, message, "ACCESS_DENIED", 100)


def bad_request(message: str, status: int = 400, **input_error: Any) -> Refusal:
    """A validation error the way `/rest/posts` reports one (errorDetailType, inputErrors)."""
    body: dict[str, Any] = {
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": message,
        "status": status,
    }
    if input_error:
        body["errorDetails"] = {"inputErrors": [input_error]}
    return Refusal(status, body)


def unprocessable(message: str, code: str = "UNPROCESSABLE_ENTITY") -> Refusal:
    return refusal(422, message, code)


async def refusal_response(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return JSONResponse(exc.body, status_code=exc.status)


async def json_of(request: Request) -> dict[str, Any]:
    """The JSON object of a create or action call; LinkedIn's Rest.li gateway parses bodies by
    their Content-Type (its answer to another type is unconfirmed: the fake refuses it)."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/json":
        raise refusal(415, f"Unsupported Content-Type {content_type or '(none)'}: use JSON.")
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise bad_request("Unable to parse the request body as JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def section(body: dict[str, Any], name: str) -> dict[str, Any]:
    """`body[name]` when it is an object, else an empty one (validated by the caller)."""
    value = body.get(name)
    return value if isinstance(value, dict) else {}


def render_little(commentary: str) -> str:
    """What LinkedIn shows for `little` commentary: escapes resolved, `#hashtags` kept, mentions
    `@[Name](urn)` shown by name, and, like LinkedIn, everything from the first unescaped
    reserved character on silently dropped."""
    out: list[str] = []
    index = 0
    while index < len(commentary):
        char = commentary[index]
        if char == "\\" and index + 1 < len(commentary):
            out.append(commentary[index + 1])
            index += 2
            continue
        mention = MENTION.match(commentary, index) if char == "@" else None
        if mention is not None:
            out.append(mention.group(1))
            index = mention.end()
            continue
        if char == "#" and commentary[index + 1 : index + 2].isalnum():
            out.append(char)
        elif char in LITTLE_RESERVED:
            break
        else:
            out.append(char)
        index += 1
    return "".join(out)


def image_verdict(data: bytes) -> tuple[str, str | None]:
    """The image's content type, and why LinkedIn's processing would fail it, if it would."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        kind = "image/png"
    elif data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        kind = "image/gif"
    elif data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", None
    else:
        return "application/octet-stream", "Unsupported image format: use JPEG, PNG or GIF"
    if width * height >= MAX_IMAGE_PIXELS:
        return kind, f"The image has {width * height} pixels; the limit is {MAX_IMAGE_PIXELS}"
    return kind, None


def video_verdict(data: bytes) -> tuple[str, str | None]:
    """MP4 files open with an `ftyp` box; anything else fails processing."""
    if data[4:8] == b"ftyp":
        return "video/mp4", None
    return "application/octet-stream", "Video format not supported: upload an MP4 file"
