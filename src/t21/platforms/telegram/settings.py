"""Telegram's settings (`T21_TELEGRAM_…`): the operator's bot.

Telegram has no OAuth app: T21 posts through one bot, created with @BotFather, whose token is
`T21_TELEGRAM_BOT_TOKEN` (`<bot id>:<secret>`). Setting it switches from the sandbox's fake to
the real Bot API; the bot id becomes the client id and the token the client secret, so the
rest of T21 reaches Telegram like any network. `CLIENT_ID` and `CLIENT_SECRET` are not set by
hand. `API_BASE` is the Bot API server (a self-hosted `telegram-bot-api` server, say)."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import SecretStr, model_validator

from t21.platforms.settings import NetworkSettings

# @BotFather's tokens: the bot's numeric id, a colon, then 35 URL-safe characters.
BOT_TOKEN = re.compile(r"^(\d{5,20}):[A-Za-z0-9_-]{30,64}$")


class TelegramSettings(NetworkSettings):
    real_auth_base: ClassVar[str] = "https://api.telegram.org"
    real_api_base: ClassVar[str] = "https://api.telegram.org"

    bot_token: SecretStr | None = None

    @model_validator(mode="after")
    def _bot_is_the_app(self) -> TelegramSettings:
        token = self.bot_token.get_secret_value().strip() if self.bot_token else ""
        if not token:
            if self.client_id:
                raise ValueError(
                    "Telegram posts through a bot: set T21_TELEGRAM_BOT_TOKEN, not CLIENT_ID"
                )
            return self
        match = BOT_TOKEN.match(token)
        if match is None:
            raise ValueError("T21_TELEGRAM_BOT_TOKEN must be a token from @BotFather (id:secret)")
        self.client_id = match.group(1)
        self.client_secret = SecretStr(token)
        return self
