"""X's weighted length against the published twitter-text conformance vectors, counted twice:
by T21 (`t21.platforms.text`, what the rules check before a post is accepted) and by the fake X
(`t21.sandbox.twitter.counting`, its own code), so a miscount on either side fails here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from t21.platforms.text import x_weighted_length
from t21.sandbox.twitter.counting import weighted_length

VECTORS = json.loads(
    (Path(__file__).parent / "data" / "twitter_text_weighted_length.json").read_text()
)
CASES = [pytest.param(case, id=case["description"][:60]) for case in VECTORS["cases"]]


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
