"""X's weighted length against the published twitter-text conformance vectors, counted twice:
by T21 (`t21.platforms.text`, what the rules check before a post is accepted) and by the fake X
(`t21.sandbox.twitter.counting`, its own code), so a miscount on either side fails here; and the
links T21 finds (each counts 23) against twitter-text's link extraction vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from t21.platforms.text import x_link_spans, x_top_level_domains, x_weighted_length
from t21.sandbox.twitter.counting import weighted_length

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "twitter_text_weighted_length.json").read_text()
)
CASES = [pytest.param(case, id=case["description"][:60]) for case in VECTORS["cases"]]
LINKS = json.loads((Path(__file__).parent / "data" / "twitter_text_links.json").read_text())
LINK_CASES = [
    pytest.param(case, id=f"{case['section']}: {case['description'][:60]}")
    for case in LINKS["cases"]
]


def test_the_vectors_say_where_they_come_from() -> None:
    assert VECTORS["source"].startswith("https://github.com/twitter/twitter-text/blob/")
    assert len(VECTORS["cases"]) >= 20


@pytest.mark.parametrize("case", CASES)
def test_t21_counts_as_twitter_text_does(case: dict[str, Any]) -> None:
    assert x_weighted_length(case["text"]) == case["weightedLength"]


@pytest.mark.parametrize("case", CASES)
def test_the_fake_x_counts_as_twitter_text_does(case: dict[str, Any]) -> None:
    assert weighted_length(case["text"]) == case["weightedLength"]


@pytest.mark.parametrize("case", CASES)
def test_validity_is_the_weighted_length_within_280(case: dict[str, Any]) -> None:
    # The vectors' own "valid" also refuses invalid characters (U+FFFE, U+FFFF).
    if "\ufffe" in case["text"] or "\uffff" in case["text"]:
        assert case["valid"] is False
        return
    assert case["valid"] is (case["weightedLength"] <= 280)


def test_the_link_vectors_say_where_they_come_from() -> None:
    assert LINKS["source"].startswith("https://github.com/twitter/twitter-text/blob/")
    assert len(LINKS["cases"]) >= 100


@pytest.mark.parametrize("case", LINK_CASES)
def test_t21_finds_the_links_twitter_text_finds(case: dict[str, Any]) -> None:
    text = case["text"]
    assert [text[start:end] for start, end in x_link_spans(text)] == case["expected"]


@pytest.mark.parametrize("case", LINK_CASES)
def test_both_counters_count_each_link_twitter_text_finds_as_23(case: dict[str, Any]) -> None:
    # The text with each link replaced by 23 x's (a run of letters, no link) counts the same.
    text, plain, at = case["text"], "", 0
    for link in case["expected"]:
        start = text.index(link, at)
        plain += text[at:start] + "x" * 23
        at = start + len(link)
    plain += text[at:]
    assert x_link_spans(plain) == []
    expected = x_weighted_length(plain)
    assert (x_weighted_length(text), weighted_length(text)) == (expected, expected)


def test_a_link_without_a_scheme_counts_23_under_every_top_level_domain_x_knows() -> None:
    # "see " + the link + " now": 4 + 23 + 4, on both sides.
    domains = x_top_level_domains()
    assert len(domains) > 1500
    assert {"com", "md", "py", "zip", "app", "みんな"} <= domains
    for domain in domains:
        text = f"see docs.{domain} now"
        assert (x_weighted_length(text), weighted_length(text)) == (31, 31), domain


@pytest.mark.parametrize(
    ("text", "length"),
    [
        # File names under a country's or a generic domain are links to X.
        ("Edit readme.md and setup.py", 4 + 1 + 23 + 5 + 23),
        ("Read the notes.txt first", 24),  # .txt is no top-level domain: plain text
        ("Email name.al-lastname@foo.com", 30),  # an address's parts are no links
        ("$TVI.CA is up", 13),  # a cashtag, not a link
        ("日本語example.com中国語", 3 * 2 + 23 + 3 * 2),  # CJK counts 2; the link stops at it
        # A path ends on a letter, digit or =_#/+-: the rest is the sentence's.
        ("see http://a.com/x*.", 4 + 23 + 2),
        ("(http://a.com/wiki/A_(b))", 1 + 23 + 1),
    ],
)
def test_links_count_as_x_counts_them(text: str, length: int) -> None:
    assert x_weighted_length(text) == length
