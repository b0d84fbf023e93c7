"""Counting post text the way each network counts it.

X counts a *weighted* length (twitter-text 3): after NFC normalisation, every URL counts 23,
every emoji (a whole emoji sequence, however many code points) counts 2, code points in the
Latin, punctuation and similar ranges count 1 and everything else (CJK, ...) counts 2.
Threads counts characters, except that "Emojis are counted as the number of UTF-8 bytes": a
whole emoji (a grapheme cluster with a pictograph, flag or keycap in it, joiners, variation
selectors and skin tones included) counts its UTF-8 bytes.
Source: https://developers.facebook.com/documentation/threads/posts
Others count code points, or user-perceived characters (grapheme clusters).
"""

from __future__ import annotations

import unicodedata

import regex

from t21.platforms.base import TextCounting

X_URL_LENGTH = 23
X_DEFAULT_WEIGHT = 200
X_SCALE = 100
# twitter-text v3: code point ranges that weigh 100 (count 1); everything else weighs 200.
X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

_TLDS = (
    "com|org|net|edu|gov|io|co|ai|app|dev|me|info|biz|tv|uk|us|de|fr|es|it|nl|eu|ca|au|jp|"
    "cn|in|br|ru|ch|se|no|fi|dk|pl|be|at|ie|nz|ly|gl|gg|to|fm|so|xyz|online|site|shop|blog"
)
_URL = regex.compile(
    r"(?<![\w@.])"
    r"(?:https?://[^\s<>\"'\u202A-\u202E\u2066-\u2069]+"
    r"|(?:www\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _TLDS + r")\b"
    r"(?::\d{2,5})?(?:/[^\s<>\"']*)?)",
    regex.IGNORECASE,
)
_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
# A keycap (a digit, # or * with U+20E3) is an emoji too.
_EMOJI = regex.compile(
    r"\p{Extended_Pictographic}|\p{Regional_Indicator}|\p{Emoji_Presentation}|\u20E3"
)
# twitter-text takes no link whose host has a label longer than a DNS label (63, after IDNA).
_MAX_LABEL = 63
_HOST = regex.compile(r"^(?:https?://)?([^/:?#]+)", regex.IGNORECASE)


def _url_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _URL.finditer(text):
        if not _valid_host(match.group()):
            continue
        start, end = match.span()
        while end > start and text[end - 1] in _TRAILING_PUNCTUATION:
            end -= 1
        spans.append((start, end))
    return spans


def _valid_host(url: str) -> bool:
    host = _HOST.match(url)
    if host is None:
        return False
    for label in host.group(1).split("."):
        encoded = label if label.isascii() else "xn--" + label.encode("punycode").decode()
        if not label or len(encoded) > _MAX_LABEL:
            return False
    return True


def _code_point_weight(char: str) -> int:
    point = ord(char)
    for low, high in X_LIGHT_RANGES:
        if low <= point <= high:
            return X_SCALE
    return X_DEFAULT_WEIGHT


def _weighted(text: str) -> int:
    if text.isascii():
        # Every ASCII code point weighs 100 and none is (part of) an emoji: no need to walk
        # the grapheme clusters (most posts, ~10x faster).
        return len(text) * X_SCALE
    total = 0
    for cluster in regex.findall(r"\X", text):
        if _EMOJI.search(cluster):
            total += X_DEFAULT_WEIGHT
        else:
            total += sum(_code_point_weight(char) for char in cluster)
    return total


def x_weighted_length(text: str) -> int:
    """The length X checks against its 280 limit."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    cursor = 0
    for start, end in _url_spans(text):
        total += _weighted(text[cursor:start]) + X_URL_LENGTH * X_SCALE
        cursor = end
    total += _weighted(text[cursor:])
    return total // X_SCALE


def grapheme_length(text: str) -> int:
    if text.isascii():
        # In ASCII only CR LF joins into one cluster (UAX #29, GB3).
        return len(text) - text.count("\r\n")
    return len(regex.findall(r"\X", unicodedata.normalize("NFC", text)))


def utf8_emoji_length(text: str) -> int:
    """The length Threads checks against its 500 limit: one per character, each emoji its
    UTF-8 bytes (👍🏽 is 8, ❤️ 6)."""
    if text.isascii():
        return len(text)  # no emoji in ASCII: one per character
    total = 0
    for cluster in regex.findall(r"\X", unicodedata.normalize("NFC", text)):
        total += len(cluster.encode("utf-8")) if _EMOJI.search(cluster) else len(cluster)
    return total


def text_length(text: str, counting: TextCounting) -> int:
    """`text`'s length as a network using `counting` measures it."""
    if counting is TextCounting.X_WEIGHTED:
        return x_weighted_length(text)
    if counting is TextCounting.GRAPHEMES:
        return grapheme_length(text)
    if counting is TextCounting.UTF8_EMOJI:
        return utf8_emoji_length(text)
    return len(unicodedata.normalize("NFC", text))


_ANY_URL = regex.compile(r"https?://\S+|\bwww\.\S+", regex.IGNORECASE)


def comparable(text: str | None) -> str:
    """Post text as networks hand it back, for comparison: links (which networks shorten or
    rewrite) dropped, Unicode in one form (NFC), whitespace collapsed and trimmed, case folded."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", _ANY_URL.sub(" ", text))
    return " ".join(text.split()).casefold()


def loosely_comparable(text: str | None) -> str:
    """Only the letters and digits of `comparable(text)`: two texts equal this way but not
    `comparable` are a near-match, which a person must look at."""
    return "".join(char for char in comparable(text) if char.isalnum())
