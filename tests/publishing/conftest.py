"""The publishing engine against the sandbox networks over HTTP: the API in-process with fast
retries, its loops run on demand, its jobs drained."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from t21.core import clock
from t21.core.uow import session_scope
from t21.posts.models import PostTarget, TargetStatus
from t21.publishing.reaper import RECONCILE_GIVE_UP
from t21.sandbox.platform import text_digest
from t21.worker.loops import LoopRunner
from tests.posts.conftest import POSTS, Desk
from tests.social.conftest import FRONT_END, World, sandbox  # noqa: F401  (fixture)
from tests.support.accounts import register
from tests.support.loopback import PublicPort

DUPLICATE_REFUSING = ("twitter", "linkedin", "facebook")
FAST = {
    "publish_retry_base_s": 0.05,
    "publish_retry_max_s": 0.2,
    # The fakes answer at once, but on a loaded machine an answer can take over a second (a
    # Bluesky connect gave up at 1 s once): waiting longer costs a test nothing.
    "platform_timeout_s": 10.0,
}
# A test marked `lost_answer` has a network hold an answer back (`lose_response`) until T21
# gives up on it: there T21 gives up after this long, and the fake holds the answer longer.
LOST_ANSWER_TIMEOUT_S = 1.0


def lost_answer(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings of an engine for the test of `request`: T21's short wait for a network's
    answer when the test is marked `lost_answer`."""
    if request.node.get_closest_marker("lost_answer") is None:
        return {}
    return {"platform_timeout_s": LOST_ANSWER_TIMEOUT_S}


class Engine(Desk):
    """A desk whose posts the engine publishes when told to."""

    @property
    def loops(self) -> LoopRunner:
        runner = self.world.runtime.state["loops"]
        assert isinstance(runner, LoopRunner)
        return runner

    async def tick(self) -> None:
        """One pass of the dispatcher and the reaper, then every job they caused."""
        await self.loops.run_once("publishing.dispatch")
        await self.loops.run_once("publishing.reap")
        await self.world.drain()

    async def tick_once_the_reaper_gives_up(self) -> None:
        """A pass of the loops once the reaper has stopped asking a network that couldn't answer
        about an attempt (`RECONCILE_GIVE_UP` after the attempt began): a person decides."""
        with clock.frozen(clock.now() + RECONCILE_GIVE_UP + timedelta(minutes=1)):
            await self.tick()

    async def publish_now(self, *platforms: str, content: str, **body: Any) -> dict[str, Any]:
        post = await self.draft(*platforms, content=content, **body)
        response = await self.api.post(f"{POSTS}/{post['id']}/publish", headers=self.owner.headers)
        assert response.status_code == 202, response.text
        result: dict[str, Any] = response.json()
        return result

    async def read(self, post_id: str) -> dict[str, Any]:
        response = await self.api.get(f"{POSTS}/{post_id}", headers=self.owner.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def network_idle(self, network: str, *, within_s: float = 15.0) -> None:
        """Wait until the fake handles no request: before a test moves T21's clock past a
        doubt, the request T21 gave up on must have reached its end at the network, as real
        time would have let it (on a busy machine the fake can still be at it)."""
        deadline = time.monotonic() + within_s
        while self.world.control(network, "GET", "/requests")["in_flight"]:
            assert time.monotonic() < deadline, f"the {network} fake is still busy"
            await asyncio.sleep(0.05)

    def published_at_network(self, network: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.world.control(network, "GET", "/published")["published"]
        return found

    def sends(self, network: str, text: str) -> list[str]:
        """The outcome of every request to publish `text` the network received, in order: a
        second send shows here even if the network had refused it (see `t21.sandbox.platform`)."""
        found = self.world.control(network, "GET", "/sends")["sends"]
        return [s["outcome"] for s in found if s["text_sha256"] == text_digest(text)]

    async def change_target(self, target_id: str, **values: Any) -> None:
        async with session_scope(self.world.runtime) as session:
            await session.execute(
                update(PostTarget).where(PostTarget.id == uuid.UUID(target_id)).values(**values)
            )

    async def cut_off(self, target_id: str, attempt_id: str = "dead-worker") -> None:
        """What a worker that took the target and died leaves behind: an attempt past its
        lease."""
        await self.change_target(
            target_id,
            status=TargetStatus.PUBLISHING,
            attempt_id=attempt_id,
            attempts=1,
            attempt_started_at=clock.now() - timedelta(minutes=1),
            lease_expires_at=clock.now() - timedelta(seconds=1),
        )

    async def make_due(self, target_id: str) -> None:
        await self.change_target(target_id, due_at=clock.now() - timedelta(seconds=1))


@pytest.fixture
async def engine(
    app_factory: Any,
    sandbox: str,  # noqa: F811
    request: pytest.FixtureRequest,
) -> AsyncIterator[Engine]:
    async with _engine(app_factory, sandbox, "http://testserver", **lost_answer(request)) as built:
        yield built


@pytest.fixture
async def public_engine(
    app_factory: Any,
    sandbox: str,  # noqa: F811
    request: pytest.FixtureRequest,
) -> AsyncIterator[Engine]:
    """An engine whose media URLs the networks can fetch: T21 also answers on a loopback port
    (as `T21_PUBLIC_URL`), where networks that pull media (Instagram, Facebook, TikTok) get it."""
    with closing(PublicPort()) as public:
        async with (
            _engine(app_factory, sandbox, public.url, **lost_answer(request)) as built,
            public.serve(built.world.app),
        ):
            await _first_request(public.url)
            yield built


async def _first_request(url: str) -> None:
    """T21 answers on its public URL before the test starts. FastAPI builds an app's routes
    (their dependencies and pydantic adapters, for every router before the matching one) on
    their first requests: paid here, not in a network's first media fetch while T21's worker
    waits for that network's answer."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        refused = await http.get("/api/v1/media/objects/unsigned")
        assert refused.status_code == 403, refused.text


@asynccontextmanager
async def _engine(
    app_factory: Any,
    sandbox: str,  # noqa: F811
    public_url: str,
    **settings: Any,
) -> AsyncIterator[Engine]:
    app = app_factory(
        sandbox_url=sandbox, public_url=public_url, frontend_url=FRONT_END, **(FAST | settings)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
            assert brand.status_code == 201, brand.text
            world = World(
                app=app, api=api, sandbox=sandbox, owner=owner, brand_id=brand.json()["id"]
            )
            # A second send is accepted, as a network without duplicate checks would: tests
            # see it in the send records (and in what was published), not as a refusal.
            for network in DUPLICATE_REFUSING:
                world.control(network, "POST", "/duplicates", {"refuse": False})
            yield Engine(world)
