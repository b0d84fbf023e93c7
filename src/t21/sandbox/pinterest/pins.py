"""Boards, pins and pin analytics: `GET /v5/boards`, `POST|GET /v5/pins`, `GET
/v5/pins/{id}` and `GET /v5/pins/{id}/analytics`, validated as the API reference says
(PinCreate's lengths, media sources, 2-5 carousel items, a board the person may pin to).
Image URLs are downloaded for real."""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.core.tls import tls_context
from t21.sandbox.pinterest.state import Pin, PinterestState
from t21.sandbox.pinterest.wire import (
    PinterestError,
    authorized,
    invalid,
    json_object,
    page,
    text_field,
)

PIN_FIELDS = frozenset(
    {
        "alt_text", "board_id", "board_section_id", "description", "dominant_color", "link",
        "media_source", "parent_pin_id", "sponsor_id", "title",
    }
)  # fmt: skip
IMAGE_CONTENT_TYPES = ("image/jpeg", "image/png")
PULL_TIMEOUT_S = 10.0
METRICS = ("IMPRESSION", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK")
ANALYTICS_METRICS = frozenset(
    {
        "IMPRESSION", "OUTBOUND_CLICK", "PIN_CLICK", "SAVE", "SAVE_RATE", "TOTAL_COMMENTS",
        "TOTAL_REACTIONS", "USER_FOLLOW", "PROFILE_VISIT", "VIDEO_MRC_VIEW", "VIDEO_START",
        "VIDEO_AVG_WATCH_TIME", "VIDEO_V50_WATCH_TIME", "QUARTILE_95_PERCENT_VIEW",
        "VIDEO_10S_VIEW", "ALL",
    }
)  # fmt: skip


def image_bytes_ok(data: bytes) -> bool:
    return data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"))


def pin_view(pin: Pin) -> dict[str, Any]:
    created = datetime.fromtimestamp(pin.created_at, UTC).replace(microsecond=0)
    return {
        "id": pin.id,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "board_id": pin.board_id,
        "title": pin.title,
        "description": pin.description,
        "link": pin.link,
        "alt_text": pin.alt_text,
        "is_owner": True,
        "media": {"media_type": pin.media_type},
    }


def pin_routes(state: PinterestState) -> list[Route]:
    async def boards(request: Request) -> Response:
        token = authorized(state, request, "org_read", "boards:read")
        username = state.user.username if token.account_id == state.user.id else ""
        items = [
            {"id": b.id, "name": b.name, "privacy": b.privacy, "owner": {"username": b.owner}}
            for b in state.visible_boards(username)
        ]
        return page(request, items)

    async def pull_image(client: httpx.AsyncClient, url: Any) -> None:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise invalid("Invalid image url.")
        try:
            answer = await client.get(url)
        except httpx.HTTPError:
            raise invalid("Sorry we could not fetch the image.") from None
        if answer.status_code != 200 or not image_bytes_ok(answer.content):
            raise invalid("Sorry we could not fetch the image.")

    def base64_image(item: dict[str, Any]) -> None:
        if item.get("content_type") not in IMAGE_CONTENT_TYPES:
            raise invalid("content_type must be image/jpeg or image/png.")
        try:
            data = base64.b64decode(str(item.get("data") or ""), validate=True)
        except binascii.Error:
            raise invalid("data must be Base64.") from None
        if not image_bytes_ok(data):
            raise invalid("The image data is not a JPEG or PNG image.")

    async def media_of(source: Any, user_id: str) -> str:
        """Check `media_source` as Pinterest would; the pin's media_type."""
        if not isinstance(source, dict):
            raise invalid("media_source is required.")
        kind = source.get("source_type")
        async with httpx.AsyncClient(
            timeout=PULL_TIMEOUT_S, follow_redirects=True, verify=tls_context()
        ) as client:
            if kind == "image_url":
                await pull_image(client, source.get("url"))
                return "image"
            if kind == "image_base64":
                base64_image(source)
                return "image"
            if kind in ("multiple_image_urls", "multiple_image_base64"):
                items = source.get("items")
                if not isinstance(items, list) or not 2 <= len(items) <= 5:
                    raise invalid("items must have between 2 and 5 images.")
                for item in items:
                    if not isinstance(item, dict):
                        raise invalid("Each item must be an object.")
                    if kind == "multiple_image_urls":
                        await pull_image(client, item.get("url"))
                    else:
                        base64_image(item)
                return "multiple_images"
        if kind == "video_id":
            upload = state.uploads.get(str(source.get("media_id")))
            if upload is None or upload.user_id != user_id:
                raise invalid("Media not found.")
            if upload.status != "succeeded":
                raise invalid(f"The video is not ready (status {upload.status}).")
            covers = ("cover_image_url", "cover_image_key_frame_time", "cover_image_data")
            if not any(source.get(name) is not None for name in covers):
                raise invalid("A video Pin needs a cover image or a key frame time.")
            return "video"
        raise invalid(f"Unsupported source_type: {kind}.")

    async def create(request: Request) -> Response:
        token = authorized(
            state, request, "org_write", "boards:read", "boards:write", "pins:read", "pins:write"
        )
        body = await json_object(request)
        description = body.get("description")
        state.received_send(account=token.account_id, text=description)
        unknown = sorted(set(body) - PIN_FIELDS)
        if unknown:
            raise invalid(f"Unknown fields: {', '.join(unknown)}.")
        board_id = body.get("board_id")
        if not isinstance(board_id, str) or not board_id.isdigit():
            raise invalid("board_id is required.")
        board = next((b for b in state.boards if b.id == board_id), None)
        username = state.user.username if token.account_id == state.user.id else ""
        if board is None or board not in state.visible_boards(username):
            raise PinterestError(404, 40, "Board not found.")
        texts = {
            name: text_field(body, name, limit)
            for name, limit in (
                ("title", 100), ("description", 800), ("alt_text", 500), ("link", 2048),
            )
        }  # fmt: skip
        link = texts["link"]
        if link is not None and urlsplit(link).scheme not in ("http", "https"):
            raise invalid("Invalid link.")
        media_type = await media_of(body.get("media_source"), token.account_id)
        pin = Pin(
            id=state.next_id(),
            user_id=token.account_id,
            board_id=board.id,
            description=texts["description"],
            title=texts["title"],
            link=link,
            alt_text=texts["alt_text"],
            media_type=media_type,
            created_at=time.time(),
        )
        state.pins.append(pin)
        state.record_publication(pin_id=pin.id, board_id=board.id, media_type=media_type,
                                 description=pin.description)  # fmt: skip
        return JSONResponse(pin_view(pin), status_code=201)

    async def listing(request: Request) -> Response:
        token = authorized(state, request, "org_read", "pins:read")
        mine = [pin for pin in state.pins if pin.user_id == token.account_id]
        return page(request, [pin_view(pin) for pin in reversed(mine)])

    def owned(request: Request, user_id: str) -> Pin:
        pin = state.pin(request.path_params["pin_id"])
        if pin is None or pin.user_id != user_id:
            raise PinterestError(404, 50, "Pin not found.")
        return pin

    async def read(request: Request) -> Response:
        token = authorized(state, request, "org_read", "boards:read", "pins:read")
        return JSONResponse(pin_view(owned(request, token.account_id)))

    def day(request: Request, name: str) -> date:
        try:
            return date.fromisoformat(request.query_params.get(name, ""))
        except ValueError:
            raise invalid("Invalid pins analytics parameters.") from None

    async def analytics(request: Request) -> Response:
        token = authorized(state, request, "org_analytics", "boards:read", "pins:read")
        start, end = day(request, "start_date"), day(request, "end_date")
        today = datetime.now(UTC).date()
        if start < today - timedelta(days=90) or end < start or end - start > timedelta(90):
            raise invalid("Invalid pins analytics parameters.")
        asked = [m for m in request.query_params.get("metric_types", "").split(",") if m]
        if not asked or any(metric not in ANALYTICS_METRICS for metric in asked):
            raise invalid("Invalid pins analytics parameters.")
        pin = owned(request, token.account_id)
        state.grow(pin.counts, post_key=pin.id, published_at=pin.created_at, names=METRICS)
        summary = {m: pin.counts[m] for m in METRICS if m in asked or "ALL" in asked}
        daily = [{"date": today.isoformat(), "data_status": "READY", "metrics": summary}]
        return JSONResponse(
            {"all": {"daily_metrics": daily, "summary_metrics": summary, "lifetime_metrics": {}}}
        )

    return [
        Route("/v5/boards", boards, methods=["GET"]),
        Route("/v5/pins", create, methods=["POST"]),
        Route("/v5/pins", listing, methods=["GET"]),
        Route("/v5/pins/{pin_id}", read, methods=["GET"]),
        Route("/v5/pins/{pin_id}/analytics", analytics, methods=["GET"]),
    ]
