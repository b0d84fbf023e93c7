"""A Bluesky link card: what Bluesky's own app attaches to a post with a link and no media.

The card is an `app.bsky.embed.external` embed `{external: {uri, title, description, thumb?}}`
(uri, title and description required strings; the optional thumb a blob of image/* of at most
1,000,000 bytes, uploaded with `com.atproto.repo.uploadBlob`). The network doesn't build it:
the client reads the page's `og:title`, `og:description` and `og:image` and uploads the image.

T21 does the same for the post's first link, before `createRecord`, so a repeated attempt
builds the same card again. The page is fetched through the outside-URL guard
(`t21.core.urlguard`: public https only for a real network; with the sandbox, loopback pages
only, so the fake world never reaches the internet), bounded in time and size, HTML only;
redirects are followed a few times, each hop checked again. Anything going wrong leaves the
post without a card (or the card without a thumb) and says why in the log at info: a card is
never a reason for a post to fail.

Source: https://github.com/bluesky-social/atproto/blob/main/lexicons/app/bsky/embed/external.json
Source: https://docs.bsky.app/docs/advanced-guides/posts#website-card-embeds
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import httpx
import structlog

from t21 import __version__
from t21.core.outside import Permanent
from t21.core.tls import tls_context
from t21.core.urlguard import UnsafeURL, resolve
from t21.platforms.bluesky.xrpc import Xrpc

log = structlog.get_logger(__name__)

THUMB_MAX_BYTES = 1_000_000  # app.bsky.embed.external#external.thumb maxSize
PAGE_MAX_BYTES = 1_000_000  # the head of a page is enough for its meta tags
TIMEOUT_S = 5.0  # each connect, read or write
TOTAL_S = 10.0  # the page, or the image, whole
MAX_REDIRECTS = 3
TITLE_MAX = 300
DESCRIPTION_MAX = 1000
USER_AGENT = f"T21-LinkCard/{__version__}"
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
THUMB_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})


class CardError(Exception):
    """Why no card (or no thumb) could be made, in words for the log."""


# What leaves a post without its card: the page (or image) refused, unreachable, slow or odd.
UNUSABLE: tuple[type[Exception], ...] = (
    CardError,
    httpx.HTTPError,
    httpx.InvalidURL,
    TimeoutError,
    ValueError,
)
# And for the thumb, the PDS refusing the image's upload.
THUMB_UNUSABLE: tuple[type[Exception], ...] = (*UNUSABLE, Permanent)


@dataclass
class PageMeta:
    title: str = ""
    description: str = ""
    image: str = ""


class _MetaParser(HTMLParser):
    """The Open Graph tags of a page's head, and its `<title>` as a fallback."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.og: dict[str, str] = {}
        self.title = ""
        self._in_title = False
        self._title_parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            found = {key.lower(): value or "" for key, value in attrs}
            name = (found.get("property") or found.get("name") or "").lower()
            if name in {"og:title", "og:description", "og:image", "og:image:url"}:
                self.og.setdefault(name, found.get("content", "").strip())
        elif tag == "title" and not self.title:
            self._in_title = True

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split())


def parse(html: str, page_url: str) -> PageMeta:
    """The card's facts from a page's HTML (relative image URLs made absolute)."""
    parser = _MetaParser()
    parser.feed(html)
    parser.close()
    image = parser.og.get("og:image") or parser.og.get("og:image:url") or ""
    return PageMeta(
        title=(parser.og.get("og:title") or parser.title)[:TITLE_MAX],
        description=parser.og.get("og:description", "")[:DESCRIPTION_MAX],
        image=urljoin(page_url, image) if image else "",
    )


async def _fetch(
    url: str, *, sandbox: bool, kinds: frozenset[str], limit: int, head_only: bool = False
) -> tuple[bytes, str, str]:
    """The body, content type (one of `kinds`) and charset at `url`, through the URL guard: a
    body over `limit` bytes is refused, or with `head_only` cut there."""
    async with (
        asyncio.timeout(TOTAL_S),
        httpx.AsyncClient(
            timeout=httpx.Timeout(TIMEOUT_S),
            follow_redirects=False,
            trust_env=False,
            verify=tls_context(),
        ) as client,
    ):
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                target = await resolve(url, production=not sandbox)
            except UnsafeURL as refused:
                raise CardError(f"the URL {refused}") from None
            if sandbox and not _loopback(target.host):
                raise CardError("the sandbox fetches loopback pages only")
            request_url = httpx.URL(url)
            headers = {"user-agent": USER_AGENT, "accept": ",".join(sorted(kinds))}
            extensions: dict[str, Any] = {}
            if target.address is not None:
                headers["host"] = request_url.netloc.decode()
                request_url = request_url.copy_with(host=target.address)
                if request_url.scheme == "https":
                    extensions["sni_hostname"] = target.host
            async with client.stream(
                "GET", request_url, headers=headers, extensions=extensions
            ) as response:
                if response.is_redirect and "location" in response.headers:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise CardError(f"it answered {response.status_code}")
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind not in kinds:
                    raise CardError(f"it is {kind or 'of no declared type'}")
                declared = response.headers.get("content-length", "")
                if not head_only and declared.isdigit() and int(declared) > limit:
                    raise CardError(f"it is larger than {limit} bytes")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > limit:
                        break
                if len(body) > limit and not head_only:
                    raise CardError(f"it is larger than {limit} bytes")
                return bytes(body[:limit]), kind, response.charset_encoding or "utf-8"
        raise CardError("it redirects too often")


def _loopback(host: str) -> bool:
    return host in {"127.0.0.1", "::1", "localhost"} or host.endswith(".localhost")


async def _page(url: str, *, sandbox: bool) -> PageMeta:
    data, _kind, charset = await _fetch(
        url,
        sandbox=sandbox,
        kinds=PAGE_TYPES,
        limit=PAGE_MAX_BYTES,
        head_only=True,
    )
    try:
        html = data.decode(charset, errors="replace")
    except LookupError:  # a charset Python doesn't know
        html = data.decode("utf-8", errors="replace")
    return parse(html, url)


async def _thumb(api: Xrpc, url: str, *, sandbox: bool) -> dict[str, Any]:
    try:
        data, kind, _charset = await _fetch(
            url, sandbox=sandbox, kinds=THUMB_TYPES, limit=THUMB_MAX_BYTES
        )
    except CardError as error:
        raise CardError(f"the image: {error}") from None
    body = await api.call(
        "POST", "com.atproto.repo.uploadBlob", content=data, headers={"Content-Type": kind}
    )
    blob = body.get("blob")
    if not isinstance(blob, dict):
        raise CardError("the upload answer had no blob")
    return blob


async def build(api: Xrpc, link: str, *, sandbox: bool) -> dict[str, Any] | None:
    """The `app.bsky.embed.external` embed for `link`, or None when its page can't be read.
    A lost session (`ReauthRequired`) or a spent rate limit while uploading the thumb still
    stops the post: the post itself would meet the same answer."""
    try:
        meta = await _page(link, sandbox=sandbox)
    except UNUSABLE as error:
        log.info("bluesky_card_skipped", reason=_reason(error))
        return None
    external: dict[str, Any] = {
        "uri": link,
        "title": meta.title,
        "description": meta.description,
    }
    if meta.image:
        try:
            external["thumb"] = await _thumb(api, meta.image, sandbox=sandbox)
        except THUMB_UNUSABLE as error:
            log.info("bluesky_card_thumb_skipped", reason=_reason(error))
    return {"$type": "app.bsky.embed.external", "external": external}


def _reason(error: Exception) -> str:
    if isinstance(error, CardError | Permanent):
        return str(error)
    if isinstance(error, TimeoutError):
        return f"fetching took over {TOTAL_S:g} seconds"
    return f"the fetch failed ({type(error).__name__})"
