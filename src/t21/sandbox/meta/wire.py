"""Graph's wire format as the Meta fakes speak it: the error envelope, parameters from the
query (or a form, never JSON), `fields`, timestamps, ids and the standard refusals.
Source: https://developers.facebook.com/docs/graph-api/guides/error-handling
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

VERSION = re.compile(r"v\d+\.\d+")
Params = dict[str, Any]


class GraphError(Exception):
    """A Graph error answer: `{"error": {message, type, code, error_subcode, ...}}`, at HTTP
    400 (500 for codes 1 and 2 without a subcode, as Meta's unknown/service errors)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        kind: str = "OAuthException",
        transient: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.user_title = user_title
        self.user_msg = user_msg
        self.kind = kind
        self.transient = transient

    @property
    def status(self) -> int:
        return 500 if self.code in (1, 2) and self.subcode is None else 400

    def body(self, trace: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.subcode is not None or self.transient:
            error["is_transient"] = self.transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = trace
        return {"error": error}


def graph_time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def shortcode(media_id: str) -> str:
    digest = hashlib.sha256(media_id.encode()).digest()
    return base64.urlsafe_b64encode(digest[:8]).rstrip(b"=").decode()


def int_param(params: Params, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise GraphError(100, f"(#100) Param {name} must be an integer") from None


def pick(available: dict[str, Any], fields: Any, node_type: str) -> dict[str, Any]:
    """The requested `fields` of a node (Graph answers `id` by default)."""
    names = [name.strip() for name in str(fields or "id").split(",") if name.strip()]
    for name in names:
        if name not in available:
            raise GraphError(
                100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})"
            )
    chosen = {name: available[name] for name in names if available[name] is not None}
    return {"id": available["id"], **chosen}


async def request_params(request: Request) -> Params:
    """A Graph call's parameters: the query string, plus a form body on POST. The references
    send every parameter (and `access_token`) in the query; a JSON body is refused (the real
    API's answer to one is unconfirmed, so the fakes are strict)."""
    params: Params = dict(request.query_params)
    if request.method != "POST":
        return params
    raw = await request.body()
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if raw and content_type == "application/json":
        raise GraphError(
            100,
            "(#100) Parameters must be sent in the query string or as a form "
            "(application/x-www-form-urlencoded), not as a JSON body",
        )
    if raw:
        params.update(parse_qsl(raw.decode("utf-8", errors="replace")))
    return params


def unsupported(method: str, node_id: str, *, kind: str = "OAuthException") -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{node_id}' does not exist, cannot "
        "be loaded due to missing permissions, or does not support this operation.",
        subcode=33,
        kind=kind,
    )


def media_kind(head: bytes) -> str | None:
    """The content type a file's first bytes show: JPEG, PNG or an MP4/MOV box."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[4:8] in (b"ftyp", b"moov", b"wide", b"mdat"):
        return "video/mp4"
    return None
