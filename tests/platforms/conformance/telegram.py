"""Telegram's Bot API reference as exchanges: the requests core.telegram.org/bots/api describes
a bot making and the objects it documents in answer, with the section each comes from. The
token is the reference's own example ("Authorizing your bot"); ids and names are made up where
the page shows none, shaped as the page's object definitions say."""

from __future__ import annotations

import time

from tests.platforms.conformance.harness import Exchange, Expect, Reply

API = "https://core.telegram.org/bots/api"
TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"  # #authorizing-your-bot
BOT = f"/bot{TOKEN}"
BOT_ID = 123456
CHAT_ID = -1001234567890
OWNER_ID = 424242

BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Acme Poster", "username": "acme_bot"}
CHANNEL = {"id": CHAT_ID, "type": "channel", "title": "Acme News", "username": "acme_news"}

GET_ME = Exchange(
    name="getMe",
    source=f"{API}#getme",
    expect=Expect("POST", f"{BOT}/getMe", json={}, exact=True),
    reply=Reply(body={"ok": True, "result": BOT_USER | {"can_join_groups": True}}),
)

GET_CHAT = Exchange(
    name="getChat by @username",
    source=f"{API}#getchat",
    expect=Expect("POST", f"{BOT}/getChat", json={"chat_id": "@acme_news"}, exact=True),
    reply=Reply(
        body={"ok": True, "result": CHANNEL | {"accent_color_id": 1, "max_reaction_count": 11}}
    ),
)

GET_CHAT_MEMBER = Exchange(
    name="getChatMember: the bot, an administrator that may post",
    source=f"{API}#chatmemberadministrator",
    expect=Expect(
        "POST", f"{BOT}/getChatMember", json={"chat_id": CHAT_ID, "user_id": BOT_ID}, exact=True
    ),
    reply=Reply(
        body={
            "ok": True,
            "result": {
                "status": "administrator",
                "user": BOT_USER,
                "can_be_edited": False,
                "is_anonymous": False,
                "can_manage_chat": True,
                "can_delete_messages": True,
                "can_post_messages": True,
                "can_edit_messages": True,
            },
        }
    ),
)


def get_updates(proof: str) -> Exchange:
    """getUpdates with a channel post carrying `proof` (#getupdates, #update: channel_post)."""
    return Exchange(
        name="getUpdates: a channel post",
        source=f"{API}#getupdates",
        expect=Expect(
            "POST",
            f"{BOT}/getUpdates",
            json={"limit": 100, "allowed_updates": ["channel_post", "message"]},
            exact=True,
        ),
        reply=Reply(
            body={
                "ok": True,
                "result": [
                    {
                        "update_id": 871234001,
                        "channel_post": {
                            "message_id": 17,
                            "sender_chat": CHANNEL,
                            "chat": CHANNEL,
                            "date": int(time.time()),
                            "text": f"Connecting T21: {proof}",
                        },
                    }
                ],
            }
        ),
    )


SEND_MESSAGE = Exchange(
    name="sendMessage with entities, silently",
    source=f"{API}#sendmessage",
    expect=Expect(
        "POST",
        f"{BOT}/sendMessage",
        json={
            "chat_id": CHAT_ID,
            "text": "Spring sale today",
            "entities": [{"type": "bold", "offset": 0, "length": 6}],
            "disable_notification": True,
        },
        exact=True,
    ),
    reply=Reply(
        body={
            "ok": True,
            "result": {
                "message_id": 18,
                "sender_chat": CHANNEL,
                "chat": CHANNEL,
                "date": 1765000000,
                "text": "Spring sale today",
                "entities": [{"offset": 0, "length": 6, "type": "bold"}],
            },
        }
    ),
)

# "Too Many Requests: retry after X" with parameters.retry_after (#responseparameters; the bots
# FAQ, "My bot is hitting limits").
RATE_LIMITED = Exchange(
    name="sendMessage refused: too many requests",
    source=f"{API}#responseparameters",
    expect=Expect("POST", f"{BOT}/sendMessage", json={"chat_id": CHAT_ID, "text": "again"}),
    reply=Reply(
        status=429,
        body={
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 35",
            "parameters": {"retry_after": 35},
        },
    ),
)

KICKED = Exchange(
    name="sendMessage refused: the bot was removed",
    source=f"{API}#making-requests",
    expect=Expect("POST", f"{BOT}/sendMessage", json={"chat_id": CHAT_ID, "text": "hello?"}),
    reply=Reply(
        status=403,
        body={
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: bot was kicked from the channel chat",
        },
    ),
)
