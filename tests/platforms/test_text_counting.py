"""Text in ASCII alone is counted without walking its grapheme clusters: the counts must be the
ones the clusters give (CR LF one cluster, no emoji in ASCII), and X's the fake X's (its own
code, `t21.sandbox.twitter.counting`)."""

from __future__ import annotations

import random

import regex

from t21.platforms.text import grapheme_length, utf8_emoji_length, x_weighted_length
from t21.sandbox.twitter.counting import weighted_length

_PIECES = [
    "Launch day!",
    " ",
    "\r\n",
    "\r",
    "\n",
    "\t",
    "#spring",
    "@brand",
    "1*#",
    "https://example.com/a?b=c.",
    "www.example.org",
    "example.io/path",
    "(see t.co)",
    "\x00\x1f\x7f",
    "".join(chr(code) for code in range(32, 127)),
]


def _samples() -> list[str]:
    rng = random.Random(21)
    texts = ["", "".join(chr(code) for code in range(128)), "\r\n\r\n", "a\r\n\nb"]
    for _ in range(300):
        texts.append(" ".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12))))
    return texts


def test_ascii_text_counts_as_its_grapheme_clusters_do() -> None:
    for text in _samples():
        assert text.isascii()
        clusters = regex.findall(r"\X", text)
        assert grapheme_length(text) == len(clusters), repr(text)
        assert utf8_emoji_length(text) == sum(len(cluster) for cluster in clusters), repr(text)
        assert x_weighted_length(text) == weighted_length(text), repr(text)


def test_text_beyond_ascii_is_still_counted_by_its_clusters() -> None:
    assert grapheme_length("e\u0301\r\n👍🏽") == 3
    assert utf8_emoji_length("ok 👍🏽") == 3 + 8
    assert x_weighted_length("ok 👍🏽 日本") == 3 + 2 + 1 + 4
