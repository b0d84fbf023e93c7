"""The fake PDS's check of a link card, `app.bsky.embed.external`, as the lexicon says:
`external` an object with string `uri`, `title` and `description`, and an optional `thumb`, a
blob this account uploaded, of image/* and at most 1,000,000 bytes. One embed per post, so a
card never goes beside images or a video.

Source: https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/embed/external.json
"""

from __future__ import annotations

from typing import Any, Protocol

EXTERNAL = "app.bsky.embed.external"
MAX_THUMB_BYTES = 1_000_000


class HasBlobs(Protocol):
    blobs: dict[tuple[str, str], dict[str, Any]]


def check_external_embed(state: HasBlobs, did: str, embed: dict[str, Any]) -> str | None:
    """What's wrong with the card `embed` posted by `did`, or None when the lexicon takes it;
    a thumb naming no blob of this account is "Could not find blob: <cid>"."""
    external = embed.get("external")
    if not isinstance(external, dict):
        return 'Record/embed must have the property "external"'
    for key in ("uri", "title", "description"):
        if not isinstance(external.get(key), str):
            return f'Record/embed/external must have the property "{key}"'
    uri = str(external["uri"])
    if not uri.startswith(("http://", "https://")) or len(uri) < 10:
        return "Record/embed/external/uri must be a valid uri"
    thumb = external.get("thumb")
    if thumb is None:
        return None
    ref = thumb.get("ref") if isinstance(thumb, dict) else None
    cid = ref.get("$link") if isinstance(ref, dict) else None
    if not isinstance(thumb, dict) or thumb.get("$type") != "blob" or not isinstance(cid, str):
        return "Record/embed/external/thumb should be a blob ref"
    stored = state.blobs.get((did, cid))
    if stored is None:
        return f"Could not find blob: {cid}"
    if not str(stored["mimeType"]).startswith("image/"):
        return "Record/embed/external/thumb mimeType is not accepted"
    if stored["size"] > MAX_THUMB_BYTES:
        return (
            f"Record/embed/external/thumb file too large ({stored['size']} bytes). "
            f"Maximum allowed size is {MAX_THUMB_BYTES} bytes."
        )
    return None
