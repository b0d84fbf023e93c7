"""The Bot API methods the Telegram fake answers."""

from __future__ import annotations

import time
from typing import Any

from t21.sandbox.telegram.sending import (
    caption_of,
    captioned,
    may_post,
    new_message,
    read_photo,
    read_video,
    record_published,
    spend,
)
from t21.sandbox.telegram.state import (
    BOT_ID,
    BOT_USERNAME,
    UPDATES_KEPT_S,
    BotApiError,
    Chat,
    TelegramState,
    bad_request,
)
from t21.sandbox.telegram.wire import (
    MAX_TEXT,
    check_entities,
    flag,
    int_field,
    json_field,
    utf16_units,
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
        user_id = int_field(p, "user_id")
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
        allowed = json_field(p, "allowed_updates")
        if isinstance(allowed, list):
            state.allowed_updates = [str(kind) for kind in allowed]
        now = time.time()
        state.updates = [u for u in state.updates if now - u["_at"] < UPDATES_KEPT_S]
        offset = int_field(p, "offset")
        if offset is not None and offset < 0:
            state.updates = state.updates[offset:]
        elif offset is not None:
            state.updates = [u for u in state.updates if u["update_id"] >= offset]
        limit = max(1, min(100, int_field(p, "limit") or 100))
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
        entities = check_entities(text, json_field(p, "entities"))
        message = new_message(chat, text=text, **({"entities": entities} if entities else {}))
        record_published(
            self.state, chat, message, kind="text", silent=flag(p, "disable_notification")
        )
        return message

    async def sendPhoto(self, p: dict[str, Any]) -> Any:  # noqa: N802
        chat = self._target(p, p.get("caption"))
        caption, entities = caption_of(p)
        photo = await read_photo(self.state, p.get("photo"))
        message = new_message(chat, photo=[photo], **captioned(caption, entities))
        record_published(
            self.state, chat, message, kind="photo", silent=flag(p, "disable_notification")
        )
        return message

    async def sendVideo(self, p: dict[str, Any]) -> Any:  # noqa: N802
        chat = self._target(p, p.get("caption"))
        caption, entities = caption_of(p)
        video = await read_video(self.state, p.get("video"), p)
        message = new_message(chat, video=video, **captioned(caption, entities))
        record_published(
            self.state, chat, message, kind="video", silent=flag(p, "disable_notification")
        )
        return message

    async def sendMediaGroup(self, p: dict[str, Any]) -> Any:  # noqa: N802
        media = json_field(p, "media")
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
            caption, entities = caption_of(item, f" in item {number}")
            if item["type"] == "photo":
                content: dict[str, Any] = {"photo": [await read_photo(self.state, value)]}
            else:
                content = {"video": await read_video(self.state, value, item)}
            prepared.append(content | captioned(caption, entities))
        group = f"{int(time.time() * 1000)}{chat.next_message_id()}"
        messages = [new_message(chat, media_group_id=group, **content) for content in prepared]
        for message in messages:
            record_published(
                self.state,
                chat,
                message,
                kind="album",
                media_group_id=group,
                silent=flag(p, "disable_notification"),
            )
        return messages

    def _target(self, p: dict[str, Any], text: Any) -> Chat:
        """The chat a send goes to, once the send is recorded; refused as Telegram refuses a
        bot that may not post there, or that posts too fast."""
        if p.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        chat = self.state.chat(p["chat_id"])
        self.state.received_send(account=str(chat.id), text=text)
        may_post(chat)
        if p.get("parse_mode"):
            raise bad_request("the sandbox doesn't parse parse_mode; send entities instead")
        spend(self.state, chat)
        return chat

    @staticmethod
    def _bot_user() -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "T21 Sandbox", "username": BOT_USERNAME}

    @staticmethod
    def _user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
