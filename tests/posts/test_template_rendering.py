"""The placeholder language: what parses, what doesn't, and that values are only ever text."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from t21.posts.templates.rendering import (
    MissingValues,
    OutputTooLarge,
    Placeholder,
    TemplateSyntaxError,
    escape,
    parse,
    placeholders,
    render,
)

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,63}", fullmatch=True)
no_placeholders = st.text().filter(lambda text: "{{" not in text)
padding = st.text(alphabet=" \t", max_size=3)
# Text dense in braces, where the parser's edge cases live.
bracy = st.text(alphabet=st.sampled_from(["{", "}", " ", "a", "_", "1", ".", "\n", "é"]))
any_text = st.one_of(st.text(), bracy)


@given(no_placeholders)
def test_text_without_placeholders_renders_as_itself(text: str) -> None:
    assert render(text, {}) == text
    assert placeholders(text) == []


@given(any_text)
def test_escaped_text_renders_to_exactly_that_text(text: str) -> None:
    assert render(escape(text), {}) == text


@given(any_text, any_text, names, any_text, padding, padding)
def test_a_value_is_inserted_literally_and_never_read_as_a_template(
    before: str, after: str, name: str, value: str, left: str, right: str
) -> None:
    assume(not before.endswith("{"))  # a `{` right before a placeholder can't be written
    template = f"{escape(before)}{{{{{left}{name}{right}}}}}{escape(after)}"
    assert render(template, {name: value}) == before + value + after


@given(any_text)
def test_any_text_either_parses_or_is_a_syntax_error(text: str) -> None:
    try:
        parsed = parse(text)
    except TemplateSyntaxError as error:
        problems = error.problems
        assert problems
        return
    written = "".join(
        f"{{{{ {segment.name} }}}}" if isinstance(segment, Placeholder) else escape(segment)
        for segment in parsed.segments
    )
    assert parse(written) == parsed


def test_a_value_that_looks_like_a_placeholder_stays_literal() -> None:
    rendered = render("Hi {{ name }}!", {"name": "{{ secret }} {{{{ x", "secret": "leak"})
    assert rendered == "Hi {{ secret }} {{{{ x!"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{name}}", "Ada"),
        ("{{ name }}", "Ada"),
        ("{{\tname  }}", "Ada"),
        ("{{{{ name }}", "{{ name }}"),
        ("{{{{{{{{", "{{{{"),
        ("{ name }", "{ name }"),
        ("a } b }} c", "a } b }} c"),
        ("{{ name }}}", "Ada}"),
        ("{{ name }}{{ name }}", "AdaAda"),
    ],
)
def test_placeholder_syntax(template: str, expected: str) -> None:
    assert render(template, {"name": "Ada"}) == expected


def test_placeholders_are_listed_once_in_order_of_first_use() -> None:
    assert placeholders("{{ b }} {{ a }} {{ b }} {{ _c1 }}") == ["b", "a", "_c1"]


def test_names_are_case_sensitive() -> None:
    assert placeholders("{{ Name }} {{ name }}") == ["Name", "name"]


@pytest.mark.parametrize(
    ("template", "mentions"),
    [
        ("{{ }}", "empty"),
        ("{{ user.name }}", "not a placeholder"),
        ("{{ name | upper }}", "not a placeholder"),
        ("{{ 1 + 1 }}", "not a placeholder"),
        ("{{ 'x' }}", "not a placeholder"),
        ("{{ __import__('os').system('id') }}", "not a placeholder"),
        ("{{ 9lives }}", "can't start with a digit"),
        ("{{ " + "a" * 65 + " }}", "at most 64"),
        ("{{ naïve }}", "not a placeholder"),
        ("{{ first\nname }}", "not a placeholder"),
        ("{{{ name }}", "not a placeholder"),
        ("Hello {{ name", "never closed"),
    ],
)
def test_anything_else_between_the_braces_is_a_syntax_error(template: str, mentions: str) -> None:
    with pytest.raises(TemplateSyntaxError) as raised:
        parse(template)
    assert mentions in raised.value.problems[0]


def test_other_template_languages_are_plain_text() -> None:
    template = "{% for x in y %}{{ x }}{% endfor %} ${x} {x}"
    assert render(template, {"x": "1"}) == "{% for x in y %}1{% endfor %} ${x} {x}"


def test_every_malformed_placeholder_is_reported() -> None:
    with pytest.raises(TemplateSyntaxError) as raised:
        parse("{{ a.b }} fine {{ ok }} {{ c|d }}")
    assert len(raised.value.problems) == 2


def test_missing_values_are_named() -> None:
    with pytest.raises(MissingValues) as raised:
        render("{{ a }} {{ b }} {{ c }}", {"b": "x"})
    assert raised.value.names == ["a", "c"]


def test_output_is_bounded_before_it_is_built() -> None:
    template = "{{ v }}" * 1000
    assert len(render(template, {"v": "x" * 100})) == 100_000
    with pytest.raises(OutputTooLarge) as raised:
        render(template, {"v": "x" * 101})
    assert raised.value.size == 101_000
    with pytest.raises(OutputTooLarge):
        render("{{ v }}", {"v": "é" * 50_001})
