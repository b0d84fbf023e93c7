"""Every limited action stops at its plan's limit, through the API: at the limit passes, one more
is refused with 402 `quota_exceeded` naming the limit, the usage and the tier. What an
organization already has past a lower plan stays usable; only additions are refused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from t21.billing.plans import DEFAULT_PLANS, Limit, Tier
from t21.brands.models import Brand
from t21.core import clock
from t21.core.runtime import Runtime
from t21.core.security import new_token, token_digest
from t21.core.uow import session_scope
from t21.organizations.models import Invitation, Organization
from t21.organizations.permissions import Role
from t21.sandbox.app import create_sandbox_app
from t21.sandbox.server import ThreadedServer
from t21.social.models import SocialAccount
from tests.social.conftest import FRONT_END, World, query
from tests.support.accounts import register

TIERS = [Tier.FREE, Tier.PRO, Tier.BUSINESS]


def cap(tier: Tier, limit: Limit) -> int:
    return DEFAULT_PLANS[tier].limits[limit]


async def set_tier(runtime: Runtime, organization_id: uuid.UUID | str, tier: Tier) -> None:
    async with session_scope(runtime) as session:
        await session.execute(
            update(Organization)
            .where(Organization.id == uuid.UUID(str(organization_id)))
            .values(tier=tier.value)
        )


async def add_brands(runtime: Runtime, organization_id: uuid.UUID, count: int) -> None:
    async with session_scope(runtime) as session:
        session.add_all(
            Brand(organization_id=organization_id, name=f"Brand {n}", keywords=[])
            for n in range(count)
        )


async def add_invitations(runtime: Runtime, organization_id: uuid.UUID, count: int) -> None:
    async with session_scope(runtime) as session:
        session.add_all(
            Invitation(
                organization_id=organization_id,
                email=f"pending-{uuid.uuid4().hex[:8]}@example.com",
                role=Role.MEMBER,
                token_digest=token_digest(new_token()),
                expires_at=clock.now() + timedelta(days=7),
            )
            for _ in range(count)
        )


async def add_accounts(
    runtime: Runtime, organization_id: uuid.UUID, brand_id: str, count: int
) -> None:
    async with session_scope(runtime) as session:
        session.add_all(
            SocialAccount(
                organization_id=organization_id,
                brand_id=uuid.UUID(brand_id),
                platform="facebook",
                external_id=f"page-{n}",
                access_token_encrypted="-",
                connected_at=clock.now(),
                scopes=[],
            )
            for n in range(count)
        )


def assert_refused(response: httpx.Response, limit: Limit, used: int, tier: Tier) -> None:
    assert response.status_code == 402, response.text
    body = response.json()
    assert body["code"] == "quota_exceeded"
    assert (body["limit"], body["used"], body["allowed"], body["tier"]) == (
        limit.value,
        used,
        cap(tier, limit),
        tier.value,
    )


async def create_brand(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/brands", json={"name": "One more"}, headers=headers)


@pytest.mark.parametrize("tier", TIERS)
async def test_brands_stop_at_the_plans_limit(
    client: httpx.AsyncClient, runtime: Runtime, tier: Tier
) -> None:
    owner = await register(client)
    organization_id = owner.personal_organization_id
    await set_tier(runtime, organization_id, tier)
    await add_brands(runtime, organization_id, cap(tier, Limit.BRANDS) - 1)

    at_the_limit = await create_brand(client, owner.headers)
    assert at_the_limit.status_code == 201, at_the_limit.text
    one_more = await create_brand(client, owner.headers)
    assert_refused(one_more, Limit.BRANDS, cap(tier, Limit.BRANDS), tier)


@pytest.mark.parametrize("tier", TIERS)
async def test_seats_count_members_and_pending_invitations(
    client: httpx.AsyncClient, runtime: Runtime, tier: Tier
) -> None:
    owner = await register(client)
    organization_id = owner.personal_organization_id
    await set_tier(runtime, organization_id, tier)
    seats = cap(tier, Limit.SEATS)
    path = f"/api/v1/organizations/{organization_id}/invitations"

    if seats > 1:  # the owner takes one seat; pending invitations fill all but the last
        await add_invitations(runtime, organization_id, seats - 2)
        at_the_limit = await client.post(
            path, json={"email": "last-seat@example.com", "role": "member"}, headers=owner.headers
        )
        assert at_the_limit.status_code == 201, at_the_limit.text
    one_more = await client.post(
        path, json={"email": "one-more@example.com", "role": "member"}, headers=owner.headers
    )
    assert_refused(one_more, Limit.SEATS, seats, tier)


@pytest.fixture
def sandbox() -> Iterator[str]:
    with ThreadedServer(create_sandbox_app()) as server:
        yield server.url


@pytest.fixture
async def world(app_factory: Any, sandbox: str) -> AsyncIterator[World]:
    app = app_factory(sandbox_url=sandbox, public_url="http://testserver", frontend_url=FRONT_END)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
            assert brand.status_code == 201, brand.text
            yield World(app=app, api=api, sandbox=sandbox, owner=owner, brand_id=brand.json()["id"])


@pytest.mark.parametrize("tier", TIERS)
async def test_connected_accounts_stop_at_the_limit_and_a_reconnect_is_free(
    world: World, tier: Tier
) -> None:
    organization_id = world.owner.personal_organization_id
    await set_tier(world.runtime, organization_id, tier)
    accounts = cap(tier, Limit.SOCIAL_ACCOUNTS)
    await add_accounts(world.runtime, organization_id, world.brand_id, accounts - 1)

    [connected] = await world.connected_ids("twitter")
    refused = await world.connect("linkedin")
    assert refused.status_code == 302
    assert query(refused.headers["location"]) == {
        "error": "quota_exceeded",
        "limit": "social_accounts",
        "used": str(accounts),
        "allowed": str(accounts),
        "tier": tier.value,
    }
    assert await world.connected_ids("twitter") == [connected]


async def test_after_a_downgrade_what_exists_stays_usable_and_additions_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await register(client)
    organization_id = owner.personal_organization_id
    await set_tier(runtime, organization_id, Tier.PRO)
    for _ in range(3):
        assert (await create_brand(client, owner.headers)).status_code == 201
    await add_invitations(runtime, organization_id, 2)
    await set_tier(runtime, organization_id, Tier.FREE)

    brands = await client.get("/api/v1/brands", headers=owner.headers)
    assert len(brands.json()["items"]) == 3
    first = brands.json()["items"][0]["id"]
    renamed = await client.patch(
        f"/api/v1/brands/{first}", json={"name": "Still mine"}, headers=owner.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert_refused(await create_brand(client, owner.headers), Limit.BRANDS, 3, Tier.FREE)
    invited = await client.post(
        f"/api/v1/organizations/{organization_id}/invitations",
        json={"email": "late@example.com", "role": "member"},
        headers=owner.headers,
    )
    assert_refused(invited, Limit.SEATS, 3, Tier.FREE)


@pytest.mark.postgres
async def test_concurrent_additions_never_pass_a_limit(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await register(client)
    organization_id = owner.personal_organization_id
    await set_tier(runtime, organization_id, Tier.PRO)

    brands = await asyncio.gather(*(create_brand(client, owner.headers) for _ in range(12)))
    assert sorted(r.status_code for r in brands).count(201) == cap(Tier.PRO, Limit.BRANDS)
    assert {r.status_code for r in brands} == {201, 402}

    invitations = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/organizations/{organization_id}/invitations",
                json={"email": f"racer-{n}@example.com", "role": "member"},
                headers=owner.headers,
            )
            for n in range(8)
        )
    )
    created = [r for r in invitations if r.status_code == 201]
    assert len(created) == cap(Tier.PRO, Limit.SEATS) - 1
    assert {r.status_code for r in invitations} == {201, 402}


async def test_quota_messages_count_in_words(client: httpx.AsyncClient, runtime: Runtime) -> None:
    owner = await register(client)
    organization_id = owner.personal_organization_id
    await set_tier(runtime, organization_id, Tier.FREE)
    assert (await create_brand(client, owner.headers)).status_code == 201
    one_brand = await create_brand(client, owner.headers)
    assert_refused(one_brand, Limit.BRANDS, 1, Tier.FREE)
    assert "includes 1 brand; this organization uses 1." in one_brand.json()["detail"]
    invited = await client.post(
        f"/api/v1/organizations/{organization_id}/invitations",
        json={"email": "second@example.com", "role": "member"},
        headers=owner.headers,
    )
    assert_refused(invited, Limit.SEATS, 1, Tier.FREE)
    assert "includes 1 team seat; this organization uses 1." in invited.json()["detail"]
    await set_tier(runtime, organization_id, Tier.PRO)
    await add_brands(runtime, organization_id, cap(Tier.PRO, Limit.BRANDS) - 1)
    brands = await create_brand(client, owner.headers)
    assert f"includes {cap(Tier.PRO, Limit.BRANDS)} brands;" in brands.json()["detail"]
