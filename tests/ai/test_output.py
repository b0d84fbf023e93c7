"""Reading model answers and fitting texts: properties that hold for any input."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from t21.ai.output import normalise_hashtags, parse_json, read_variants, trim, with_hashtags
from t21.platforms.base import TextCounting
from t21.platforms.text import text_length

COUNTINGS = st.sampled_from(list(TextCounting))


@given(st.lists(st.text(max_size=30), max_size=40), st.integers(min_value=1, max_value=30))
def test_normalised_hashtags_are_one_word_distinct_and_as_many_as_asked(
    tags: list[str], count: int
) -> None:
    result = normalise_hashtags(tags, count)
    assert len(result) <= count
    assert len({tag.casefold() for tag in result}) == len(result)
    for tag in result:
        assert tag.startswith("#")
        assert tag.count("#") == 1
        assert not any(char.isspace() for char in tag)
        assert any(char.isalpha() for char in tag)
    assert normalise_hashtags(result) == result  # already normal


@given(st.text(min_size=1, max_size=400), st.integers(min_value=2, max_value=300), COUNTINGS)
def test_a_trimmed_text_fits_and_keeps_the_start(
    text: str, limit: int, counting: TextCounting
) -> None:
    trimmed = trim(text, limit, counting)
    assert text_length(trimmed, counting) <= limit
    kept = trimmed.removesuffix("…").rstrip(" ,;:-–—")
    assert text.strip().startswith(kept)


def test_trimming_cuts_between_words() -> None:
    text = "The quick brown fox jumps over the lazy dog"
    assert trim(text, 20, TextCounting.CHARACTERS) == "The quick brown fox…"
    assert trim(text, 100, TextCounting.CHARACTERS) == text
    assert trim("a" * 50, 10, TextCounting.CHARACTERS) == "a" * 9 + "…"


@given(
    st.dictionaries(st.text(max_size=10), st.text(max_size=20) | st.integers(), max_size=5),
    st.sampled_from(["{}", "```json\n{}\n```", "Here it is: {} Enjoy!", "```\n{}```"]),
)
def test_json_is_found_bare_fenced_or_amid_prose(data: dict[str, object], wrapper: str) -> None:
    assert parse_json(wrapper.replace("{}", json.dumps(data))) == data


def test_loose_answers_still_give_variants() -> None:
    assert parse_json('{"variants": [{"content": "a",},],}') == {"variants": [{"content": "a"}]}
    [plain] = read_variants("Fresh beans every Friday #coffee #Leeds")
    assert plain.content == "Fresh beans every Friday"
    assert plain.hashtags == ["#coffee", "#Leeds"]
    assert read_variants('{"variants": [') == []  # broken JSON is not passed off as a post
    listed = read_variants('[{"text": "one"}, "two"]')
    assert [variant.content for variant in listed] == ["one", "two"]


def test_hashtags_already_in_the_text_are_not_added_twice() -> None:
    assert with_hashtags("Hello #Coffee", ["#coffee", "#tea"]) == "Hello #Coffee\n\n#tea"
    assert with_hashtags("Hello", []) == "Hello"
