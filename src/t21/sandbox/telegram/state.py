"""The Telegram fake's world: one bot, the chats it is in, their messages, and the bot's
queue of updates (what `getUpdates` hands out)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from t21.platforms.registry import SANDBOX_CLIENT_SECRET
from t21.sandbox.platform import NetworkState

BOT_ID = 7_000_000_001
BOT_USERNAME = "t21_sandbox_bot"
UPDATES_KEPT_S = 24 * 3600  # "not kept longer than 24 hours"
PER_CHAT_PER_MINUTE = 20
# Private ids of channels and supergroups start with -100 (as Telegram's do).
FIRST_CHAT = 1_000_000_000_001
FIRST_USER = 500_000_001


class BotApiError(Exception):
    """A Bot API refusal: `{"ok": false, "error_code", "description", "parameters"?}`."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def bad_request(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


@dataclass
class Chat:
    id: int
    type: str  # "channel", "supergroup", "group"
    title: str
    username: str | None
    owner_id: int
    member_id: int  # a member who isn't an admin (groups)
    bot_status: str = "administrator"  # "administrator", "member", "left", "kicked"
    bot_can_post: bool = True
    # Whether the chat's owner posts the proof codes T21 asks for (the sandbox's stand-in for
    # the person connecting it).
    owner_posts_proofs: bool = True
    messages: list[dict[str, Any]] = field(default_factory=list)
    by_bot: set[int] = field(default_factory=set)  # ids of the messages the bot sent
    sent_at: deque[float] = field(default_factory=deque)

    def view(self) -> dict[str, Any]:
        found: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            found["username"] = self.username
        return found

    def next_message_id(self) -> int:
        return len(self.messages) + 1


@dataclass
class TelegramState(NetworkState):
    name: str = "telegram"
    tokens_known: set[str] = field(default_factory=lambda: {SANDBOX_CLIENT_SECRET})
    chats: dict[int, Chat] = field(default_factory=dict)
    usernames: dict[str, int] = field(default_factory=dict)  # lowercase username -> chat id
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 800_000_001
    allowed_updates: list[str] = field(default_factory=list)
    webhook_url: str | None = None
    per_chat_per_minute: int = PER_CHAT_PER_MINUTE
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # file_id -> what it is

    def forget(self) -> None:
        self.chats.clear()
        self.usernames.clear()
        self.updates.clear()
        self.allowed_updates = []
        self.webhook_url = None
        self.per_chat_per_minute = PER_CHAT_PER_MINUTE
        self.files.clear()

    def add_chat(
        self,
        *,
        username: str | None,
        type_: str = "channel",
        title: str | None = None,
        bot_status: str = "administrator",
        bot_can_post: bool = True,
        owner_posts_proofs: bool = True,
        chat_id: int | None = None,
    ) -> Chat:
        number = len(self.chats)
        if chat_id is None:
            chat_id = -(FIRST_CHAT + number) if type_ != "group" else -(100_000 + number)
        chat = Chat(
            id=chat_id,
            type=type_,
            title=title or (username or f"Chat {number + 1}"),
            username=username,
            owner_id=FIRST_USER + 2 * number,
            member_id=FIRST_USER + 2 * number + 1,
            bot_status=bot_status,
            bot_can_post=bot_can_post,
            owner_posts_proofs=owner_posts_proofs,
        )
        self.chats[chat_id] = chat
        if username:
            self.usernames[username.lower()] = chat_id
        return chat

    def chat(self, reference: Any) -> Chat:
        """The chat a `chat_id` names: a known id, or a public @username (every well-formed
        one exists in the sandbox: a channel where the bot is an administrator, and so does
        every private channel id of Telegram's form, -100 and ten or more digits)."""
        if isinstance(reference, str) and reference.startswith("@"):
            name = reference[1:]
            if not _username_ok(name):
                raise bad_request("chat not found")
            known = self.usernames.get(name.lower())
            if known is not None:
                return self.chats[known]
            return self.add_chat(username=name)
        try:
            chat_id = int(reference)
        except (TypeError, ValueError):
            raise bad_request("chat not found") from None
        found = self.chats.get(chat_id)
        if found is None and str(chat_id).startswith("-100") and len(str(chat_id)) >= 14:
            # A channel id of Telegram's form: a private channel the bot administers.
            return self.add_chat(username=None, title=f"Channel {chat_id}", chat_id=chat_id)
        if found is None:
            raise bad_request("chat not found")
        return found

    def push_update(self, kind: str, message: dict[str, Any], *, age_s: int = 0) -> int:
        update_id = self.next_update_id
        self.next_update_id += 1
        self.updates.append({"update_id": update_id, kind: message, "_at": time.time() - age_s})
        return update_id


def _username_ok(name: str) -> bool:
    return (
        5 <= len(name) <= 32
        and name[0].isascii()
        and name[0].isalpha()
        and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
    )
