"""Reading what a model answered, and making it fit a platform.

Models asked for JSON mostly answer JSON, but not always cleanly: inside a ```json fence, after a
sentence, with a trailing comma. `parse_json` finds the JSON in all of those; the readers fall
back to the plain text only when no JSON is there at all. Hashtags are normalised one way
everywhere; texts are measured with the platform's own counting and trimmed on a word boundary.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import regex

from t21.platforms.base import TextCounting
from t21.platforms.text import text_length

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_HASHTAG_IN_TEXT = regex.compile(r"(?<![\w&])#([\p{L}\p{N}_]+)")
_NOT_TAG_CHAR = regex.compile(r"[^\p{L}\p{N}\p{M}_]+")
MAX_HASHTAG = 100
ELLIPSIS = "…"


@dataclass
class Variant:
    content: str
    hashtags: list[str] = field(default_factory=list)


def parse_json(text: str) -> Any | None:
    """The JSON value in a model's answer (bare, fenced, or amid prose), or None."""
    stripped = text.strip()
    candidates = [stripped]
    candidates += [block.strip() for block in _FENCE.findall(stripped)]
    for opening, closing in (("{", "}"), ("[", "]")):
        start, end = stripped.find(opening), stripped.rfind(closing)
        if 0 <= start < end:
            candidates.append(stripped[start : end + 1])
    for candidate in candidates:
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                value = json.loads(attempt)
            except ValueError:
                continue
            if isinstance(value, dict | list):
                return value
    return None


def _looks_like_json(text: str) -> bool:
    stripped = text.strip().removeprefix("```json").removeprefix("```").strip()
    return stripped.startswith(("{", "["))


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        for key in ("content", "text", "post", "caption"):
            if isinstance(value.get(key), str):
                return str(value[key]).strip()
    return None


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str | int)]
    if isinstance(value, str):
        return re.split(r"[\s,]+", value)
    return []


def read_variants(text: str) -> list[Variant]:
    """The variants in an answer to `prompts.generate` (empty when there are none)."""
    data = parse_json(text)
    if isinstance(data, dict):
        items = data.get("variants")
        if items is None and _text(data) is not None:
            items = [data]
    elif isinstance(data, list):
        items = data
    else:
        if not text.strip() or _looks_like_json(text):
            return []
        body = _HASHTAG_IN_TEXT.sub("", text).strip()
        return [Variant(body or text.strip(), normalise_hashtags(_hashtags_in(text)))]
    found = []
    for item in items if isinstance(items, list) else []:
        content = _text(item)
        if content:
            tags = item.get("hashtags") if isinstance(item, dict) else None
            found.append(Variant(content, normalise_hashtags(_tags(tags))))
    return found


def read_hashtags(text: str) -> list[str]:
    """The hashtags in an answer to `prompts.suggest_hashtags`, normalised."""
    data = parse_json(text)
    if isinstance(data, dict):
        return normalise_hashtags(_tags(data.get("hashtags")))
    if isinstance(data, list):
        return normalise_hashtags(_tags(data))
    found = _hashtags_in(text)
    return normalise_hashtags(found if found else _tags(text))


def read_texts(text: str, expected: int) -> list[str] | None:
    """The texts of an answer to `prompts.shorten`, or None unless there are `expected`."""
    data = parse_json(text)
    items = data.get("texts") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return None
    texts = [_text(item) or "" for item in items]
    return texts if len(texts) == expected and all(texts) else None


def read_content(text: str) -> str:
    """An improved post: the plain answer, or its `content` if the model answered JSON."""
    stripped = text.strip()
    if _looks_like_json(stripped):
        data = parse_json(stripped)
        found = _text(data) if isinstance(data, dict) else None
        if found:
            return found
    fenced = _FENCE.fullmatch(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in '"“':
        stripped = stripped[1:-1].strip()
    return stripped


def _hashtags_in(text: str) -> list[str]:
    return [match.group(0) for match in _HASHTAG_IN_TEXT.finditer(text)]


def normalise_hashtags(tags: Iterable[str], count: int | None = None) -> list[str]:
    """`#` first, one word (spaces and punctuation removed), at least one letter, no duplicates
    (compared case-insensitively, the first spelling kept), at most `count`."""
    seen: set[str] = set()
    result: list[str] = []
    for tag in tags:
        word = _NOT_TAG_CHAR.sub("", str(tag).strip().lstrip("#＃"))[: MAX_HASHTAG - 1]
        if not word or not any(char.isalpha() for char in word):
            continue
        folded = word.casefold()
        if folded in seen:
            continue
        seen.add(folded)
        result.append(f"#{word}")
        if count is not None and len(result) >= count:
            break
    return result


def fits(text: str, limit: int, counting: TextCounting) -> bool:
    return text_length(text, counting) <= limit


def with_hashtags(content: str, hashtags: list[str]) -> str:
    """The post as published: the text, then the hashtags it doesn't already contain."""
    present = {tag.casefold() for tag in _hashtags_in(content)}
    extra = [tag for tag in hashtags if tag.casefold() not in present]
    return f"{content}\n\n{' '.join(extra)}" if extra else content


def trim(text: str, limit: int, counting: TextCounting) -> str:
    """`text` cut on a word boundary (with an ellipsis) so it fits `limit` as counted there."""
    text = text.strip()
    if fits(text, limit, counting):
        return text
    cuts = [match.start() for match in re.finditer(r"\s+", text)]
    best = None
    low, high = 0, len(cuts) - 1
    while low <= high:  # the longest prefix ending at a word boundary that fits
        middle = (low + high) // 2
        candidate = text[: cuts[middle]].rstrip(" ,;:-–—") + ELLIPSIS
        if fits(candidate, limit, counting):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    if best is not None and best != ELLIPSIS:
        return best
    clusters = regex.findall(r"\X", text)  # one long word: cut between characters
    low, high, best = 0, len(clusters), ""
    while low <= high:
        middle = (low + high) // 2
        candidate = "".join(clusters[:middle]) + ELLIPSIS
        if fits(candidate, limit, counting):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


def fit_hashtags(
    content: str, hashtags: list[str], limit: int, counting: TextCounting
) -> list[str]:
    """As many of `hashtags` (in order) as fit after `content` within the limit."""
    kept = list(hashtags)
    while kept and not fits(with_hashtags(content, kept), limit, counting):
        kept.pop()
    return kept
