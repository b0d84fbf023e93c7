"""Every link T21 sends, finished in headless Chromium on the built-in development pages."""

from __future__ import annotations

from typing import Any

import pyotp
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.devpages.conftest import WAIT_S, LiveT21
from tests.support.accounts import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def status_says(driver: Any, text: str) -> str:
    """Waits until the page's status line contains `text`; the line."""
    found: list[str] = []

    def shows(current: Any) -> bool:
        found[:] = [current.find_element(By.ID, "status").text]
        return text in found[0]

    try:
        WebDriverWait(driver, WAIT_S).until(shows)
    except Exception as exc:
        raise AssertionError(f"the page never said {text!r}; it says {found}") from exc
    return found[0]


def sign_in(driver: Any, email: str, password: str = PASSWORD) -> None:
    status_says(driver, "Sign in to continue.")
    form = driver.find_element(By.ID, "sign-in")
    form.find_element(By.NAME, "email").send_keys(email)
    form.find_element(By.NAME, "password").send_keys(password)
    form.find_element(By.TAG_NAME, "button").click()


def test_the_verification_link_verifies_the_address(live: LiveT21, screenshot: Any) -> None:
    headers = live.register("ada@example.com")
    screenshot.get(live.link("ada@example.com", "/verify-email"))
    status_says(screenshot, "Your email address ada@example.com is verified.")
    assert live.http.get("/api/v1/auth/me", headers=headers).json()["email_verified"] is True


def test_a_used_verification_link_says_so(live: LiveT21, screenshot: Any) -> None:
    live.register("ada@example.com")
    link = live.link("ada@example.com", "/verify-email")
    screenshot.get(link)
    status_says(screenshot, "is verified")
    screenshot.get(link)
    status_says(screenshot, "This link is invalid, expired or already used.")
    assert "error" in screenshot.find_element(By.ID, "status").get_attribute("class")


def test_the_reset_link_sets_a_new_password(live: LiveT21, screenshot: Any) -> None:
    live.register("ada@example.com")
    answer = live.http.post("/api/v1/auth/forgot-password", json={"email": "ada@example.com"})
    assert answer.status_code == 202
    screenshot.get(live.link("ada@example.com", "/reset-password"))
    form = screenshot.find_element(By.ID, "reset")
    form.find_element(By.NAME, "password").send_keys("short")
    form.find_element(By.TAG_NAME, "button").click()
    status_says(screenshot, "8")  # refused: the rule is shown, the form stays
    form.find_element(By.NAME, "password").clear()
    form.find_element(By.NAME, "password").send_keys(NEW_PASSWORD)
    form.find_element(By.TAG_NAME, "button").click()
    status_says(screenshot, "Your password is changed")
    old = live.http.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401
    new = live.http.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}
    )
    assert new.status_code == 200, new.text


def test_the_invitation_link_joins_the_organization(live: LiveT21, screenshot: Any) -> None:
    owner = live.register("owner@example.com")
    live.register("bea@example.com", name="Bea")
    organization = live.http.post("/api/v1/organizations", json={"name": "Acme"}, headers=owner)
    assert organization.status_code == 201, organization.text
    organization_id = organization.json()["id"]
    invited = live.http.post(
        f"/api/v1/organizations/{organization_id}/invitations",
        json={"email": "bea@example.com", "role": "member"},
        headers=owner,
    )
    assert invited.status_code == 201, invited.text
    screenshot.get(live.link("bea@example.com", "/invitations/accept"))
    sign_in(screenshot, "bea@example.com")
    status_says(screenshot, "Signed in as bea@example.com.")
    screenshot.find_element(By.ID, "accept").click()
    status_says(screenshot, "You joined Acme as member.")
    members = live.http.get(f"/api/v1/organizations/{organization_id}/members", headers=owner)
    assert "bea@example.com" in members.text


def test_a_sign_in_with_two_factors_asks_for_the_code(live: LiveT21, screenshot: Any) -> None:
    owner = live.register("owner@example.com")
    bea = live.register("bea@example.com", name="Bea")
    started = live.http.post("/api/v1/auth/2fa/totp", headers=bea)
    assert started.status_code == 201, started.text
    totp = pyotp.TOTP(started.json()["secret"])
    confirmed = live.http.post(
        "/api/v1/auth/2fa/totp/confirm", json={"code": totp.now()}, headers=bea
    )
    assert confirmed.status_code == 200, confirmed.text
    organization = live.http.post("/api/v1/organizations", json={"name": "Acme"}, headers=owner)
    organization_id = organization.json()["id"]
    invited = live.http.post(
        f"/api/v1/organizations/{organization_id}/invitations",
        json={"email": "bea@example.com", "role": "member"},
        headers=owner,
    )
    assert invited.status_code == 201, invited.text
    screenshot.get(live.link("bea@example.com", "/invitations/accept"))
    sign_in(screenshot, "bea@example.com")
    status_says(screenshot, "Enter the 6-digit code")
    step = screenshot.find_element(By.ID, "two-factor")
    step.find_element(By.NAME, "code").send_keys("000000" if totp.now() != "000000" else "111111")
    step.find_element(By.TAG_NAME, "button").click()
    # Refused: the page says why, and the form stays for another try.
    WebDriverWait(screenshot, WAIT_S).until(
        lambda driver: "error" in driver.find_element(By.ID, "status").get_attribute("class")
    )
    # The app's code of this half-minute was spent confirming the factor: a recovery code.
    step.find_element(By.NAME, "code").clear()
    step.find_element(By.NAME, "code").send_keys(confirmed.json()["recovery_codes"][0])
    step.find_element(By.TAG_NAME, "button").click()
    status_says(screenshot, "Signed in as bea@example.com.")
    screenshot.find_element(By.ID, "accept").click()
    status_says(screenshot, "You joined Acme as member.")


def test_signing_in_with_github_ends_signed_in_on_the_front_end(
    live: LiveT21, screenshot: Any
) -> None:
    screenshot.get(f"{live.url}/api/v1/auth/oauth/github")
    line = status_says(screenshot, "Signed in as ")
    assert "@" in line
    assert "login_code" not in screenshot.current_url  # the one-time code leaves the address bar
    token = screenshot.execute_script("return localStorage.getItem('t21.dev.access_token')")
    me = live.http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["email"] in line


def test_a_connection_link_finishes_connecting_the_account(live: LiveT21, screenshot: Any) -> None:
    owner = live.register("owner@example.com")
    brand = live.http.post("/api/v1/brands", json={"name": "Acme"}, headers=owner)
    assert brand.status_code == 201, brand.text
    started = live.http.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": brand.json()["id"], "platform": "twitter"},
        headers=owner,
    )
    assert started.status_code == 200, started.text
    # Started by an API client, finished in a browser: the page redeems the connect_code.
    screenshot.get(started.json()["authorization_url"])
    sign_in(screenshot, "owner@example.com")
    status_says(screenshot, "Connected 1 account(s).")
    accounts = live.http.get(
        "/api/v1/social-accounts", params={"brand_id": brand.json()["id"]}, headers=owner
    )
    [account] = accounts.json()["items"]
    shown = screenshot.find_element(By.CSS_SELECTOR, "dd[data-field='id']").text
    assert shown == account["id"]
    assert account["status"] == "active"


def test_a_paid_checkout_returns_to_the_billing_page_on_pro(live: LiveT21, screenshot: Any) -> None:
    owner = live.register("owner@example.com")
    checkout = live.http.post("/api/v1/subscriptions/checkout", json={"tier": "pro"}, headers=owner)
    assert checkout.status_code == 200, checkout.text
    screenshot.get(checkout.json()["checkout_url"])
    screenshot.find_element(By.TAG_NAME, "button").click()  # the sandbox's "Pay"
    sign_in(screenshot, "owner@example.com")
    status_says(screenshot, "Your subscription is active.")
    cells = [cell.text for cell in screenshot.find_elements(By.CSS_SELECTOR, "tr.subscription td")]
    assert "pro" in cells


def test_a_cancelled_checkout_says_nothing_was_charged(live: LiveT21, screenshot: Any) -> None:
    owner = live.register("owner@example.com")
    checkout = live.http.post("/api/v1/subscriptions/checkout", json={"tier": "pro"}, headers=owner)
    screenshot.get(checkout.json()["checkout_url"])
    screenshot.find_element(By.LINK_TEXT, "Cancel").click()
    status_says(screenshot, "Checkout cancelled: nothing was charged.")
    current = live.http.get("/api/v1/subscriptions/current", headers=owner)
    assert current.json()["tier"] == "free"
