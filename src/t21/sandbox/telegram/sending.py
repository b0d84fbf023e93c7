"""What a send at the Telegram fake goes through: whether the bot may post in the chat, the
chat's per-minute budget, captions, photos and videos checked as Telegram checks them, and the
message made and recorded."""

from __future__ import annotations

import io
import math
import time
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile

from t21.sandbox.telegram.state import (
    BOT_ID,
    BOT_USERNAME,
    BotApiError,
    Chat,
    TelegramState,
    bad_request,
)
from t21.sandbox.telegram.wire import (
    MAX_CAPTION,
    PHOTO_MAX_BYTES,
    VIDEO_MAX_BYTES,
    check_entities,
    int_field,
    json_field,
    utf16_units,
)


def may_post(chat: Chat) -> None:
    kind = chat.type
    if chat.bot_status == "kicked":
        raise BotApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
    if chat.bot_status == "left":
        raise BotApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
    if kind == "channel" and not (chat.bot_status == "administrator" and chat.bot_can_post):
        raise bad_request("need administrator rights in the channel chat")


def spend(state: TelegramState, chat: Chat) -> None:
    now = time.time()
    while chat.sent_at and now - chat.sent_at[0] >= 60:
        chat.sent_at.popleft()
    if len(chat.sent_at) >= state.per_chat_per_minute:
        oldest = chat.sent_at[0] if chat.sent_at else now
        wait = max(1, math.ceil(60 - (now - oldest)))
        raise BotApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
    chat.sent_at.append(now)


def caption_of(parameters: dict[str, Any], where: str = "") -> tuple[str | None, list[Any]]:
    caption = parameters.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise bad_request(f"caption must be a string{where}")
    if caption is not None and len(utf16_units(caption)) // 2 > MAX_CAPTION:
        raise bad_request("message caption is too long")
    entities = check_entities(caption or "", json_field(parameters, "caption_entities"))
    return caption, entities


async def read_photo(state: TelegramState, value: Any) -> dict[str, Any]:
    if isinstance(value, str) and value in state.files:
        return state.files[value]
    if not isinstance(value, UploadFile):
        raise bad_request("there is no photo in the request")
    data = await value.read()
    if not data:
        raise bad_request("file must be non-empty")
    if len(data) > PHOTO_MAX_BYTES:
        raise bad_request("PHOTO_SAVE_FILE_INVALID")
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height, kind = image.width, image.height, image.format
    except (UnidentifiedImageError, OSError):
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    if kind not in ("JPEG", "PNG", "WEBP"):
        raise bad_request("IMAGE_PROCESS_FAILED")
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    file_id = f"AgAC{len(state.files):08d}"
    found = {"file_id": file_id, "width": width, "height": height, "file_size": len(data)}
    state.files[file_id] = found
    return found


async def read_video(
    state: TelegramState, value: Any, parameters: dict[str, Any]
) -> dict[str, Any]:
    if isinstance(value, str) and value in state.files:
        return state.files[value]
    if not isinstance(value, UploadFile):
        raise bad_request("there is no video in the request")
    data = await value.read()
    if not data:
        raise bad_request("file must be non-empty")
    if len(data) > VIDEO_MAX_BYTES:
        raise BotApiError(413, "Request Entity Too Large")
    if data[4:8] != b"ftyp":
        raise bad_request("wrong file type: the video must be an MP4")
    file_id = f"BAAC{len(state.files):08d}"
    found = {
        "file_id": file_id,
        "width": int_field(parameters, "width") or 0,
        "height": int_field(parameters, "height") or 0,
        "duration": int_field(parameters, "duration") or 0,
        "mime_type": "video/mp4",
        "file_size": len(data),
    }
    state.files[file_id] = found
    return found


def new_message(chat: Chat, **content: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": chat.next_message_id(),
        "date": int(time.time()),
        "chat": chat.view(),
        **content,
    }
    if chat.type == "channel":
        message["sender_chat"] = chat.view()
    else:
        message["from"] = {"id": BOT_ID, "is_bot": True, "first_name": "T21 Sandbox",
                           "username": BOT_USERNAME}  # fmt: skip
    chat.messages.append(message)
    chat.by_bot.add(message["message_id"])
    return message


def record_published(
    state: TelegramState, chat: Chat, message: dict[str, Any], **extra: Any
) -> None:
    state.record_publication(
        account=str(chat.id),
        message_id=message["message_id"],
        text=message.get("text", message.get("caption")),
        entities=message.get("entities", message.get("caption_entities", [])),
        **extra,
    )


def captioned(caption: str | None, entities: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if caption:
        found["caption"] = caption
    if entities:
        found["caption_entities"] = entities
    return found
