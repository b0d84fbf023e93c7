"""The fake X's own count of a post's weighted length, written apart from T21's counter
(`t21.platforms.text`) so that a miscount on either side shows up as a disagreement.

It follows twitter-text 3, the counting X applies to its 280 limit
(https://github.com/twitter/twitter-text/blob/master/config/v3.json): after NFC, each URL counts
23; each emoji sequence counts 2; code points in four light ranges count 1 and all others 2.
It is checked against the conformance vectors of twitter-text (`conformance/validate.yml`,
WeightedTweetsWithDiscountedEmojiCounterTest), stored in tests/platforms/data. Its links are
found by its own code, held to twitter-text's link extraction vectors (`conformance/extract.yml`)
as T21's is; only the list of top-level domains X knows is shared with T21.
"""

from __future__ import annotations

import unicodedata
from importlib.resources import files

import regex

SCALE = 100
DEFAULT_WEIGHT = 200
URL_WEIGHT = 23 * SCALE
EMOJI_WEIGHT = 200
LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))  # weigh 100 (config/v3.json)
MAX_LABEL = 63  # a DNS label, after IDNA (punycode) encoding

# An emoji as twitter-text parses it: a flag, a keycap, a tag sequence, or pictographs with
# their modifiers and variation selectors joined by ZWJ.
_EMOJI = regex.compile(
    r"""
      \p{Regional_Indicator}{2}
    | [0-9#*]\uFE0F?\u20E3
    | (?:\p{Extended_Pictographic}|\p{Emoji_Presentation})
      (?:\p{Emoji_Modifier}|\uFE0F|[\U000E0020-\U000E007E]+\U000E007F)*
      (?:\u200D(?:\p{Extended_Pictographic}|\p{Emoji_Presentation})
         (?:\p{Emoji_Modifier}|\uFE0F)*)*
    """,
    regex.VERBOSE,
)
# A link needs a top-level domain X knows (one without a scheme is a link only because of it):
# the list twitter-text publishes (kept with T21's platforms: the data, not T21's code, shared).
_KNOWN_TLDS = frozenset(
    line.strip()
    for line in files("t21.platforms").joinpath("x_tlds.txt").read_text("utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
# Links, by twitter-text's rules (its extractor, js/src/regexp/extractUrl.js, and its vectors,
# conformance/extract.yml), walked here a character at a time after the host:
# - no ASCII letter or digit, @, ＠, $, # or ＃ right before a link, and, before one without a
#   scheme, no hyphen, underscore, dot or slash either;
# - a host is labels joined by dots; with a scheme a label holds anything but spaces, ASCII
#   punctuation and invisible formatting marks (with inner hyphens and underscores), without
#   one only ASCII letters and digits and accented Latin letters (with inner hyphens);
# - the host ends at the end of a top-level domain X knows that starts one of its labels, the
#   rightmost there is, if no ASCII letter or digit, @, + or hyphen follows it;
# - then a port, a path and a query, each of its own characters, ending on one of its ending
#   characters (a closing parenthesis only if the link opened it); t.co takes a slug of at
#   most 40 letters and digits as its whole path.
_ASCII_PUNCTUATION = "!-/:-@\\[-`{-~"
_INVISIBLE = "\\u202a-\\u202e\\u2066-\\u2069\\ufeff\\ufffe\\uffff"
_ACCENTED = "\\u00c0-\\u00d6\\u00d8-\\u00f6\\u00f8-\\u024f\\u1e00-\\u1eff"
_SCHEMED = regex.compile(
    f"(?<![A-Za-z0-9@\\uff20$#\\uff03])https?://"
    f"(?P<host>[^\\s{_ASCII_PUNCTUATION}{_INVISIBLE}]"
    f"(?:[^\\s{_ASCII_PUNCTUATION}{_INVISIBLE}]|[._-])*)",
    regex.IGNORECASE,
)
_BARE = regex.compile(
    f"(?<![A-Za-z0-9@\\uff20$#\\uff03_./-])(?P<host>[a-z0-9{_ACCENTED}](?:[a-z0-9{_ACCENTED}.-])*"
    f"\\.[^\\s{_ASCII_PUNCTUATION}{_INVISIBLE}]+)",
    regex.IGNORECASE,
)
_NO_BOUNDARY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@+-")
_PORT = regex.compile(r":\d{1,5}")
_PATH_CHARS = regex.compile(
    f"[a-z0-9{_ACCENTED}\\u0400-\\u04ff!*';:=+,.$/%#\\[\\]\\-\\u2013_~&|@()]", regex.IGNORECASE
)
_PATH_ENDS = regex.compile(f"[a-z0-9{_ACCENTED}\\u0400-\\u04ff=_#/+\\-]", regex.IGNORECASE)
_QUERY_CHARS = regex.compile(r"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@]", regex.IGNORECASE)
_QUERY_ENDS = regex.compile(r"[a-z0-9\-_&=#/]", regex.IGNORECASE)
_TCO_SLUG = regex.compile(r"[a-z0-9]*", regex.IGNORECASE)
TCO_SLUG_MAX = 40


def _start(found: regex.Match[str]) -> int:
    return found.start()


def _label_ok(label: str, in_domain_name: bool) -> bool:
    if not label or label[0] in "-_" or label[-1] in "-_":
        return False
    if in_domain_name and "_" in label:
        return False  # an underscore only in a subdomain
    if label.isascii():
        return len(label) <= MAX_LABEL
    if label.lower().startswith("xn--"):
        return False  # punycode is ASCII
    return len("xn--") + len(label.encode("punycode")) <= MAX_LABEL


def _domain_end(text: str, host_start: int, host: str) -> int | None:
    """The end of the host's top-level domain in `text`, or None if it has none X knows."""
    label_end = host_start + len(host)
    for label in reversed(host.split(".")[1:]):
        label_start = label_end - len(label)
        for size in range(len(label), 0, -1):
            after = label_start + size
            if label[:size].lower() in _KNOWN_TLDS and (
                after == len(text) or text[after] not in _NO_BOUNDARY
            ):
                return after
        label_end = label_start - 1
    return None


def _rest_end(text: str, link_start: int, at: int) -> int:
    """Where a link whose host ends at `at` ends, its port, path and query taken."""
    port = _PORT.match(text, at)
    if port is not None:
        at = port.end()
    if at < len(text) and text[at] == "/":
        end = at + 1
        while end < len(text) and _PATH_CHARS.match(text[end]):
            end += 1
        while end > at + 1:
            last = text[end - 1]
            opened = text.count("(", link_start, end) >= text.count(")", link_start, end)
            if _PATH_ENDS.match(last) or (last == ")" and opened):
                break
            end -= 1
        at = end
    if at < len(text) and text[at] == "?":
        end = at + 1
        while end < len(text) and _QUERY_CHARS.match(text[end]):
            end += 1
        while end > at + 1 and not _QUERY_ENDS.match(text[end - 1]):
            end -= 1
        if end > at + 1:
            at = end
    return at


def _tco_end(text: str, at: int) -> int | None:
    """Where a t.co link whose host ends at `at` ends, or None if its slug is too long."""
    if at >= len(text) or text[at] != "/":
        return at
    slug = _TCO_SLUG.match(text, at + 1)
    assert slug is not None  # it matches the empty string
    if slug.end() - slug.start() > TCO_SLUG_MAX:
        return None
    return (
        _rest_end(text, at, slug.end()) if text[slug.end() : slug.end() + 1] == "?" else slug.end()
    )


def _link_at(text: str, found: regex.Match[str]) -> int | None:
    """The end of the link `found` starts, or None if it holds none."""
    host_start = found.start("host")
    host_end = _domain_end(text, host_start, found["host"])
    if host_end is None:
        return None
    labels = text[host_start:host_end].split(".")
    if not all(_label_ok(label, i >= len(labels) - 2) for i, label in enumerate(labels)):
        return None
    if text[host_start:host_end].lower() == "t.co":
        return _tco_end(text, host_end)
    return _rest_end(text, found.start(), host_end)


def _link_spans(text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    at = 0
    # The next candidate of each kind, searched again only once `at` has passed it.
    schemed, bare = _SCHEMED.search(text), _BARE.search(text)
    while True:
        if schemed is not None and schemed.start() < at:
            schemed = _SCHEMED.search(text, at)
        if bare is not None and bare.start() < at:
            bare = _BARE.search(text, at)
        # At the same place, the link with a scheme (`min` keeps the first of equals).
        found = min((m for m in (schemed, bare) if m is not None), key=_start, default=None)
        if found is None:
            return spans
        end = _link_at(text, found)
        if end is None:
            at = found.start() + 1
            continue
        spans.append((found.start(), end))
        at = end


def _point_weight(point: int) -> int:
    return SCALE if any(low <= point <= high for low, high in LIGHT) else DEFAULT_WEIGHT


def _plain_weight(text: str) -> int:
    total, at = 0, 0
    while at < len(text):
        emoji = _EMOJI.match(text, at)
        if emoji is not None:
            total += EMOJI_WEIGHT
            at = emoji.end()
        else:
            total += _point_weight(ord(text[at]))
            at += 1
    return total


def weighted_length(text: str) -> int:
    """The length X measures against its limit."""
    text = unicodedata.normalize("NFC", text)
    total, at = 0, 0
    for start, end in _link_spans(text):
        total += _plain_weight(text[at:start]) + URL_WEIGHT
        at = end
    return (total + _plain_weight(text[at:])) // SCALE
