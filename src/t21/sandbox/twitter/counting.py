"""The fake X's own count of a post's weighted length, written apart from T21's counter
(`t21.platforms.text`) so that a miscount on either side shows up as a disagreement.

It follows twitter-text 3, the counting X applies to its 280 limit
(https://github.com/twitter/twitter-text/blob/master/config/v3.json): after NFC, each URL counts
23; each emoji sequence counts 2; code points in four light ranges count 1 and all others 2.
It is checked against the conformance vectors of twitter-text (`conformance/validate.yml`,
WeightedTweetsWithDiscountedEmojiCounterTest), stored in tests/platforms/data. Its links are
found with its own, looser rules; only the list of top-level domains X knows is shared with T21.
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
# Bare domains (without a scheme) are links only under a top-level domain X knows: the list
# twitter-text publishes (kept with T21's platforms: the data, not T21's code, is shared).
_BARE_TLDS = frozenset(
    line.strip()
    for line in files("t21.platforms").joinpath("x_tlds.txt").read_text("utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
_CANDIDATE = regex.compile(
    r"(?<![\w@.\-/])(?P<scheme>https?://)?(?P<host>(?:[\w\-]+\.)+[\w\-]+)(?::\d{1,5})?"
    r"(?P<path>/[^\s\u202A-\u202E\u2066-\u2069]*)?",
    regex.IGNORECASE,
)
_TRAILING = ".,;:!?'\")]}"
# Directional formatting characters end a link (twitter-text leaves them out of it).


def _label_ok(label: str) -> bool:
    if not label or label.startswith("-") or label.endswith("-"):
        return False
    if label.isascii():
        return len(label) <= MAX_LABEL
    return len("xn--") + len(label.encode("punycode")) <= MAX_LABEL


def _link_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for found in _CANDIDATE.finditer(text):
        labels = found["host"].split(".")
        if not all(_label_ok(label) for label in labels):
            continue
        tld = labels[-1].lower()
        if found["scheme"] is None and tld not in _BARE_TLDS:
            continue
        if tld.isdigit():
            continue
        start, end = found.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        spans.append((start, end))
    return spans


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
