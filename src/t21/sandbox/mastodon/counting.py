"""How the Mastodon fake measures a status, written from the server's
app/validators/status_length_validator.rb (never T21's own counter): the content warning and
the text together, in grapheme clusters, each URL as 23 characters and each remote mention as
its local part."""

from __future__ import annotations

import regex

URL_PLACEHOLDER = "x" * 23
LINK = regex.compile(r"\bhttps?://\S+", regex.IGNORECASE)
REMOTE_MENTION = regex.compile(
    r"(?<![\p{L}\p{N}_/])(@[\p{L}\p{N}_]+(?:[.-][\p{L}\p{N}_]+)*)@[\p{L}\p{N}.-]*[\p{L}\p{N}]"
)


def countable_length(spoiler_text: str, text: str) -> int:
    countable = REMOTE_MENTION.sub(r"\1", LINK.sub(URL_PLACEHOLDER, text))
    return len(regex.findall(r"\X", spoiler_text + countable))
