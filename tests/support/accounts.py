"""Accounts and organizations made through the public API, and the links T21 emails them."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from t21.core.settings import Settings
from t21.worker.queue import JobQueue

PASSWORD = "correct horse battery staple"


@dataclass
class Account:
    """A registered user, signed in."""

    user_id: uuid.UUID
    email: str
    password: str
    access_token: str
    refresh_token: str
    personal_organization_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(
    client: httpx.AsyncClient,
    email: str | None = None,
    *,
    password: str = PASSWORD,
    name: str = "Test User",
) -> Account:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "name": name}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200, me.text
    [personal] = [m for m in me.json()["memberships"] if m["role"] == "owner"]
    return Account(
        user_id=uuid.UUID(body["user"]["id"]),
        email=body["user"]["email"],
        password=password,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        personal_organization_id=uuid.UUID(personal["organization"]["id"]),
    )


async def create_organization(
    client: httpx.AsyncClient, owner: Account, name: str = "Acme"
) -> uuid.UUID:
    response = await client.post(
        "/api/v1/organizations", json={"name": name}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def emails_to(settings: Settings, address: str) -> list[EmailMessage]:
    """Every email the console backend wrote to `address`, oldest first."""
    found: list[EmailMessage] = []
    for path in sorted(Path(settings.resolved_mail_dir).glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        if str(message["To"]).lower() == address.lower():
            found.append(message)
    return found


def link_token(message: EmailMessage, path: str) -> str:
    """The `token` of the link to `path` in an email's text part."""
    body = message.get_body(preferencelist=("plain",))
    assert isinstance(body, EmailMessage)
    text = str(body.get_content())
    match = re.search(re.escape(path) + r"\?token=([A-Za-z0-9_\-]+)", text)
    assert match is not None, f"no {path} link in: {text}"
    return match.group(1)


async def latest_token(jobs: JobQueue, settings: Settings, address: str, path: str) -> str:
    """Deliver pending email, then the token of the newest `path` link sent to `address`."""
    await jobs.drain(timeout=20)
    messages = [m for m in emails_to(settings, address) if path in str(m.get_body())]
    assert messages, f"no email with {path} to {address}"
    return link_token(messages[-1], path)


async def add_member(
    client: httpx.AsyncClient,
    jobs: JobQueue,
    settings: Settings,
    *,
    inviter: Account,
    organization_id: uuid.UUID,
    role: str,
    member: Account | None = None,
) -> Account:
    """Invite an account (a new one unless given) with `role` and accept through the API."""
    member = member or await register(client)
    invited = await client.post(
        f"/api/v1/organizations/{organization_id}/invitations",
        json={"email": member.email, "role": role},
        headers=inviter.headers,
    )
    assert invited.status_code == 201, invited.text
    token = await latest_token(jobs, settings, member.email, "/invitations/accept")
    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": token}, headers=member.headers
    )
    assert accepted.status_code == 200, accepted.text
    return member


async def create_api_key(
    client: httpx.AsyncClient, owner: Account, organization_id: uuid.UUID, role: str = "member"
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/organizations/{organization_id}/api-keys",
        json={"name": f"key-{role}", "role": role},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign_in(client: httpx.AsyncClient, account: Account) -> Account:
    """The same account with a new session (e.g. after moving the clock past its tokens)."""
    response = await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return replace(account, access_token=body["access_token"], refresh_token=body["refresh_token"])
