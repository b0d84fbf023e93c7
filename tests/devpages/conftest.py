"""A live T21 (SQLite, the sandbox) on loopback and Debian's headless Chromium driven through
Selenium. Without Chromium the browser tests skip locally, and fail in CI (`CI` or
`T21_TEST_REQUIRE_SERVICES` set): there they must run."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from t21.api import create_app
from t21.core.settings import Settings
from t21.core.tls import tls_context
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.server import ThreadedServer
from tests.support.accounts import PASSWORD, emails_to

ARTIFACTS = Path(
    os.environ.get("T21_TEST_ARTIFACTS_DIR")
    or Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
)
CHROMIUM = os.environ.get("T21_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("T21_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_S = 20.0


class LateApp:
    """An ASGI app chosen once its server's port (T21's public URL) is known."""

    app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None
        await self.app(scope, receive, send)


@dataclass
class LiveT21:
    """T21 serving on loopback with its sandbox; an HTTP client of its API."""

    url: str
    sandbox: str
    settings: Settings
    http: httpx.Client

    def register(self, email: str, name: str = "Ada") -> dict[str, str]:
        """A new account's email and its bearer header."""
        response = self.http.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": name}
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def link(self, address: str, path: str) -> str:
        """The newest link to `path` emailed to `address` (waiting for the email job)."""
        pattern = re.compile(re.escape(self.url + path) + r"\?token=[A-Za-z0-9_\-]+")
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            for message in reversed(emails_to(self.settings, address)):
                body = message.get_body(preferencelist=("plain",))
                assert isinstance(body, EmailMessage)
                found = pattern.search(str(body.get_content()))
                if found is not None:
                    return found.group(0)
            time.sleep(0.05)
        raise AssertionError(f"no email with a {path} link reached {address}")


def _required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("T21_TEST_REQUIRE_SERVICES"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's `chromium` and `chromium-driver` packages)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if shutil.which(path) is None]
    if missing:
        reason = (
            f"headless Chromium is missing ({', '.join(missing)}): "
            "apt-get install chromium chromium-driver"
        )
        if _required():
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1000,800",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def live(settings_factory: Any) -> Iterator[LiveT21]:
    with ThreadedServer(create_sandbox_app()) as sandbox:
        late = LateApp()
        server = ThreadedServer(late)
        settings = settings_factory(sandbox_url=sandbox.url, public_url=server.url)
        late.app = create_app(settings, worker=True, loops=True)
        with (
            server,
            httpx.Client(verify=tls_context(), base_url=server.url, timeout=WAIT_S) as http,
        ):
            yield LiveT21(url=server.url, sandbox=sandbox.url, settings=settings, http=http)


@pytest.fixture
def screenshot(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Saves what the browser shows at the end of the test (pass or fail) as an artifact."""
    yield browser
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
