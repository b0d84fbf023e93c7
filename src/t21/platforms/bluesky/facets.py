"""Rich-text facets of a Bluesky post: links, mentions and hashtags found in the text, each
with its UTF-8 byte range (`app.bsky.richtext.facet`: byteStart inclusive, byteEnd exclusive).

Detection follows the reference client's rules (packages/api/src/rich-text/detection.ts):
a mention is `@handle` with a dot in the handle, a link starts with http(s)://, a tag is `#`
followed by non-space text that isn't only digits, at most 64 graphemes, trailing punctuation
trimmed. Mentions whose handle doesn't resolve to a DID are left as plain text."""

from __future__ import annotations

from dataclasses import dataclass

import regex

_MENTION = regex.compile(
    r"(?:^|\s|\()@(([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)\b"
)
_LINK = regex.compile(r"(?:^|\s|\()(https?://[\S]+)", regex.IGNORECASE)
_TAG = regex.compile(
    r"(?:^|\s)[#＃]((?!\ufe0f)[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*[^\d\s\p{P}\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]+[^\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]*)?"
)
_TRAILING = regex.compile(r"\p{P}+$")
_LINK_TRAILING = ".,;:!?\"'"
MAX_TAG_GRAPHEMES = 64


@dataclass(frozen=True)
class Found:
    kind: str  # "link", "mention" or "tag"
    value: str  # the URL, the handle (without @) or the tag (without #)
    start: int  # character offsets in the text
    end: int


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def detect(text: str) -> list[Found]:
    """Links, mentions and tags in `text`, in order, with character offsets."""
    found: list[Found] = []
    for match in _MENTION.finditer(text):
        start = match.start(1) - 1
        found.append(Found("mention", match.group(1), start, match.end(1)))
    for match in _LINK.finditer(text):
        url = match.group(1)
        end = match.end(1)
        while url and (url[-1] in _LINK_TRAILING or (url[-1] == ")" and "(" not in url)):
            url, end = url[:-1], end - 1
        if "." in url.split("://", 1)[1].split("/", 1)[0]:
            found.append(Found("link", url, match.start(1), end))
    for match in _TAG.finditer(text):
        tag = match.group(1)
        if not tag:
            continue
        trimmed = _TRAILING.sub("", tag)
        if not trimmed or len(regex.findall(r"\X", trimmed)) > MAX_TAG_GRAPHEMES:
            continue
        start = match.start(1) - 1
        found.append(Found("tag", trimmed, start, start + 1 + len(trimmed)))
    found.sort(key=lambda item: item.start)
    return found


def facet(text: str, item: Found, did: str | None = None) -> dict[str, object]:
    """The facet of one found item (`did` for a resolved mention)."""
    feature: dict[str, object]
    if item.kind == "link":
        feature = {"$type": "app.bsky.richtext.facet#link", "uri": item.value}
    elif item.kind == "mention":
        feature = {"$type": "app.bsky.richtext.facet#mention", "did": did}
    else:
        feature = {"$type": "app.bsky.richtext.facet#tag", "tag": item.value}
    return {
        "index": {
            "byteStart": _byte_offset(text, item.start),
            "byteEnd": _byte_offset(text, item.end),
        },
        "features": [feature],
    }
