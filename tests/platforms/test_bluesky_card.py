"""Bluesky link cards over real HTTP: a post with a link and no media carries the page's card
(`app.bsky.embed.external`), read from a page served on loopback; whatever goes wrong with the
page or its image, the post still goes out, once, without the card or its thumb."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from t21.core.outside import Ambiguous
from t21.platforms.base import Credentials, PublishRequest
from t21.platforms.bluesky import BlueskyProvider
from t21.platforms.bluesky.card import parse
from t21.sandbox.bluesky import create_bluesky_app
from t21.sandbox.server import ThreadedServer
from tests.platforms.harness import (
    FakeNetwork,
    MediaServer,
    bluesky_create,
    bluesky_record,
    bluesky_upload,
    png_bytes,
    serve,
    sign_in,
)

HANDLE = "carol.bsky.social"
APP_PASSWORD = "abcd-efgh-1234-wxyz"
OG_PAGE = """<!doctype html><html><head>
<title>Fallback title</title>
<meta property="og:title" content="Spring &amp; launch">
<meta property="og:description" content="What we shipped this spring.">
<meta property="og:image" content="/img/cover.png">
</head><body>Hello</body></html>"""


@dataclass
class Pages:
    """A website on loopback: path -> (body, content type); what was asked for."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    url: str = ""

    def app(self) -> Starlette:
        async def page(request: Request) -> Response:
            path = "/" + request.path_params["path"]
            self.asked.append(path)
            if path not in self.files:
                return Response(status_code=404)
            body, kind = self.files[path]
            if kind == "redirect":
                return Response(status_code=302, headers={"location": body.decode()})
            return Response(body, media_type=kind)

        return Starlette(routes=[Route("/{path:path}", page)])


@pytest.fixture(scope="module")
def served() -> Iterator[FakeNetwork]:
    with serve(create_bluesky_app()) as fake:
        yield fake


@pytest.fixture(scope="module")
def site() -> Iterator[Pages]:
    pages = Pages()
    with ThreadedServer(pages.app()) as server:
        pages.url = server.url
        yield pages


@pytest.fixture
def pages(site: Pages) -> Pages:
    site.files.clear()
    site.asked.clear()
    return site


@pytest.fixture
async def account(bsky: BlueskyProvider) -> Credentials:
    return await sign_in(bsky, {"handle": HANDLE, "app_password": APP_PASSWORD})


async def _post(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, request: PublishRequest
) -> dict[str, Any]:
    published = await bsky.publish(account, request)
    assert len(fake.published()) == 1
    return await bluesky_record(fake, account, published.external_id)


async def test_a_link_gets_the_pages_card_with_its_image_as_thumb(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, pages: Pages
) -> None:
    cover = png_bytes(120, 63)
    pages.files["/launch"] = (OG_PAGE.encode(), "text/html; charset=utf-8")
    pages.files["/img/cover.png"] = (cover, "image/png")
    link = f"{pages.url}/launch"
    stored = await _post(fake, bsky, account, PublishRequest(text=f"Read {link} now"))
    assert stored["embed"]["$type"] == "app.bsky.embed.external"
    external = stored["embed"]["external"]
    assert external["uri"] == link
    assert external["title"] == "Spring & launch"
    assert external["description"] == "What we shipped this spring."
    assert external["thumb"]["mimeType"] == "image/png"
    assert external["thumb"]["size"] == len(cover)
    assert stored["facets"][0]["features"][0]["uri"] == link


async def test_the_first_link_is_the_card_and_a_redirect_is_followed(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, pages: Pages
) -> None:
    pages.files["/short"] = (b"/launch", "redirect")
    pages.files["/launch"] = (OG_PAGE.encode(), "text/html")
    pages.files["/other"] = (b"<title>Other</title>", "text/html")
    text = f"{pages.url}/short and {pages.url}/other"
    stored = await _post(fake, bsky, account, PublishRequest(text=text))
    external = stored["embed"]["external"]
    assert external["uri"] == f"{pages.url}/short"
    assert external["title"] == "Spring & launch"
    assert "/other" not in pages.asked


async def test_a_page_without_open_graph_tags_uses_its_title(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, pages: Pages
) -> None:
    pages.files["/plain"] = (
        b"<html><head><title>\n  A plain\n page </title></head><body>x</body></html>",
        "text/html",
    )
    stored = await _post(fake, bsky, account, PublishRequest(text=f"see {pages.url}/plain"))
    external = stored["embed"]["external"]
    assert external == {"uri": f"{pages.url}/plain", "title": "A plain page", "description": ""}


async def test_an_image_over_the_thumb_limit_leaves_a_card_without_thumb(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, pages: Pages
) -> None:
    pages.files["/launch"] = (OG_PAGE.encode(), "text/html")
    pages.files["/img/cover.png"] = (b"\x89PNG" + b"\x00" * 1_000_000, "image/png")
    stored = await _post(fake, bsky, account, PublishRequest(text=f"{pages.url}/launch"))
    external = stored["embed"]["external"]
    assert external["title"] == "Spring & launch"
    assert "thumb" not in external


async def test_an_image_that_is_not_an_image_leaves_a_card_without_thumb(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, pages: Pages
) -> None:
    pages.files["/launch"] = (OG_PAGE.encode(), "text/html")
    pages.files["/img/cover.png"] = (b"<html>nope</html>", "text/html")
    stored = await _post(fake, bsky, account, PublishRequest(text=f"{pages.url}/launch"))
    assert "thumb" not in stored["embed"]["external"]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/missing", id="not-found"),
        pytest.param("/data.json", id="not-html"),
        pytest.param("/away", id="redirect-out-of-bounds"),
        pytest.param("/loop", id="redirect-loop"),
    ],
)
async def test_a_page_that_cant_be_read_leaves_the_post_without_card(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, pages: Pages, path: str
) -> None:
    pages.files["/data.json"] = (b'{"title": "x"}', "application/json")
    pages.files["/away"] = (b"http://10.1.2.3/page", "redirect")
    pages.files["/loop"] = (b"/loop", "redirect")
    stored = await _post(fake, bsky, account, PublishRequest(text=f"look {pages.url}{path}"))
    assert "embed" not in stored
    assert path in pages.asked


async def test_an_unreachable_page_leaves_the_post_without_card(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    stored = await _post(fake, bsky, account, PublishRequest(text=f"http://127.0.0.1:{port}/x"))
    assert "embed" not in stored


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("http://10.1.2.3/page", id="private-http"),
        pytest.param("https://example.com/page", id="outside-the-sandbox"),
    ],
)
async def test_a_page_the_url_guard_refuses_is_never_fetched(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, link: str
) -> None:
    stored = await _post(fake, bsky, account, PublishRequest(text=f"see {link}"))
    assert "embed" not in stored
    assert stored["facets"][0]["features"][0]["uri"] == link


async def test_a_post_with_images_has_no_card(
    fake: FakeNetwork,
    bsky: BlueskyProvider,
    account: Credentials,
    pages: Pages,
    media: MediaServer,
) -> None:
    pages.files["/launch"] = (OG_PAGE.encode(), "text/html")
    request = PublishRequest(text=f"{pages.url}/launch", media=[media.image(40, 40)])
    stored = await _post(fake, bsky, account, request)
    assert stored["embed"]["$type"] == "app.bsky.embed.images"
    assert pages.asked == []


async def test_a_repeated_attempt_builds_the_same_card(
    fake: FakeNetwork, bsky: BlueskyProvider, account: Credentials, pages: Pages
) -> None:
    pages.files["/launch"] = (OG_PAGE.encode(), "text/html")
    pages.files["/img/cover.png"] = (png_bytes(20, 20), "image/png")
    request = PublishRequest(text=f"{pages.url}/launch")
    fake.inject(path="/xrpc/com.atproto.repo.createRecord", status=503, count=1)
    with pytest.raises(Ambiguous):
        await bsky.publish(account, request)
    assert fake.published() == []
    stored = await _post(fake, bsky, account, request)
    assert stored["embed"]["external"]["title"] == "Spring & launch"
    assert stored["embed"]["external"]["thumb"]["size"] > 0


def test_meta_tags_are_read_by_name_or_property_and_made_absolute() -> None:
    meta = parse(
        '<meta name="og:title" content=" T "><meta property="og:image:url" content="i.png">'
        "<title>ignored</title>",
        "https://example.com/a/b",
    )
    assert (meta.title, meta.description, meta.image) == ("T", "", "https://example.com/a/i.png")


# --- the fake ------------------------------------------------------------------------------------


async def test_the_fake_takes_a_card_only_as_the_lexicon_says(
    fake: FakeNetwork, account: Credentials
) -> None:
    card = {"uri": "https://example.com/", "title": "t", "description": "d"}
    external_card = {"$type": "app.bsky.embed.external", "external": card}
    good = await bluesky_create(fake, account, external_card)
    assert good.status_code == 200
    for external in (
        {"uri": "https://example.com/", "title": "t"},
        {**card, "title": 3},
        {**card, "thumb": {"$type": "blob", "ref": {"$link": "bafynope"}, "size": 1}},
    ):
        refused = await bluesky_create(
            fake, account, {"$type": "app.bsky.embed.external", "external": external}
        )
        assert refused.status_code == 400, external
    large = await bluesky_upload(fake, account, b"\x89PNG" + b"\x00" * 1_000_000, "image/png")
    text = await bluesky_upload(fake, account, b"hello", "text/plain")
    for thumb in (large, text):
        refused = await bluesky_create(
            fake,
            account,
            {"$type": "app.bsky.embed.external", "external": {**card, "thumb": thumb}},
        )
        assert refused.status_code == 400
        assert "thumb" in refused.json()["message"]
