"""Telegram channels and groups through the operator's bot: connecting with a proof of
ownership, publishing text, a photo, a video or an album, and honest answers where the Bot API
gives a bot nothing to read (history, views)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from t21.core.outside import Ambiguous, NotPermitted, Permanent
from t21.platforms.base import (
    Budget,
    Connection,
    Credentials,
    MediaItem,
    MediaKind,
    MediaRule,
    PlatformConfig,
    PlatformLimits,
    PostMetrics,
    Profile,
    ProofRequired,
    Published,
    PublishRequest,
    RecentPost,
    TextCounting,
    TokenGrant,
    Writing,
    parse_options,
)
from t21.platforms.http import PlatformHttp
from t21.platforms.telegram import markup
from t21.platforms.telegram.wire import BotApi, Upload
from t21.platforms.text import comparable

MAX_TEXT = 4096  # sendMessage text: 1-4096 characters after entities parsing
MAX_CAPTION = 1024  # sendPhoto/sendVideo/InputMedia caption: 0-1024 characters
MAX_ALBUM = 10  # sendMediaGroup: 2-10 items
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # sendPhoto: at most 10 MB
VIDEO_MAX_BYTES = 50 * 1024 * 1024  # bots send files of up to 50 MB
PHOTO_MAX_SIDES = 10_000  # width + height must not exceed 10000
PHOTO_MAX_RATIO = 20.0
# How long a proof code works: it is made for a 10-minute window and the one before it.
PROOF_WINDOW_S = 600
# getUpdates answers at most 100 updates a call.
UPDATES_PAGE = 100
CHAT_USERNAME = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{4,31})$")
CHAT_LINK = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/([A-Za-z][A-Za-z0-9_]{4,31})/?$")
CHAT_ID = re.compile(r"^-?\d{1,20}$")
# What T21 asks the Bot API to deliver to getUpdates: posts in channels and groups.
ALLOWED_UPDATES = ["channel_post", "message"]
POSTING_CHATS = frozenset({"channel", "supergroup", "group"})
NO_HISTORY = (
    "The Telegram Bot API shows a bot no messages of a chat, its own included, so T21 can't "
    "check whether a cut-off post went out: look in the channel."
)
NO_VIEWS = (
    "The Telegram Bot API gives bots no view or reaction counts of a channel's posts, so T21 "
    "collects no numbers for Telegram."
)


class TelegramOptions(BaseModel):
    """Per-post options of a Telegram post. The Bot API gives bots no view counts, so Telegram
    posts have no metrics in T21; and a bot can't read a chat's history, so a post whose
    sending was cut off goes to review rather than being checked."""

    model_config = ConfigDict(extra="forbid")

    # Sent without a notification sound (`disable_notification`).
    silent: bool | None = None
    # How the text is written: Telegram's HTML or MarkdownV2. T21 parses it into entities and
    # counts the limits on the text as readers see it; without it the text is sent as is.
    parse_mode: Literal["HTML", "MarkdownV2"] | None = None


class TelegramCredentialsIn(BaseModel):
    """What connecting a Telegram chat takes: its @username, t.me link or numeric id."""

    model_config = ConfigDict(extra="forbid")

    chat: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def chat_reference(value: str) -> str | int:
    """`value` as a Bot API `chat_id`: "@username" or a number; `Permanent` if neither."""
    for pattern in (CHAT_USERNAME, CHAT_LINK):
        match = pattern.match(value)
        if match is not None:
            return "@" + match.group(1)
    if CHAT_ID.match(value):
        return int(value)
    raise Permanent(
        f"{value!r} isn't a Telegram chat: give its @username, t.me link or numeric id.",
        code="invalid_chat",
    )


def permalink(chat_id: str, username: str | None, message_id: int) -> str | None:
    """t.me/<username>/<id> for a public chat, t.me/c/<id>/<id> (members only) for a private
    channel or supergroup; basic groups have no message links."""
    if username:
        return f"https://t.me/{username}/{message_id}"
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    return None


class TelegramProvider:
    """Channels and groups, posted to by the operator's bot as an administrator."""

    name: ClassVar[str] = "telegram"
    display_name: ClassVar[str] = "Telegram"
    uses_pkce: ClassVar[bool] = False
    # A chat is connected with `credentials` ({chat}) and a proof of ownership, no redirect:
    # T21 calls `connect_with_proof` (never `connect_with_credentials`) for such a network.
    connects_with_credentials: ClassVar[bool] = True
    proves_ownership: ClassVar[bool] = True
    scopes: ClassVar[tuple[str, ...]] = ()
    limits: ClassVar[PlatformLimits] = PlatformLimits(
        max_text=MAX_TEXT,
        text_counting=TextCounting.CHARACTERS,
        requires_media=False,
        max_images=MAX_ALBUM,
        max_videos=MAX_ALBUM,
        mixed_media=True,
        image=MediaRule(
            content_types=frozenset({"image/jpeg", "image/png", "image/webp"}),
            max_size_bytes=PHOTO_MAX_BYTES,
            min_aspect=1 / PHOTO_MAX_RATIO,
            max_aspect=PHOTO_MAX_RATIO,
        ),
        video=MediaRule(content_types=frozenset({"video/mp4"}), max_size_bytes=VIDEO_MAX_BYTES),
        notes=(
            "Text up to 4,096 characters; with media it is the caption, up to 1,024.",
            "Up to 10 photos and videos together make an album.",
            "A photo's width and height add up to at most 10,000 px.",
            NO_VIEWS,
        ),
    )
    options: ClassVar[type[BaseModel]] = TelegramOptions
    # Telegram asks bots for no more than 20 messages a minute in one group [bots FAQ].
    publish_budget: ClassVar[Budget | None] = Budget(20, timedelta(minutes=1))
    # The Bot API has no idempotency key for sendMessage and the like.
    idempotency_window: ClassVar[timedelta | None] = None
    writing: ClassVar[Writing] = Writing(
        "Telegram channel: a direct note to subscribers who chose to follow; a clear first "
        "line, short paragraphs, a link or two, emoji sparingly.",
        600,
    )

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config

    def _api(self, http: PlatformHttp) -> BotApi:
        return BotApi(http, self.config.api_base, self.config.client_secret)

    # --- connecting ----------------------------------------------------------------------------

    def authorization_url(self, *, state: str, redirect_uri: str, code_verifier: str | None) -> str:
        raise Permanent(
            "Telegram connects a chat with `credentials` {chat}, not a redirect.",
            code="credentials_required",
        )

    async def exchange_code(
        self, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> list[Connection]:
        raise Permanent(
            "Telegram connects with `credentials`, not a code.", code="credentials_required"
        )

    def proof_code(self, requester: str, chat_id: int, window: int | None = None) -> str:
        """The code `requester` posts in chat `chat_id` to show it is theirs: a keyed hash of
        both and of the 10-minute window, so T21 stores nothing and no one else can make it."""
        slot = int(time.time()) // PROOF_WINDOW_S if window is None else window
        key = self.config.client_secret.encode()
        digest = hmac.new(key, f"{requester}|{chat_id}|{slot}".encode(), hashlib.sha256).digest()
        return "T21-" + base64.b32encode(digest).decode()[:10]

    async def connect_with_proof(
        self, credentials: dict[str, str], *, requester: str
    ) -> list[Connection]:
        """Connect the chat `credentials` name once the bot is an administrator there and the
        chat shows `requester`'s proof code (posted by the channel, or by a group admin);
        `ProofRequired` with the code to post until it does."""
        try:
            given = TelegramCredentialsIn.model_validate(credentials)
        except ValueError:
            raise Permanent(
                "Telegram needs `credentials` {chat}: the chat's @username, t.me link or id.",
                code="invalid_credentials",
            ) from None
        reference = chat_reference(given.chat)
        async with PlatformHttp(self.config) as http:
            api = self._api(http)
            bot = await api.call("getMe")
            bot_name = f"@{bot.get('username')}" if isinstance(bot, dict) else "T21's bot"
            chat = await self._chat(api, reference, bot_name)
            chat_id = int(chat["id"])
            await self._bot_may_post(api, chat, bot, bot_name)
            codes = {self.proof_code(requester, chat_id, w) for w in self._windows()}
            seen = await self._proof_seen(api, chat, codes)
            if not seen and await self._sandbox_owner_posts(http, chat, requester):
                seen = await self._proof_seen(api, chat, codes)
            if not seen:
                code = self.proof_code(requester, chat_id)
                where = "as the channel" if chat.get("type") == "channel" else "as an admin"
                raise ProofRequired(
                    f"To show this chat is yours, post {code} in it ({where}), then connect "
                    "again within 10 minutes. You may delete the message afterwards.",
                    proof=code,
                )
        return [
            Connection(
                profile=self._profile_of(chat),
                grant=self._grant(chat_id),
                capabilities={"chat_type": chat.get("type")},
            )
        ]

    async def _sandbox_owner_posts(
        self, http: PlatformHttp, chat: dict[str, Any], requester: str
    ) -> bool:
        """In the sandbox only: the fake's owner of the chat posts the code, as its person
        would (the way the sandbox's OAuth fakes consent for theirs), so `{chat}` connects in
        one request; the proof is then looked for exactly as at Telegram. A sandbox chat
        made with `owner_posts_proofs: false` declines, and the code is asked of the caller."""
        if not self.config.sandbox:
            return False
        code = self.proof_code(requester, int(chat["id"]))
        response = await http.request(
            "POST",
            f"{self.config.api_base}/_control/chats/{chat['id']}/owner-proof",
            json={"text": code},
        )
        return response.status_code == 200

    @staticmethod
    def _windows() -> tuple[int, int]:
        now = int(time.time()) // PROOF_WINDOW_S
        return now, now - 1

    async def _chat(self, api: BotApi, reference: str | int, bot_name: str) -> dict[str, Any]:
        try:
            chat = await api.call("getChat", {"chat_id": reference})
        except Permanent:
            raise Permanent(
                f"T21's bot {bot_name} can't see {reference}: add it to the chat as an "
                "administrator first.",
                code="chat_not_found",
            ) from None
        if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
            raise Permanent("Telegram described the chat without an id.", code="bad_answer")
        if chat.get("type") not in POSTING_CHATS:
            raise Permanent(
                "Only channels and groups can be connected, not a private chat.",
                code="chat_type",
            )
        return chat

    async def _bot_may_post(
        self, api: BotApi, chat: dict[str, Any], bot: Any, bot_name: str
    ) -> None:
        bot_id = bot.get("id") if isinstance(bot, dict) else None
        member = await api.call("getChatMember", {"chat_id": chat["id"], "user_id": bot_id})
        status = member.get("status") if isinstance(member, dict) else None
        may_post = status == "administrator" and (
            chat.get("type") != "channel" or member.get("can_post_messages") is True
        )
        if not may_post:
            right = " with the right to post messages" if chat.get("type") == "channel" else ""
            raise Permanent(
                f"Make T21's bot {bot_name} an administrator of this chat{right}, then connect "
                "again.",
                code="bot_not_admin",
            )

    async def _proof_seen(self, api: BotApi, chat: dict[str, Any], codes: set[str]) -> bool:
        """Whether a recent post in `chat` carries one of `codes`. getUpdates keeps a bot's
        updates for 24 hours, oldest first, 100 a call; a call with an offset forgets the
        updates before it, so T21 forgets only pages older than any live code."""
        admins: set[int] | None = None
        offset: int | None = None
        oldest_live = time.time() - 2 * PROOF_WINDOW_S
        while True:
            payload: dict[str, Any] = {"limit": UPDATES_PAGE, "allowed_updates": ALLOWED_UPDATES}
            if offset is not None:
                payload["offset"] = offset
            updates = await api.call("getUpdates", payload)
            if not isinstance(updates, list) or not updates:
                return False
            for update in updates:
                message = _message_of(update)
                if message is None or (message.get("chat") or {}).get("id") != chat["id"]:
                    continue
                words = str(message.get("text") or message.get("caption") or "")
                if not any(code in words for code in codes):
                    continue
                if chat.get("type") == "channel" or _sent_as_chat(message, chat["id"]):
                    return True
                if admins is None:
                    admins = await self._admins(api, chat["id"])
                if (message.get("from") or {}).get("id") in admins:
                    return True
            stale = all(_date_of(u) < oldest_live for u in updates)
            if len(updates) < UPDATES_PAGE or not stale:
                return False
            offset = max(int(u.get("update_id", 0)) for u in updates) + 1

    @staticmethod
    async def _admins(api: BotApi, chat_id: int) -> set[int]:
        found = await api.call("getChatAdministrators", {"chat_id": chat_id})
        admins: set[int] = set()
        for member in found if isinstance(found, list) else []:
            user = member.get("user") if isinstance(member, dict) else None
            if isinstance(user, dict) and isinstance(user.get("id"), int):
                admins.add(user["id"])
        return admins

    @staticmethod
    def _profile_of(chat: dict[str, Any]) -> Profile:
        username = chat.get("username")
        title = chat.get("title")
        return Profile(
            external_id=str(chat["id"]),
            username=username if isinstance(username, str) else None,
            display_name=title if isinstance(title, str) else None,
        )

    @staticmethod
    def _grant(chat_id: int) -> TokenGrant:
        # The bot's token is the operator's and never stored per account: what an account
        # holds is only which chat it is (no secret, no expiry).
        return TokenGrant(access_token=f"telegram-chat:{chat_id}")

    async def refresh(self, credentials: Credentials) -> TokenGrant | None:
        return None  # nothing expires: the bot posts while it is an administrator

    async def revoke(self, credentials: Credentials) -> bool:
        """Nothing to revoke at Telegram: the chat's admins remove the bot themselves (T21
        doesn't make it leave, in case the chat is connected to another brand)."""
        return False

    async def profile(self, credentials: Credentials) -> Profile:
        async with PlatformHttp(self.config) as http:
            chat = await self._api(http).call("getChat", {"chat_id": int(credentials.external_id)})
        if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
            raise Permanent("Telegram described the chat without an id.", code="bad_answer")
        return self._profile_of(chat)

    # --- publishing ----------------------------------------------------------------------------

    def limits_for(self, options: dict[str, Any]) -> PlatformLimits:
        if options.get("parse_mode"):
            # Markup counts after parsing (`check`); the raw text may be longer than that.
            return replace(self.limits, max_text=MAX_TEXT * 8)
        return self.limits

    def check(self, request: PublishRequest) -> None:
        options = parse_options(TelegramOptions, request.options, "Telegram")
        try:
            formatted = markup.parse(request.text, options.parse_mode)
        except markup.MarkupError as exc:
            raise Permanent(
                f"The {options.parse_mode} markup: {exc}", code="invalid_markup"
            ) from None
        if len(request.media) > MAX_ALBUM:
            raise Permanent(
                "A Telegram album takes at most 10 photos and videos.", code="too_many_media"
            )
        if request.media and formatted.length > MAX_CAPTION:
            raise Permanent(
                f"With media the text is a caption: {formatted.length} characters (UTF-16 "
                f"units), Telegram takes at most {MAX_CAPTION}.",
                code="caption_too_long",
            )
        if formatted.length > MAX_TEXT:
            raise Permanent(
                f"The text is {formatted.length} characters (UTF-16 units) as readers see it; "
                f"Telegram takes at most {MAX_TEXT}.",
                code="text_too_long",
            )
        if not request.media and not formatted.text.strip():
            raise Permanent("A Telegram message needs text or media.", code="empty")
        for item in request.media:
            sides = (item.width or 0) + (item.height or 0)
            if item.kind is MediaKind.IMAGE and sides > PHOTO_MAX_SIDES:
                raise Permanent(
                    f"The photo is {item.width}×{item.height}; Telegram takes photos whose "
                    "width and height add up to at most 10,000 px.",
                    code="media_too_big",
                )

    async def publish(self, credentials: Credentials, request: PublishRequest) -> Published:
        self.check(request)
        options = TelegramOptions.model_validate(request.options)
        formatted = markup.parse(request.text, options.parse_mode)
        chat_id = int(credentials.external_id)
        common: dict[str, Any] = {"chat_id": chat_id}
        if options.silent:
            common["disable_notification"] = True
        async with PlatformHttp(self.config) as http:
            api = self._api(http)
            if not request.media:
                body = {**common, "text": formatted.text}
                if formatted.entities:
                    body["entities"] = formatted.entities
                sent = await api.call("sendMessage", body, publishing=True)
            elif len(request.media) == 1:
                sent = await self._send_one(api, common, formatted, request.media[0])
            else:
                sent = await self._send_album(api, common, formatted, request.media)
        first = sent[0] if isinstance(sent, list) and sent else sent
        message_id = first.get("message_id") if isinstance(first, dict) else None
        if not isinstance(message_id, int):
            raise Ambiguous("Telegram accepted the message without its id.", code="no_id")
        date = first.get("date")
        return Published(
            external_id=f"{chat_id}:{message_id}",
            permalink=permalink(str(chat_id), credentials.username, message_id),
            published_at=datetime.fromtimestamp(date, UTC) if isinstance(date, int) else None,
        )

    async def _send_one(
        self, api: BotApi, common: dict[str, Any], formatted: markup.Formatted, item: MediaItem
    ) -> Any:
        field = "photo" if item.kind is MediaKind.IMAGE else "video"
        fields: dict[str, Any] = {**common}
        if formatted.text:
            fields["caption"] = formatted.text
        if formatted.entities:
            fields["caption_entities"] = formatted.entities
        if item.kind is MediaKind.VIDEO:
            fields |= _video_fields(item)
        method = "sendPhoto" if item.kind is MediaKind.IMAGE else "sendVideo"
        return await api.upload(method, fields, [_upload(field, item, 0)])

    async def _send_album(
        self,
        api: BotApi,
        common: dict[str, Any],
        formatted: markup.Formatted,
        media: list[MediaItem],
    ) -> Any:
        described: list[dict[str, Any]] = []
        for index, item in enumerate(media):
            entry: dict[str, Any] = {
                "type": "photo" if item.kind is MediaKind.IMAGE else "video",
                "media": f"attach://file{index}",
            }
            if item.kind is MediaKind.VIDEO:
                entry |= _video_fields(item)
            if index == 0 and formatted.text:
                # One caption, on the first item, is what clients show under the album.
                entry["caption"] = formatted.text
                if formatted.entities:
                    entry["caption_entities"] = formatted.entities
            described.append(entry)
        files = [_upload(f"file{index}", item, index) for index, item in enumerate(media)]
        return await api.upload("sendMediaGroup", {**common, "media": described}, files)

    # --- reading back --------------------------------------------------------------------------

    def find_recent_blocker(self, credentials: Credentials) -> str | None:
        return NO_HISTORY

    def comparable_text(self, text: str) -> str:
        return comparable(text)

    async def find_recent(
        self, credentials: Credentials, *, since: datetime, limit: int = 20
    ) -> list[RecentPost]:
        raise NotPermitted(NO_HISTORY, code="cannot_check")

    async def metrics(
        self, credentials: Credentials, external_ids: list[str]
    ) -> dict[str, PostMetrics | None]:
        raise NotPermitted(NO_VIEWS, code="no_metrics")


def _message_of(update: Any) -> dict[str, Any] | None:
    if not isinstance(update, dict):
        return None
    for kind in ALLOWED_UPDATES:
        message = update.get(kind)
        if isinstance(message, dict):
            return message
    return None


def _date_of(update: Any) -> float:
    message = _message_of(update)
    date = message.get("date") if message else None
    return float(date) if isinstance(date, int) else 0.0


def _sent_as_chat(message: dict[str, Any], chat_id: int) -> bool:
    """A group message sent on behalf of the group itself (by an anonymous admin)."""
    return (message.get("sender_chat") or {}).get("id") == chat_id


def _video_fields(item: MediaItem) -> dict[str, Any]:
    fields: dict[str, Any] = {"supports_streaming": True}
    if item.width and item.height:
        fields |= {"width": item.width, "height": item.height}
    if item.duration_s is not None:
        fields["duration"] = max(1, round(item.duration_s))
    return fields


def _upload(field: str, item: MediaItem, index: int) -> Upload:
    extension = item.content_type.rsplit("/", 1)[-1].replace("jpeg", "jpg")
    return Upload(field, f"media{index}.{extension}", item.content_type, item.size, item.read)
