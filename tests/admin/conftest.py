"""The console in-process over HTTP (its own client and cookie jar), next to the publishing
engine whose targets it acts on, and a staff member made as `t21 staff grant` makes one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from t21.admin import service
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from tests.devpages.conftest import browser, live, screenshot
from tests.publishing.conftest import Engine, engine
from tests.social.conftest import sandbox
from tests.support.accounts import PASSWORD, Account, register

__all__ = ["browser", "engine", "live", "sandbox", "screenshot"]

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_CHALLENGE = re.compile(r'name="challenge" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, html
    return found.group(1)


def challenge_of(html: str) -> str:
    found = _CHALLENGE.search(html)
    assert found is not None, html
    return found.group(1)


async def make_staff(runtime: Runtime, email: str, *, staff: bool = True) -> None:
    async with session_scope(runtime) as session:
        await service.set_staff(session, email, staff=staff, actor=service.command_line_actor())


@dataclass
class Console:
    """A browser-like client of /admin: cookies kept, forms posted with their CSRF token."""

    http: httpx.AsyncClient
    engine: Engine

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        form = await self.http.get("/admin/sign-in")
        assert form.status_code == 200, form.text
        return await self.http.post(
            "/admin/sign-in",
            data={"email": email, "password": password, "csrf": csrf_of(form.text)},
        )

    async def page(self, path: str) -> httpx.Response:
        return await self.http.get(path)

    async def act(self, path: str, page: str = "/admin/pipeline", **fields: str) -> httpx.Response:
        """Posts a form of `page` (with the CSRF token that page carries)."""
        shown = await self.http.get(page)
        assert shown.status_code == 200, shown.text
        data = {"csrf": csrf_of(shown.text), "return_to": page, **fields}
        return await self.http.post(path, data=data)


@pytest.fixture
async def staff(engine: Engine) -> Account:
    account = await register(engine.api, "ops@example.com", name="Olive Ops")
    await make_staff(engine.world.runtime, account.email)
    return account


@pytest.fixture
async def console(engine: Engine) -> AsyncIterator[Console]:
    transport = httpx.ASGITransport(app=engine.world.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Console(http, engine)


@pytest.fixture
async def signed_in(console: Console, staff: Account) -> Console:
    answer = await console.sign_in(staff.email)
    assert answer.status_code == 303, answer.text
    return console
