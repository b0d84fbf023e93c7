"""Posts are written against real connected accounts: the sandbox networks over HTTP, the
media library on its local folder, the API in-process."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import event, update

from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.posts.models import PostTarget, TargetStatus
from tests.social.conftest import World, sandbox, world  # noqa: F401  (fixtures)
from tests.support.accounts import Account

POSTS = "/api/v1/posts"


def jpeg(width: int = 1080, height: int = 1080) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


@dataclass
class Desk:
    """A brand with accounts connected on demand, and helpers to write posts for it."""

    world: World
    accounts: dict[str, str] = field(default_factory=dict)

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
        """The id of the brand's connected account on `platform` (connected the first time)."""
        if platform not in self.accounts:
            self.accounts[platform] = (await self.world.connected_ids(platform))[0]
        return self.accounts[platform]

    async def upload(
        self, data: bytes | None = None, *, brand_id: str | None = None, name: str = "photo.jpg"
    ) -> str:
        response = await self.api.post(
            "/api/v1/media",
            data={"brand_id": brand_id or self.brand_id},
            files={"file": (name, data if data is not None else jpeg(), "image/jpeg")},
            headers=self.owner.headers,
        )
        assert response.status_code == 201, response.text
        media_id: str = response.json()["id"]
        return media_id

    async def create(
        self, *, who: Account | None = None, expect: int | None = 201, **body: Any
    ) -> httpx.Response:
        body.setdefault("brand_id", self.brand_id)
        response = await self.api.post(POSTS, json=body, headers=(who or self.owner).headers)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    async def draft(self, *platforms: str, content: str = "Hello from T21", **body: Any) -> Any:
        targets = [{"social_account_id": await self.account(p)} for p in platforms]
        return (await self.create(content=content, targets=targets, **body)).json()

    async def set_targets(self, post_id: str, status: TargetStatus) -> None:
        """What the publishing engine does to a post's targets."""
        async with session_scope(self.world.runtime) as session:
            await session.execute(
                update(PostTarget)
                .where(PostTarget.post_id == uuid.UUID(post_id))
                .values(status=status)
            )


@contextmanager
def engine_events(runtime: Runtime, name: str) -> Iterator[list[tuple[Any, ...]]]:
    """The arguments of each `name` event of the runtime's engine while the block runs:
    `engine_connect` (a SQLAlchemy `Connection` made: the session's, `read_connection`'s),
    `before_cursor_execute` (a statement through SQLAlchemy; listening sends every statement
    that way, as tracing does)."""
    seen: list[tuple[Any, ...]] = []

    def record(*args: Any) -> None:
        seen.append(args)

    engine = runtime.engine.sync_engine
    event.listen(engine, name, record)
    try:
        yield seen
    finally:
        event.remove(engine, name, record)


@pytest.fixture
def desk(world: World) -> Desk:  # noqa: F811
    return Desk(world)
