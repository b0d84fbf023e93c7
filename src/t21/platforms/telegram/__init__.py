"""Telegram (`telegram`): posting to channels and groups through the operator's bot (Bot API).

Connecting: the operator creates a bot with @BotFather and sets `T21_TELEGRAM_BOT_TOKEN`; a
user adds that bot to a channel or group as an administrator (in a channel, with the right to
post messages) and connects it with `credentials` {chat} (its @username, t.me link or id).
Because any chat the bot administers could be named by anyone, T21 asks for proof: the first
attempt answers 422 with a code made for that user, brand and chat (`rule`
"ownership_unproven", `proof`); once the code is posted in the chat — by the channel, or in a
group by one of its admins — the same request connects it. The bot sees the post through
`getUpdates`, so T21 must be the only reader of its bot's updates (no webhook). Against the
sandbox only, the fake's owner of the chat is asked to post the code (as the sandbox's OAuth
fakes consent for their person), so `{chat}` connects in one request there.

Publishing: `sendMessage` (text), `sendPhoto`, `sendVideo` and `sendMediaGroup` (an album of 2
to 10 photos and videos, one caption on its first item), files streamed as multipart. Text
written with `parse_mode` (HTML or MarkdownV2) is parsed by T21 into entities with UTF-16
offsets, so its length is counted as Telegram counts it and broken markup is refused when the
post is written. External ids are `<chat id>:<message id>` (an album: its first message).

Facts the adapter relies on, with their sources:

- Requests, the `{ok, result}` / `{ok: false, error_code, description, parameters}` envelope,
  `parameters.retry_after` on 429, `migrate_to_chat_id`. Source:
  https://core.telegram.org/bots/api#making-requests and #responseparameters
- sendMessage text 1-4096 characters after entities parsing; captions 0-1024; entities with
  offsets and lengths in UTF-16 code units; `disable_notification` sends silently. Source:
  https://core.telegram.org/bots/api#sendmessage, #sendphoto, #messageentity,
  #formatting-options
- sendPhoto: at most 10 MB, width + height at most 10000, ratio at most 20. Bots upload other
  files of up to 50 MB. Source: https://core.telegram.org/bots/api#sendphoto, #sending-files
- sendMediaGroup: 2-10 items, photos and videos may be mixed; returns the array of messages.
  Source: https://core.telegram.org/bots/api#sendmediagroup
- getUpdates: at most 100 per call, oldest first; an update is confirmed (forgotten) by a call
  with a higher offset; updates are kept 24 hours; it fails while a webhook is set (409).
  Source: https://core.telegram.org/bots/api#getupdates, #getting-updates
- getChat, getChatMember (status "administrator", `can_post_messages` in channels),
  getChatAdministrators. Source: https://core.telegram.org/bots/api#getchatmember,
  #chatmemberadministrator
- Broadcasting limits: about 30 messages a second overall, no more than 20 a minute in one
  group. Source: https://core.telegram.org/bots/faq (#my-bot-is-hitting-limits-how-do-i-avoid-this)
- Bots get no view counts: the Bot API's Message has no `views` field (that is MTProto's).
  Source: https://core.telegram.org/bots/api#message
- A bot can't read a chat's history (no method lists past messages), and is not sent updates
  about its own messages — so `find_recent` can't check a cut-off post (it goes to review).
  Source: https://core.telegram.org/bots/api#available-methods; the second half is
  unconfirmed in the reference (Telegram's bot FAQ says bots don't see other bots' messages).
- Unconfirmed: which 400 descriptions mean lost rights ("not enough rights…", "need
  administrator rights…"); whether the 4096/1024 limits count UTF-16 units or code points (T21
  counts UTF-16 units, the stricter); that WebP photos are taken by sendPhoto.
"""

from t21.platforms.telegram.provider import TelegramOptions, TelegramProvider

__all__ = ["TelegramOptions", "TelegramProvider"]
