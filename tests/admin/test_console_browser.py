"""The console in headless Chromium: a staff member signs in, visits every page and redelivers a
webhook delivery; each page is kept as a screenshot (test artifacts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.db import create_engine
from t21.identity.models import User
from t21.webhooks.models import WebhookDelivery
from tests.devpages.conftest import ARTIFACTS, WAIT_S, LiveT21
from tests.support.accounts import PASSWORD

STAFF = "ops@example.com"


def _database(live: LiveT21, statement: Any) -> Any:
    """Runs one statement on the live T21's database (its own short-lived engine, no runtime)."""

    async def run() -> Any:
        engine = create_engine(live.settings, pooled=False)
        try:
            async with AsyncSession(engine) as session:
                result = await session.execute(statement)
                rows = result.all() if statement.is_select else None
                await session.commit()
                return rows
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _grant(live: LiveT21, email: str) -> None:
    _database(live, update(User).where(User.email == email).values(is_staff=True))
    assert _database(live, select(User.is_staff).where(User.email == email)) == [(True,)]


def _deliveries(live: LiveT21) -> int:
    return len(_database(live, select(WebhookDelivery.id)))


def _shot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"admin-{name}.png"))


def _heading(driver: Any) -> str:
    """The page's heading; empty while a new page replaces the old one."""
    try:
        text: str = driver.find_element(By.TAG_NAME, "h1").text
    except (StaleElementReferenceException, NoSuchElementException):
        return ""
    return text


def _shows(heading: str) -> Callable[[Any], bool]:
    return lambda driver: _heading(driver) == heading


def test_staff_sign_in_visit_every_page_and_redeliver_a_webhook(
    live: LiveT21, screenshot: Any
) -> None:
    owner = live.register("owner@example.com", name="Owner Example")
    live.register(STAFF, name="Olive Ops")
    _grant(live, STAFF)
    created = live.http.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=owner
    )
    assert created.status_code == 201, created.text
    tested = live.http.post(f"/api/v1/webhooks/{created.json()['id']}/test", headers=owner)
    assert tested.status_code == 202, tested.text
    deadline = time.monotonic() + WAIT_S
    while _deliveries(live) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)

    driver = screenshot
    driver.get(f"{live.url}/admin/pipeline")
    assert "/admin/sign-in" in driver.current_url
    _shot(driver, "sign-in")
    form = driver.find_element(By.ID, "sign-in")
    form.find_element(By.NAME, "email").send_keys(STAFF)
    form.find_element(By.NAME, "password").send_keys(PASSWORD)
    form.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: _heading(d) == "Publishing pipeline")
    _shot(driver, "pipeline")

    driver.get(f"{live.url}/admin")
    search = driver.find_element(By.ID, "search")
    search.find_element(By.NAME, "q").send_keys("owner@")
    search.find_element(By.TAG_NAME, "button").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "users"))
    _shot(driver, "search")
    driver.find_element(By.CSS_SELECTOR, "#users a").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "subscription"))
    assert driver.find_element(By.CSS_SELECTOR, "dd[data-field='tier']").text == "free"
    _shot(driver, "organization")

    for link, heading in (("Loops", "Periodic loops"), ("Emails", "Email outbox")):
        driver.find_element(By.LINK_TEXT, link).click()
        WebDriverWait(driver, WAIT_S).until(_shows(heading))
        _shot(driver, link.lower())
    assert "owner@example.com" in driver.find_element(By.ID, "emails").text

    driver.find_element(By.LINK_TEXT, "Webhooks").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "deliveries"))
    _shot(driver, "webhooks")
    driver.find_element(By.CSS_SELECTOR, "form.redeliver button").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.CLASS_NAME, "notice"))
    assert "due again" in driver.find_element(By.CLASS_NAME, "notice").text

    me = live.http.get("/api/v1/auth/me", headers=owner).json()
    [personal] = [m for m in me["memberships"] if m["role"] == "owner"]
    log = live.http.get(
        f"/api/v1/organizations/{personal['organization']['id']}/audit-log",
        params={"action": "webhook.delivery_retried"},
        headers=owner,
    )
    [entry] = log.json()["items"]
    assert entry["actor"]["type"] == "staff"
    assert entry["actor"]["name"] == "Olive Ops"
