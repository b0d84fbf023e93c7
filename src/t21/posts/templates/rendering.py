"""The placeholder language of post templates, deliberately too small to run anything.

- `{{ name }}` is a placeholder: a name of 1 to 64 ASCII letters, digits and underscores, not
  starting with a digit, with optional spaces or tabs inside the braces (`{{name}}` works too).
  Names are case-sensitive.
- `{{{{` is a literal `{{` (`escape()` writes it). Nothing else is special: a single `{`, and
  `}` or `}}` outside a placeholder, are text.
- Anything else between `{{` and `}}` (expressions, filters, dots, quotes), and a `{{` that is
  never closed, is a syntax error. A `{` right before a placeholder can't be written.

Rendering substitutes values as plain text, in one pass over the parsed template: a value is
never parsed, so a value holding `{{ other }}` comes out exactly as it went in. The output is
bounded (`MAX_OUTPUT_BYTES`, UTF-8) and its size is known before it is built, so a short
template repeating a long value can't make the server allocate more than that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OPEN = "{{"
CLOSE = "}}"
ESCAPED_OPEN = "{{{{"
MAX_NAME_LENGTH = 64
MAX_OUTPUT_BYTES = 100_000

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PADDING = " \t"
_QUOTE_LIMIT = 40


@dataclass(frozen=True)
class Placeholder:
    name: str


Segment = str | Placeholder


class TemplateSyntaxError(ValueError):
    """The text is not a valid template; `problems` says what is wrong, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class MissingValues(ValueError):
    """The template uses placeholders that were given no value."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)
        super().__init__("no value for " + ", ".join(self.names))


class OutputTooLarge(ValueError):
    """The rendered text would be over the limit."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"the rendered text would be {size} bytes, over the {limit}-byte limit")


@dataclass(frozen=True)
class ParsedTemplate:
    segments: tuple[Segment, ...]

    @property
    def placeholders(self) -> list[str]:
        """The names used, each once, in order of first use."""
        names = (segment.name for segment in self.segments if isinstance(segment, Placeholder))
        return list(dict.fromkeys(names))


def is_identifier(name: str) -> bool:
    return IDENTIFIER.fullmatch(name) is not None


def _quote(text: str) -> str:
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 1] + "…"


def _placeholder_problem(inner: str) -> str:
    name = inner.strip(_PADDING)
    shown = f"{{{{{_quote(inner)}}}}}"
    if not name:
        return f"{shown} is empty: a placeholder is {{{{ name }}}}"
    if name[0].isdigit() and is_identifier("_" + name):
        return f"{shown}: a variable name can't start with a digit"
    if len(name) > MAX_NAME_LENGTH and is_identifier(name[:MAX_NAME_LENGTH]):
        return f"{shown}: a variable name is at most {MAX_NAME_LENGTH} characters"
    return (
        f"{shown} is not a placeholder: only {{{{ name }}}} with a name of letters, digits and "
        "underscores is allowed (no expressions or filters); write {{{{ for a literal {{"
    )


def parse(text: str) -> ParsedTemplate:
    """The template's literal text and placeholders, or `TemplateSyntaxError` naming every
    malformed placeholder."""
    segments: list[Segment] = []
    problems: list[str] = []
    literal: list[str] = []
    position = 0
    while True:
        start = text.find(OPEN, position)
        if start < 0:
            literal.append(text[position:])
            break
        literal.append(text[position:start])
        if text.startswith(ESCAPED_OPEN, start):
            literal.append(OPEN)
            position = start + len(ESCAPED_OPEN)
            continue
        end = text.find(CLOSE, start + len(OPEN))
        if end < 0:
            after = _quote(text[start : start + _QUOTE_LIMIT])
            problems.append(
                f"{{{{ at character {start + 1} ({after!r}) is never closed with }}}}; "
                "write {{{{ for a literal {{"
            )
            break
        inner = text[start + len(OPEN) : end]
        name = inner.strip(_PADDING)
        if is_identifier(name):
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(Placeholder(name))
        else:
            problems.append(_placeholder_problem(inner))
        position = end + len(CLOSE)
    if problems:
        raise TemplateSyntaxError(problems)
    rest = "".join(literal)
    if rest:
        segments.append(rest)
    return ParsedTemplate(tuple(segments))


def placeholders(text: str) -> list[str]:
    """The placeholder names `text` uses, each once, in order of first use."""
    return parse(text).placeholders


def escape(text: str) -> str:
    """Template text that renders to exactly `text`."""
    return text.replace(OPEN, ESCAPED_OPEN)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def render(
    template: ParsedTemplate | str,
    values: Mapping[str, str],
    *,
    max_bytes: int = MAX_OUTPUT_BYTES,
) -> str:
    """The template with each placeholder replaced by its value, inserted literally.

    `MissingValues` names the placeholders without a value; values for names the template
    doesn't use are ignored here. `OutputTooLarge` when the result would pass `max_bytes`."""
    parsed = parse(template) if isinstance(template, str) else template
    missing = [name for name in parsed.placeholders if name not in values]
    if missing:
        raise MissingValues(missing)
    sizes = {name: _utf8_size(values[name]) for name in parsed.placeholders}
    size = sum(
        sizes[segment.name] if isinstance(segment, Placeholder) else _utf8_size(segment)
        for segment in parsed.segments
    )
    if size > max_bytes:
        raise OutputTooLarge(size, max_bytes)
    return "".join(
        values[segment.name] if isinstance(segment, Placeholder) else segment
        for segment in parsed.segments
    )
