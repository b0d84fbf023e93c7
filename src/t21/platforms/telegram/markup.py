"""Formatted text for Telegram, computed by T21: a post written with `parse_mode` ("HTML" or
"MarkdownV2", Telegram's own two markups) becomes plain text plus `MessageEntity` objects whose
offsets and lengths count UTF-16 code units, as the Bot API requires.

Parsing here rather than sending `parse_mode` lets T21 refuse broken markup when the post is
written (422) instead of when Telegram answers 400 at publishing time, and count the length
Telegram checks ("1-4096 characters after entities parsing"; captions 0-1024).

Source: https://core.telegram.org/bots/api#formatting-options (the tags and the MarkdownV2
syntax, its escaping rules), https://core.telegram.org/bots/api#messageentity (entity types;
"offset in UTF-16 code units").
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

HTML = "HTML"
MARKDOWN_V2 = "MarkdownV2"

# HTML tags Telegram understands, and the entity each makes.
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "span": "spoiler",  # only as <span class="tg-spoiler">
}
# MarkdownV2: characters that must be escaped with a backslash outside entities.
_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


class MarkupError(ValueError):
    """The markup isn't valid; the message says where, for the person who wrote it."""


def utf16_length(text: str) -> int:
    """`text`'s length in UTF-16 code units, the unit of Telegram's offsets and limits."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class Formatted:
    """Plain text and its entities, ready for `text`/`caption` and `entities`."""

    text: str
    entities: list[dict[str, Any]]

    @property
    def length(self) -> int:
        return utf16_length(self.text)


def parse(text: str, parse_mode: str | None) -> Formatted:
    """`text` in `parse_mode` as plain text with entities; plain text is left as it is
    (Telegram itself links URLs, @mentions and #hashtags in it)."""
    if parse_mode is None:
        return Formatted(text, [])
    if parse_mode == HTML:
        return _parse_html(text)
    if parse_mode == MARKDOWN_V2:
        return _parse_markdown_v2(text)
    raise MarkupError(f"Unknown parse_mode {parse_mode!r}; use HTML or MarkdownV2.")


class _Builder:
    """Plain text being written, with open entities counted in UTF-16 units."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.position = 0
        self.entities: list[dict[str, Any]] = []

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.position += utf16_length(text)

    def close(self, entity: dict[str, Any], start: int) -> None:
        length = self.position - start
        if length > 0:  # Telegram drops empty entities
            self.entities.append({**entity, "offset": start, "length": length})

    def result(self) -> Formatted:
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return Formatted("".join(self.parts), ordered)


class _HtmlReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Builder()
        self.open: list[tuple[str, dict[str, Any], int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kind = _HTML_TAGS.get(tag)
        values = dict(attrs)
        if kind is None or (tag == "span" and values.get("class") != "tg-spoiler"):
            raise MarkupError(f"Unsupported tag <{tag}> (Telegram takes {_tag_list()}).")
        entity: dict[str, Any] = {"type": kind}
        if tag == "a":
            href = (values.get("href") or "").strip()
            if not href:
                raise MarkupError("A link <a> needs an href.")
            entity["url"] = href
        if tag == "code" and self.open and self.open[-1][0] == "pre":
            language = (values.get("class") or "").removeprefix("language-")
            if language:
                self.open[-1][1]["language"] = language
        self.open.append((tag, entity, self.out.position))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise MarkupError(f"Unexpected end tag </{tag}>.")
        opened, entity, start = self.open.pop()
        inside_pre = bool(self.open) and self.open[-1][0] == "pre" and opened == "code"
        if not inside_pre:  # <pre><code class="language-x"> is one pre entity
            self.out.close(entity, start)

    def handle_data(self, data: str) -> None:
        self.out.write(data)


def _tag_list() -> str:
    return ", ".join(f"<{tag}>" for tag in _HTML_TAGS if tag != "span")


def _parse_html(text: str) -> Formatted:
    reader = _HtmlReader()
    try:
        reader.feed(text)
        reader.close()
    except AssertionError as exc:  # HTMLParser's own refusal of malformed markup
        raise MarkupError(f"Malformed HTML: {exc}") from None
    if reader.open:
        raise MarkupError(f"The tag <{reader.open[-1][0]}> is never closed.")
    return reader.out.result()


_MD_MARKERS = (("```", "pre"), ("||", "spoiler"), ("__", "underline"))
_MD_SINGLE = {"*": "bold", "_": "italic", "~": "strikethrough"}


def _parse_markdown_v2(text: str) -> Formatted:
    out = _Builder()
    open_: list[tuple[str, dict[str, Any], int]] = []  # marker, entity, start
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text):
                raise MarkupError("A backslash at the end escapes nothing.")
            out.write(text[i + 1])
            i += 2
            continue
        if char == "`":
            i = _md_code(text, i, out)
            continue
        marker = next((m for m, _ in _MD_MARKERS if text.startswith(m, i)), None)
        kind = dict(_MD_MARKERS).get(marker) if marker else _MD_SINGLE.get(char)
        if marker is None and char in _MD_SINGLE:
            marker = char
        if marker is not None and kind is not None:
            if open_ and open_[-1][0] == marker:
                _, entity, start = open_.pop()
                out.close(entity, start)
            elif any(m == marker for m, _, _ in open_):
                raise MarkupError(f"Entities overlap at '{marker}' (position {i}).")
            else:
                open_.append((marker, {"type": kind}, out.position))
            i += len(marker)
            continue
        if char == "[":
            open_.append(("[", {"type": "text_link"}, out.position))
            i += 1
            continue
        if char == "]" and open_ and open_[-1][0] == "[":
            i = _md_link_end(text, i, out, open_)
            continue
        if char in _RESERVED:
            raise MarkupError(
                f"Character '{char}' is reserved in MarkdownV2 and must be escaped with '\\' "
                f"(position {i})."
            )
        out.write(char)
        i += 1
    if open_:
        raise MarkupError(f"Can't find the end of the entity opened by '{open_[-1][0]}'.")
    return out.result()


def _md_code(text: str, i: int, out: _Builder) -> int:
    """Inline code or a pre block starting at `i`; where parsing continues."""
    fence = "```" if text.startswith("```", i) else "`"
    start = i + len(fence)
    end = start
    body: list[str] = []
    while end < len(text):
        if text[end] == "\\" and end + 1 < len(text):
            body.append(text[end + 1])
            end += 2
            continue
        if text.startswith(fence, end):
            break
        body.append(text[end])
        end += 1
    else:
        raise MarkupError(f"Can't find the end of the {fence} code entity.")
    content = "".join(body)
    entity: dict[str, Any] = {"type": "pre" if fence == "```" else "code"}
    if fence == "```" and "\n" in content:
        first, rest = content.split("\n", 1)
        if first and " " not in first:
            entity["language"] = first
            content = rest
    position = out.position
    out.write(content)
    out.close(entity, position)
    return end + len(fence)


def _md_link_end(
    text: str, i: int, out: _Builder, open_: list[tuple[str, dict[str, Any], int]]
) -> int:
    if not text.startswith("(", i + 1):
        raise MarkupError(f"A link's text must be followed by (url) (position {i}).")
    end = i + 2
    url: list[str] = []
    while end < len(text) and text[end] != ")":
        if text[end] == "\\" and end + 1 < len(text):
            url.append(text[end + 1])
            end += 2
            continue
        url.append(text[end])
        end += 1
    if end >= len(text):
        raise MarkupError("A link's (url) is never closed.")
    _, entity, start = open_.pop()
    entity["url"] = "".join(url).strip()
    if not entity["url"]:
        raise MarkupError("A link needs a URL.")
    out.close(entity, start)
    return end + 1
