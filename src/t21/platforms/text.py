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
from functools import lru_cache
from importlib.resources import files

import regex

from t21.platforms.base import TextCounting

X_URL_LENGTH = 23
X_DEFAULT_WEIGHT = 200
X_SCALE = 100
# twitter-text v3: code point ranges that weigh 100 (count 1); everything else weighs 200.
X_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))


@lru_cache(maxsize=1)
def x_top_level_domains() -> frozenset[str]:
    """twitter-text's top-level domains, lower-case (`x_tlds.txt`: where they come from is in
    its header)."""
    text = files("t21.platforms").joinpath("x_tlds.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and line[0] != "#")


# A link, as twitter-text finds one: an optional scheme, host labels separated by dots, a
# top-level domain X knows at the start of the last label, then an optional port and path.
# Labels: without a scheme, ASCII letters and digits and Latin letters with accents
# ("elpaís.com"); with one, any character but spaces, ASCII punctuation (hyphens and
# underscores inside) and invisible formatting ones ("http://✪df.ws" is a link). Before a link
# X wants no ASCII letter or digit, @, $ or # ("$tvi.ca", "#test.com" are none), nor, without
# a scheme, a hyphen, underscore, dot or slash; after its top-level domain no ASCII letter or
# digit, @, + or hyphen ("example.comだよね" holds the link "example.com", "name.al-x@foo.com"
# none). A path takes ASCII, Cyrillic and accented Latin letters, digits and URL punctuation:
# "t.co/abc한국" ends before the Korean. The rules are read off twitter-text's link extraction
# (https://github.com/twitter/twitter-text, js/src/regexp/extractUrl.js and
# js/src/extractUrlsWithIndices.js) and checked against its vectors.
_LATIN = "a-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_HOST_CHAR = (
    r"[^\s!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]"
)
_LINK = regex.compile(
    r"(?:(?<![A-Za-z0-9@\uff20$#\uff03])(?P<scheme>https?://)"
    f"(?P<host>(?:{_HOST_CHAR}(?:(?:{_HOST_CHAR}|[_-])*{_HOST_CHAR})?\\.)+{_HOST_CHAR}+)"
    r"|(?<![A-Za-z0-9@\uff20$#\uff03_./-])"
    f"(?P<bare>(?:[{_LATIN}](?:[{_LATIN}-]{{0,61}}[{_LATIN}])?\\.)+[^\\W_]+))",
    regex.IGNORECASE,
)
_AFTER_TLD = regex.compile(r"[a-z0-9@+-]", regex.IGNORECASE)
_PORT_AND_PATH = regex.compile(
    f"(?::\\d{{1,5}})?(?:/[{_LATIN}\\u0400-\\u04ff!*';:=+,.$/%#\\[\\]\\-\\u2013_~&|@()]*)?"
    r"(?:\?[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@]*)?",
    regex.IGNORECASE,
)
# A path ends on a letter, a digit or one of =_#/+- (or a parenthesis it opened), a query on a
# letter, a digit or one of -_&=#/: "http://a.com/x*." is the link "http://a.com/x".
_PATH_END = regex.compile(f"[{_LATIN}\\u0400-\\u04ff=_#/+\\-]", regex.IGNORECASE)
_QUERY_END = regex.compile(r"[a-z0-9\-_&=#/]", regex.IGNORECASE)
# A t.co link's path is its slug alone, of at most 40 letters and digits (a longer one is no
# link), and a query may follow it.
_TCO_PATH = regex.compile(
    r"/(?P<slug>[a-z0-9]*)(?:\?[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@]*)?", regex.IGNORECASE
)
_TCO_SLUG_LIMIT = 40
# A keycap (a digit, # or * with U+20E3) is an emoji too.
_EMOJI = regex.compile(
    r"\p{Extended_Pictographic}|\p{Regional_Indicator}|\p{Emoji_Presentation}|\u20E3"
)
# twitter-text takes no link whose host has a label longer than a DNS label (63, after IDNA).
_MAX_LABEL = 63


def _host_end(text: str, start: int, host: str) -> int | None:
    """Where a link's host that begins at `start` ends, or None if it has no top-level domain X
    knows: the end of the longest start of a label, the last label first, that is one and is
    followed by a boundary (an earlier label's is its dot)."""
    tlds = x_top_level_domains()
    labels = host.split(".")
    offset = start + len(host)
    for index in range(len(labels) - 1, 0, -1):
        label = labels[index]
        offset -= len(label)
        for cut in range(len(label), 0, -1):
            if label[:cut].lower() in tlds and _AFTER_TLD.match(text, offset + cut) is None:
                return offset + cut
        offset -= 1  # the dot
    return None


def _trimmed(text: str, start: int, host_end: int, end: int) -> int:
    """`end` moved back to where the link's path or query may end: what follows is punctuation
    of the sentence ("see http://a.com/x." ends before the dot)."""
    while end > host_end:
        last = text[end - 1]
        if "?" in text[host_end : end - 1]:
            if _QUERY_END.match(last):
                break
        elif _PATH_END.match(last) or (
            last == ")" and text.count("(", start, end) >= text.count(")", start, end)
        ):
            break
        end -= 1
    return end


def x_link_spans(text: str) -> list[tuple[int, int]]:
    """Where X sees links in `text` (already NFC): each counts 23 in its length, whatever its
    own. Checked against twitter-text's link extraction vectors (tests/platforms/data)."""
    spans = []
    position = 0
    while (found := _LINK.search(text, position)) is not None:
        start = found.start()
        host_start = found.start("host") if found["scheme"] else found.start("bare")
        host = found["host"] if found["scheme"] else found["bare"]
        host_end = _host_end(text, host_start, host)
        if host_end is None or not _valid_host(text[host_start:host_end]):
            position = found.end()
            continue
        if text[host_start:host_end].lower() == "t.co":
            after = _TCO_PATH.match(text, host_end)
            if after is not None and len(after["slug"]) > _TCO_SLUG_LIMIT:
                position = after.end()
                continue
        else:
            after = _PORT_AND_PATH.match(text, host_end)
        end = after.end() if after is not None else host_end
        position = end
        spans.append((start, _trimmed(text, start, host_end, end)))
    return spans


def _valid_host(host: str) -> bool:
    """twitter-text's checks of a host: no label empty, longer than a DNS label, beginning or
    ending with a hyphen or underscore or punycode with a character beyond ASCII, and no
    underscore but in a subdomain."""
    labels = host.split(".")
    for index, label in enumerate(labels):
        encoded = label if label.isascii() else "xn--" + label.encode("punycode").decode()
        if not label or len(encoded) > _MAX_LABEL or label[0] in "-_" or label[-1] in "-_":
            return False
        if "_" in label and index >= len(labels) - 2:
            return False
        if label[:4].lower() == "xn--" and not label.isascii():
            return False  # punycode is ASCII
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
    for start, end in x_link_spans(text):
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
