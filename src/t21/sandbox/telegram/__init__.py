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

The fake's parts: `state` (its world), `wire` (parameters, answers, text checks), `sending`
(what a send goes through), `methods` (the Bot API methods) and `control`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from t21.sandbox.oauth import ControlError, control_error
from t21.sandbox.platform import FaultMiddleware, control_routes
from t21.sandbox.telegram.control import control_extras
from t21.sandbox.telegram.methods import Methods
from t21.sandbox.telegram.state import BotApiError, TelegramState
from t21.sandbox.telegram.wire import bot_api_error, ok, parameters_of

__all__ = ["TelegramState", "create_telegram_app"]


def _bot_routes(state: TelegramState) -> list[Route]:
    methods = Methods(state)

    async def bot_method(request: Request) -> Response:
        if request.path_params["token"] not in state.tokens_known:
            raise BotApiError(401, "Unauthorized")
        name = request.path_params["method"]
        handler = getattr(methods, name, None) if not name.startswith("_") else None
        if handler is None:
            raise BotApiError(404, "Not Found")
        return ok(await handler(await parameters_of(request)))

    return [Route("/bot{token}/{method}", bot_method, methods=["GET", "POST"])]


def create_telegram_app(state: TelegramState | None = None) -> Starlette:
    """The Telegram fake as an ASGI app, served at a root or mounted (at `/telegram`)."""
    state = state or TelegramState()
    app = Starlette(
        routes=[*control_extras(state), *_bot_routes(state), *control_routes(state, state.forget)],
        middleware=[Middleware(FaultMiddleware, state=state)],
        exception_handlers={BotApiError: bot_api_error, ControlError: control_error},
    )
    app.state.telegram = state
    return app
