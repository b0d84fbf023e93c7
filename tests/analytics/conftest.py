"""Analytics are collected from the sandbox networks over HTTP: posts written through the API,
published at the fake network by the provider itself, marked published in the database (as the
publishing engine would), then collected by the loop and its jobs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from t21.analytics.models import METRICS, MetricSnapshot
from t21.core import clock
from t21.core.uow import session_scope
from t21.platforms.base import Continuing, PublishRequest
from t21.platforms.registry import configured_provider
from t21.posts.models import PostTarget, TargetStatus
from t21.social.models import SocialAccount
from t21.social.tokens import credentials
from t21.worker.loops import LoopRunner
from tests.social.conftest import FRONT_END, World, sandbox  # noqa: F401  (fixtures)
from tests.support.accounts import Account, register

ANALYTICS = "/api/v1/analytics"
# LinkedIn's post numbers need r_member_postAnalytics: an app with the Community Management API
# product, and T21 configured to ask for it.
LINKEDIN_SCOPES = "openid profile email w_member_social r_member_postAnalytics"


@pytest.fixture
async def world(app_factory: Any, sandbox: str) -> AsyncIterator[World]:  # noqa: F811
    app = app_factory(
        sandbox_url=sandbox,
        public_url="http://testserver",
        frontend_url=FRONT_END,
        linkedin_scopes=LINKEDIN_SCOPES,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
            assert brand.status_code == 201, brand.text
            built = World(
                app=app, api=api, sandbox=sandbox, owner=owner, brand_id=brand.json()["id"]
            )
            built.control("linkedin", "POST", "/settings", {"app_scopes": LINKEDIN_SCOPES.split()})
            yield built


@dataclass(frozen=True)
class Published:
    post_id: str
    target_id: str
    external_id: str
    platform: str
    published_at: datetime


@dataclass
class Studio:
    """A brand with accounts connected on demand, posts published at the sandbox, and the
    collection loop run on demand."""

    world: World
    accounts: dict[str, str] = field(default_factory=dict)
    written: int = 0

    @property
    def api(self) -> httpx.AsyncClient:
        return self.world.api

    @property
    def owner(self) -> Account:
        return self.world.owner

    @property
    def brand_id(self) -> str:
        return self.world.brand_id

    async def account(self, platform: str) -> str:
        if platform not in self.accounts:
            self.accounts[platform] = (await self.world.connected_ids(platform))[0]
        return self.accounts[platform]

    async def publish(
        self, platform: str, *, text: str | None = None, at: datetime | None = None
    ) -> Published:
        """A post with one target on `platform`; see `publish_post`."""
        [published] = await self.publish_post(platform, text=text, at=at)
        return published

    async def publish_post(
        self, *platforms: str, text: str | None = None, at: datetime | None = None
    ) -> list[Published]:
        """A post with a target on each of `platforms`, published at the fakes and recorded
        as the publishing engine records it (published at `at`, due for collection then)."""
        self.written += 1
        text = text or f"Post number {self.written} ({uuid.uuid4().hex[:8]})"
        account_ids = [await self.account(platform) for platform in platforms]
        created = await self.api.post(
            "/api/v1/posts",
            json={
                "brand_id": self.brand_id,
                "content": text,
                "targets": [{"social_account_id": account_id} for account_id in account_ids],
            },
            headers=self.owner.headers,
        )
        assert created.status_code == 201, created.text
        post = created.json()
        published_at = at or clock.now()
        runtime = self.world.runtime
        results: list[Published] = []
        for target in post["targets"]:
            async with session_scope(runtime) as session:
                account = await session.get(SocialAccount, uuid.UUID(target["social_account_id"]))
                assert account is not None
                held = credentials(runtime.settings, account)
            provider = configured_provider(runtime, target["platform"])
            done = await provider.publish(held, PublishRequest(text=text))
            # Text posts go out in one call on the networks used here.
            assert not isinstance(done, Continuing), done
            async with session_scope(runtime) as session:
                await session.execute(
                    update(PostTarget)
                    .where(PostTarget.id == uuid.UUID(target["id"]))
                    .values(
                        status=TargetStatus.PUBLISHED,
                        external_id=done.external_id,
                        permalink=done.permalink,
                        published_at=published_at,
                        next_collect_at=published_at,
                    )
                )
            results.append(
                Published(
                    post["id"], target["id"], done.external_id, target["platform"], published_at
                )
            )
        return results

    async def collect(self, at: datetime | None = None) -> int:
        """One iteration of the collection loop (at `at`), and every job it enqueued."""
        runner = self.world.runtime.state["loops"]
        assert isinstance(runner, LoopRunner)
        with frozen_at(at):
            claimed = await runner.run_once("analytics.collect")
            await self.world.drain()
        return claimed

    async def due(self, *published: Published, at: datetime | None = None) -> None:
        """Make targets due for collection (at `at`, default now)."""
        async with session_scope(self.world.runtime) as session:
            await session.execute(
                update(PostTarget)
                .where(PostTarget.id.in_([uuid.UUID(one.target_id) for one in published]))
                .values(next_collect_at=at or clock.now())
            )

    async def target(self, published: Published) -> PostTarget:
        async with session_scope(self.world.runtime) as session:
            found = await session.get(PostTarget, uuid.UUID(published.target_id))
            assert found is not None
            return found

    async def snapshots(self, published: Published) -> list[dict[str, Any]]:
        async with session_scope(self.world.runtime) as session:
            rows = await session.scalars(
                select(MetricSnapshot)
                .where(MetricSnapshot.target_id == uuid.UUID(published.target_id))
                .order_by(MetricSnapshot.collected_at, MetricSnapshot.id)
            )
            return [_as_dict(row) for row in rows]

    def set_x_metrics(self, published: Published, **numbers: int) -> None:
        self.world.control("twitter", "POST", "/metrics", {"id": published.external_id, **numbers})

    def set_linkedin_analytics(self, published: Published, **numbers: int) -> None:
        self.world.control(
            "linkedin", "POST", "/analytics", {"post": published.external_id, **numbers}
        )

    def fault(self, network: str, **fault: Any) -> None:
        self.world.control(network, "POST", "/faults", fault)

    async def get(
        self,
        path: str,
        who: Account | None = None,
        *,
        query: dict[str, Any] | None = None,
        **params: Any,
    ) -> httpx.Response:
        """GET an analytics path; `query` for parameters named like Python keywords."""
        return await self.api.get(
            f"{ANALYTICS}{path}",
            params={**params, **(query or {})},
            headers=(who or self.owner).headers,
        )


def _as_dict(row: MetricSnapshot) -> dict[str, Any]:
    keys = ("id", "target_id", "post_id", "brand_id", "platform", "collected_at", *METRICS)
    return {key: getattr(row, key) for key in keys}


@contextmanager
def frozen_at(at: datetime | None) -> Iterator[None]:
    if at is None:
        yield
        return
    with clock.frozen(at):
        yield


@pytest.fixture
def studio(world: World) -> Studio:
    return Studio(world)
