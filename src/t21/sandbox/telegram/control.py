"""The Telegram fake's own `/_control` routes (the shared ones are `t21.sandbox.platform`'s):
chats made, their owners and members posting, the bot's membership, the messages seen, the
per-chat limit and a webhook."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.oauth import ControlError, control_body, optional
from t21.sandbox.telegram.state import BotApiError, Chat, TelegramState


def control_extras(state: TelegramState) -> list[Route]:
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
    ]
