"""The development pages: served outside production only, with a script of their own origin."""

from __future__ import annotations

import re

import httpx
import pytest

from t21.api import create_app
from t21.core.settings import Environment, Settings
from t21.devpages.router import PAGES


@pytest.mark.parametrize(
    "path",
    ["/", "/verify-email?token=x", "/reset-password", "/invitations/accept", "/billing",
     "/social-accounts/abc", "/posts/abc", "/settings/webhooks/abc"],
)  # fmt: skip
async def test_each_front_end_route_is_a_page_in_development(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert '<script src="/_dev/pages.js"' in response.text
    assert "data-flow=" in response.text


async def test_the_pages_script_and_style_are_served_here(client: httpx.AsyncClient) -> None:
    script = await client.get("/_dev/pages.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    for page in PAGES:
        assert re.search(rf'(^|\s)("{page.flow}"|{page.flow})(\(\)|:)', script.text, re.M), page
    style = await client.get("/_dev/pages.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")


async def test_the_pages_stay_out_of_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not any(path in paths for path in ("/", "/verify-email", "/billing", "/_dev/pages.js"))


async def test_production_serves_no_development_page(settings: Settings) -> None:
    production = settings.model_copy(update={"env": Environment.PRODUCTION})
    app = create_app(production, worker=False, loops=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for path in ("/verify-email", "/_dev/pages.js", "/billing"):
            assert (await http.get(path)).status_code == 404
