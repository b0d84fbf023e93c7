"""A fake of the Telegram Bot API (https://core.telegram.org/bots/api), strict like Telegram, so
T21's adapter runs against it unchanged:

- `GET|POST /bot<token>/<method>` with parameters in the query, a form, multipart or JSON;
  answers `{"ok": true, "result": …}` or `{"ok": false, "error_code", "description",
  "parameters"?}` with the HTTP status of `error_code`. The sandbox's bot token is T21's sandbox
  client secret; any other is 401 Unauthorized, an unknown method 404 Not Found.
- Chats: every well-formed public `@username` (and every private channel id of Telegram's
  form, -100 and ten or more digits) exists, as a channel where the bot is an administrator
  allowed to post (`/_control/chats` makes others: groups, private chats by id,
  a bot that is only a member, left or was kicked). `getMe`, `getChat`, `getChatMember`,
  `getChatAdministrators`.
- `getUpdates` (`offset` confirms and forgets earlier updates, `limit` 1-100, updates kept 24
  hours, 409 while a webhook is set): channel posts and group messages put there with
  `/_control/chats/{chat}/posts` — how a test plays the person who posts a proof code.
- `sendMessage`, `sendPhoto`, `sendVideo`, `sendMediaGroup` (2-10 photos and videos, files as
  `attach://<name>` multipart parts). Refused as Telegram refuses them: a chat the bot isn't in
  (403 "bot is not a member", "bot was kicked"), a channel where it may not post (400 "need
  administrator rights"), text empty or over 4096 and captions over 1024 UTF-16 units,
  entities that fall outside the text or split a UTF-16 surrogate pair, a photo over 10 MB or
  whose width + height pass 10000 or whose sides differ more than 20 times, a video over 50 MB
  or that isn't an MP4. More than 20 messages a minute in one chat is 429 "Too Many Requests:
  retry after N" with `parameters.retry_after`. Identical messages are not refused (Telegram
  doesn't refuse them either). `parse_mode` isn't parsed here: T21 sends entities.

`/_control` adds to the shared routes (`t21.sandbox.platform`):

- `POST /chats` `{username?, type?, title?, bot_status?, can_post_messages?,
  owner_posts_proofs?}`: a chat;
- `POST /chats/{chat}/owner-proof` `{text}`: the chat's owner posts a proof code — how T21,
  against the sandbox only, stands in for the person connecting (403 for a chat made with
  `owner_posts_proofs: false`, where the code must be posted with `/posts`);
- `POST /chats/{chat}/posts` `{text, as?: "chat" | "owner" | "member", age_s?, count?}`:
  `count` posts made `age_s` seconds ago, by the chat itself or a group's owner or member;
- `POST /chats/{chat}/bot` `{status, can_post_messages?}`: the bot's membership;
- `GET /chats/{chat}/messages` (`?sent_by=bot`: the bot's only);
- `POST /limits` `{per_chat_per_minute}`, `POST /webhook` `{url}`.
"""

from __future__ import annotations

import io
import json
import math
import time
from typing import Any

from PIL import Image, UnidentifiedImageError
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import ControlError, control_body, control_error, optional
from t21.sandbox.platform import FaultMiddleware, control_routes
from t21.sandbox.telegram.state import (
    BOT_ID,
    BOT_USERNAME,
    UPDATES_KEPT_S,
    BotApiError,
    Chat,
    TelegramState,
    bad_request,
)

__all__ = ["TelegramState", "create_telegram_app"]

MAX_TEXT = 4096
MAX_CAPTION = 1024
PHOTO_MAX_BYTES = 10 * 1024 * 1024
VIDEO_MAX_BYTES = 50 * 1024 * 1024
ENTITY_TYPES = frozenset(
    {
        "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
        "italic", "underline", "strikethrough", "spoiler", "blockquote",
        "expandable_blockquote", "code", "pre", "text_link", "text_mention", "custom_emoji",
    }
)  # fmt: skip


async def bot_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BotApiError)
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return JSONResponse(body, status_code=exc.code)


def _ok(result: Any) -> Response:
    return JSONResponse({"ok": True, "result": result})


def utf16_units(text: str) -> bytes:
    return text.encode("utf-16-le")


async def _parameters(request: Request) -> dict[str, Any]:
    """The method's parameters, however they came (query, form, multipart or JSON)."""
    found: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return found
    kind = request.headers.get("content-type", "")
    if kind.startswith("application/json"):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise bad_request("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise bad_request("can't parse JSON object")
        return found | body
    if kind.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=20, max_fields=100, max_part_size=VIDEO_MAX_BYTES)
        for name, value in form.multi_items():
            found[name] = value
    return found


def _json_field(parameters: dict[str, Any], name: str) -> Any:
    """A parameter that is JSON-serialized in a form (entities, media, allowed_updates)."""
    value = parameters.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    return value


def _int(parameters: dict[str, Any], name: str) -> int | None:
    value = parameters.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name} specified") from None


def _flag(parameters: dict[str, Any], name: str) -> bool:
    value = parameters.get(name)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def check_entities(text: str, entities: Any) -> list[dict[str, Any]]:
    """`entities` if every one lies inside `text` counted in UTF-16 code units, without
    splitting a surrogate pair; else Telegram's 400."""
    if entities is None:
        return []
    if not isinstance(entities, list):
        raise bad_request("can't parse entities: entities must be an array")
    units = utf16_units(text)
    length = len(units) // 2
    checked = []
    for number, entity in enumerate(entities):
        if not isinstance(entity, dict) or entity.get("type") not in ENTITY_TYPES:
            raise bad_request(f"can't parse entities: unsupported entity type at {number}")
        offset, size = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(size, int) or offset < 0 or size <= 0:
            raise bad_request(f"can't parse entities: bad offset or length at {number}")
        if offset + size > length:
            raise bad_request(
                f"can't parse entities: entity {number} ends at {offset + size}, beyond the "
                f"text's {length} UTF-16 code units"
            )
        for edge in (offset, offset + size):
            if (
                edge < length
                and 0xDC00 <= int.from_bytes(units[2 * edge : 2 * edge + 2], "little") <= 0xDFFF
            ):
                raise bad_request(
                    f"can't parse entities: entity {number} splits a character at {edge}"
                )
        if entity["type"] == "text_link":
            url = entity.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://", "tg://")):
                raise bad_request(f"can't parse entities: wrong URL in entity {number}")
        checked.append(entity)
    return checked


def _may_post(chat: Chat) -> None:
    kind = chat.type
    if chat.bot_status == "kicked":
        raise BotApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
    if chat.bot_status == "left":
        raise BotApiError(403, f"Forbidden: bot is not a member of the {kind} chat")
    if kind == "channel" and not (chat.bot_status == "administrator" and chat.bot_can_post):
        raise bad_request("need administrator rights in the channel chat")


def _spend(state: TelegramState, chat: Chat) -> None:
    now = time.time()
    while chat.sent_at and now - chat.sent_at[0] >= 60:
        chat.sent_at.popleft()
    if len(chat.sent_at) >= state.per_chat_per_minute:
        oldest = chat.sent_at[0] if chat.sent_at else now
        wait = max(1, math.ceil(60 - (now - oldest)))
        raise BotApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
    chat.sent_at.append(now)


def _caption(parameters: dict[str, Any], where: str = "") -> tuple[str | None, list[Any]]:
    caption = parameters.get("caption")
    if caption is not None and not isinstance(caption, str):
        raise bad_request(f"caption must be a string{where}")
    if caption is not None and len(utf16_units(caption)) // 2 > MAX_CAPTION:
        raise bad_request("message caption is too long")
    entities = check_entities(caption or "", _json_field(parameters, "caption_entities"))
    return caption, entities


async def _photo(state: TelegramState, value: Any) -> dict[str, Any]:
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


async def _video(state: TelegramState, value: Any, parameters: dict[str, Any]) -> dict[str, Any]:
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
        "width": _int(parameters, "width") or 0,
        "height": _int(parameters, "height") or 0,
        "duration": _int(parameters, "duration") or 0,
        "mime_type": "video/mp4",
        "file_size": len(data),
    }
    state.files[file_id] = found
    return found


def _message(chat: Chat, **content: Any) -> dict[str, Any]:
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


def _published(state: TelegramState, chat: Chat, message: dict[str, Any], **extra: Any) -> None:
    state.record_publication(
        account=str(chat.id),
        message_id=message["message_id"],
        text=message.get("text", message.get("caption")),
        entities=message.get("entities", message.get("caption_entities", [])),
        **extra,
    )


class Methods:
    """The Bot API methods the fake answers, each taking the request's parameters."""

    def __init__(self, state: TelegramState) -> None:
        self.state = state

    async def getMe(self, _p: dict[str, Any]) -> Any:  # noqa: N802 (the Bot API's names)
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "T21 Sandbox",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _visible_chat(self, p: dict[str, Any]) -> Chat:
        if p.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        chat = self.state.chat(p["chat_id"])
        if chat.bot_status == "kicked":
            raise BotApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.bot_status == "left" and not chat.username:
            raise bad_request("chat not found")
        return chat

    async def getChat(self, p: dict[str, Any]) -> Any:  # noqa: N802
        return self._visible_chat(p).view()

    async def getChatMember(self, p: dict[str, Any]) -> Any:  # noqa: N802
        chat = self._visible_chat(p)
        user_id = _int(p, "user_id")
        if user_id == BOT_ID:
            member: dict[str, Any] = {"user": self._bot_user(), "status": chat.bot_status}
            if chat.bot_status == "administrator":
                member |= {"can_post_messages": chat.bot_can_post, "can_be_edited": False}
            return member
        if user_id == chat.owner_id:
            return {"user": self._user(chat.owner_id), "status": "creator"}
        if user_id == chat.member_id and chat.type != "channel":
            return {"user": self._user(chat.member_id), "status": "member"}
        if user_id is None:
            raise bad_request("user_id is empty")
        return {"user": self._user(user_id), "status": "left"}

    async def getChatAdministrators(self, p: dict[str, Any]) -> Any:  # noqa: N802
        chat = self._visible_chat(p)
        admins = [{"user": self._user(chat.owner_id), "status": "creator", "is_anonymous": False}]
        if chat.bot_status == "administrator":
            admins.append(
                {
                    "user": self._bot_user(),
                    "status": "administrator",
                    "can_post_messages": chat.bot_can_post,
                }
            )
        return admins

    async def getUpdates(self, p: dict[str, Any]) -> Any:  # noqa: N802
        state = self.state
        if state.webhook_url:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        allowed = _json_field(p, "allowed_updates")
        if isinstance(allowed, list):
            state.allowed_updates = [str(kind) for kind in allowed]
        now = time.time()
        state.updates = [u for u in state.updates if now - u["_at"] < UPDATES_KEPT_S]
        offset = _int(p, "offset")
        if offset is not None and offset < 0:
            state.updates = state.updates[offset:]
        elif offset is not None:
            state.updates = [u for u in state.updates if u["update_id"] >= offset]
        limit = max(1, min(100, _int(p, "limit") or 100))
        wanted = [
            u for u in state.updates
            if not state.allowed_updates or any(k in u for k in state.allowed_updates)
        ]  # fmt: skip
        return [{k: v for k, v in u.items() if k != "_at"} for u in wanted[:limit]]

    async def sendMessage(self, p: dict[str, Any]) -> Any:  # noqa: N802
        chat = self._target(p, p.get("text"))
        text = p.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        if len(utf16_units(text)) // 2 > MAX_TEXT:
            raise bad_request("message is too long")
        entities = check_entities(text, _json_field(p, "entities"))
        message = _message(chat, text=text, **({"entities": entities} if entities else {}))
        _published(state=self.state, chat=chat, message=message, kind="text",
                   silent=_flag(p, "disable_notification"))  # fmt: skip
        return message

    async def sendPhoto(self, p: dict[str, Any]) -> Any:  # noqa: N802
        chat = self._target(p, p.get("caption"))
        caption, entities = _caption(p)
        photo = await _photo(self.state, p.get("photo"))
        message = _message(chat, photo=[photo], **_captioned(caption, entities))
        _published(self.state, chat, message, kind="photo", silent=_flag(p, "disable_notification"))
        return message

    async def sendVideo(self, p: dict[str, Any]) -> Any:  # noqa: N802
        chat = self._target(p, p.get("caption"))
        caption, entities = _caption(p)
        video = await _video(self.state, p.get("video"), p)
        message = _message(chat, video=video, **_captioned(caption, entities))
        _published(self.state, chat, message, kind="video", silent=_flag(p, "disable_notification"))
        return message

    async def sendMediaGroup(self, p: dict[str, Any]) -> Any:  # noqa: N802
        media = _json_field(p, "media")
        first = media[0] if isinstance(media, list) and media and isinstance(media[0], dict) else {}
        chat = self._target(p, first.get("caption"))
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request("media must contain 2-10 items")
        prepared = []
        for number, item in enumerate(media):
            if not isinstance(item, dict) or item.get("type") not in ("photo", "video"):
                raise bad_request(f"unsupported media type in item {number}")
            reference = item.get("media")
            value: Any = reference
            if isinstance(reference, str) and reference.startswith("attach://"):
                value = p.get(reference.removeprefix("attach://"))
                if value is None:
                    raise bad_request(f"wrong file identifier/HTTP URL specified in item {number}")
            caption, entities = _caption(item, f" in item {number}")
            if item["type"] == "photo":
                content: dict[str, Any] = {"photo": [await _photo(self.state, value)]}
            else:
                content = {"video": await _video(self.state, value, item)}
            prepared.append(content | _captioned(caption, entities))
        group = f"{int(time.time() * 1000)}{chat.next_message_id()}"
        messages = [_message(chat, media_group_id=group, **content) for content in prepared]
        for message in messages:
            _published(self.state, chat, message, kind="album", media_group_id=group,
                       silent=_flag(p, "disable_notification"))  # fmt: skip
        return messages

    def _target(self, p: dict[str, Any], text: Any) -> Chat:
        """The chat a send goes to, once the send is recorded; refused as Telegram refuses a
        bot that may not post there, or that posts too fast."""
        if p.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        chat = self.state.chat(p["chat_id"])
        self.state.received_send(account=str(chat.id), text=text)
        _may_post(chat)
        if p.get("parse_mode"):
            raise bad_request("the sandbox doesn't parse parse_mode; send entities instead")
        _spend(self.state, chat)
        return chat

    @staticmethod
    def _bot_user() -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "T21 Sandbox", "username": BOT_USERNAME}

    @staticmethod
    def _user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}


def _captioned(caption: str | None, entities: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if caption:
        found["caption"] = caption
    if entities:
        found["caption_entities"] = entities
    return found


def _routes(state: TelegramState) -> list[Route]:
    methods = Methods(state)

    async def bot_method(request: Request) -> Response:
        if request.path_params["token"] not in state.tokens_known:
            raise BotApiError(401, "Unauthorized")
        name = request.path_params["method"]
        handler = getattr(methods, name, None) if not name.startswith("_") else None
        if handler is None:
            raise BotApiError(404, "Not Found")
        return _ok(await handler(await _parameters(request)))

    def control_chat(request: Request) -> Chat:
        reference = request.path_params["chat"]
        try:
            return state.chat(reference if reference.startswith("@") else int(reference))
        except (BotApiError, ValueError):
            raise ControlError(f"No chat {reference}.", 404) from None

    async def add_chat(request: Request) -> Response:
        body = await control_body(request)
        kind = optional(body, "type", str) or "channel"
        if kind not in ("channel", "supergroup", "group"):
            raise ControlError("`type` is channel, supergroup or group.")
        status = optional(body, "bot_status", str) or "administrator"
        if status not in ("administrator", "member", "left", "kicked"):
            raise ControlError("`bot_status` is administrator, member, left or kicked.")
        can_post = optional(body, "can_post_messages", bool)
        proofs = optional(body, "owner_posts_proofs", bool)
        chat = state.add_chat(
            username=optional(body, "username", str),
            type_=kind,
            title=optional(body, "title", str),
            bot_status=status,
            bot_can_post=True if can_post is None else can_post,
            owner_posts_proofs=True if proofs is None else proofs,
        )
        return JSONResponse(chat.view() | {"owner_id": chat.owner_id, "member_id": chat.member_id})

    async def post_in_chat(request: Request) -> Response:
        chat = control_chat(request)
        body = await control_body(request)
        text = optional(body, "text", str)
        if not text:
            raise ControlError("`text` is required.")
        author = optional(body, "as", str) or "chat"
        if author != "chat" and (author not in ("owner", "member") or chat.type == "channel"):
            raise ControlError("`as` is chat, or owner or member in a group.")
        age_s = optional(body, "age_s", int) or 0
        count = optional(body, "count", int) or 1
        posted = []
        for number in range(count):
            message: dict[str, Any] = {
                "message_id": chat.next_message_id(),
                "date": int(time.time()) - age_s,
                "chat": chat.view(),
                "text": text if count == 1 else f"{text} {number + 1}",
            }
            if author == "chat":
                message["sender_chat"] = chat.view()
            else:
                user = chat.owner_id if author == "owner" else chat.member_id
                message["from"] = {"id": user, "is_bot": False, "first_name": f"User {user}"}
            chat.messages.append(message)
            kind = "channel_post" if chat.type == "channel" else "message"
            update_id = state.push_update(kind, message, age_s=age_s)
            posted.append({"message_id": message["message_id"], "update_id": update_id})
        return JSONResponse(posted[0] if count == 1 else {"posted": posted})

    async def owner_proof(request: Request) -> Response:
        """T21's sandbox stand-in for the person connecting a chat: its owner posts the code
        (as the channel, or in a group as its owner) unless the chat was made to decline."""
        chat = control_chat(request)
        text = optional(await control_body(request), "text", str)
        if not text:
            raise ControlError("`text` is required.")
        if not chat.owner_posts_proofs:
            raise ControlError("This chat's owner doesn't post proofs for you.", 403)
        message: dict[str, Any] = {
            "message_id": chat.next_message_id(),
            "date": int(time.time()),
            "chat": chat.view(),
            "text": text,
        }
        if chat.type == "channel":
            message["sender_chat"] = chat.view()
        else:
            message["from"] = {"id": chat.owner_id, "is_bot": False, "first_name": "Owner"}
        chat.messages.append(message)
        kind = "channel_post" if chat.type == "channel" else "message"
        return JSONResponse({"update_id": state.push_update(kind, message)})

    async def set_bot(request: Request) -> Response:
        chat = control_chat(request)
        body = await control_body(request)
        status = optional(body, "status", str)
        if status not in ("administrator", "member", "left", "kicked"):
            raise ControlError("`status` is administrator, member, left or kicked.")
        chat.bot_status = status
        can_post = optional(body, "can_post_messages", bool)
        if can_post is not None:
            chat.bot_can_post = can_post
        return JSONResponse({"status": chat.bot_status, "can_post_messages": chat.bot_can_post})

    async def chat_messages(request: Request) -> Response:
        chat = control_chat(request)
        found = chat.messages
        if request.query_params.get("sent_by") == "bot":
            found = [m for m in found if m["message_id"] in chat.by_bot]
        return JSONResponse({"messages": found})

    async def set_limits(request: Request) -> Response:
        body = await control_body(request)
        value = optional(body, "per_chat_per_minute", int)
        if value is not None:
            state.per_chat_per_minute = value
        return JSONResponse({"per_chat_per_minute": state.per_chat_per_minute})

    async def set_webhook(request: Request) -> Response:
        state.webhook_url = optional(await control_body(request), "url", str)
        return JSONResponse({"url": state.webhook_url})

    return [
        Route("/_control/chats", add_chat, methods=["POST"]),
        Route("/_control/chats/{chat}/posts", post_in_chat, methods=["POST"]),
        Route("/_control/chats/{chat}/owner-proof", owner_proof, methods=["POST"]),
        Route("/_control/chats/{chat}/bot", set_bot, methods=["POST"]),
        Route("/_control/chats/{chat}/messages", chat_messages, methods=["GET"]),
        Route("/_control/limits", set_limits, methods=["POST"]),
        Route("/_control/webhook", set_webhook, methods=["POST"]),
        Route("/bot{token}/{method}", bot_method, methods=["GET", "POST"]),
    ]


def create_telegram_app(state: TelegramState | None = None) -> Starlette:
    """The Telegram fake as an ASGI app, served at a root or mounted (at `/telegram`)."""
    state = state or TelegramState()
    app = Starlette(
        routes=[*_routes(state), *control_routes(state, state.forget)],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={BotApiError: bot_api_error, ControlError: control_error},
    )
    app.state.telegram = state
    return app
