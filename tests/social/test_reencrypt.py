"""Rotating the token encryption key: add a new key first, re-encrypt, drop the old one."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from t21.cli import app as cli
from t21.core.crypto import new_key
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.social.models import SocialAccount
from t21.social.tokens import credentials
from tests.social.conftest import FRONT_END, World
from tests.support.accounts import register


@pytest.mark.parametrize("platform", ["tiktok"])
async def test_reencrypt_moves_every_token_to_the_new_key(
    app_factory: Any, settings_factory: Any, sandbox: str, platform: str
) -> None:
    old, new = f"old:{new_key()}", f"new:{new_key()}"
    app = app_factory(
        sandbox_url=sandbox,
        public_url="http://testserver",
        frontend_url=FRONT_END,
        encryption_keys=old,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "B"}, headers=owner.headers)
            world = World(app, api, sandbox, owner, brand.json()["id"])
            await world.connected_ids(platform)
            before = await _tokens(world)

    settings: Settings = settings_factory(encryption_keys=f"{new},{old}")
    env = {
        "T21_DATABASE_URL": settings.resolved_database_url,
        "T21_ENCRYPTION_KEYS": f"{new},{old}",
        "T21_SECRET_KEY": settings.secret(),
        "T21_DATA_DIR": str(settings.data_dir),
    }
    result = await _cli(env)
    assert result.exit_code == 0, result.output
    assert "1 of 1 accounts re-encrypted under key new" in result.output

    only_new = app_factory(encryption_keys=new)
    async with only_new.router.lifespan_context(only_new):
        async with session_scope(only_new.state.runtime) as session:
            [account] = (await session.scalars(select(SocialAccount))).all()
        assert account.access_token_encrypted.startswith("new.")
        held = credentials(only_new.state.settings, account)
    assert (held.access_token, held.refresh_token) == before

    again = await _cli(env)
    assert "0 of 1 accounts re-encrypted" in again.output
    forgotten = await _cli({**env, "T21_ENCRYPTION_KEYS": f"x:{new_key()}"})
    assert forgotten.exit_code == 2
    assert "T21_ENCRYPTION_KEYS" in forgotten.output


async def _cli(env: dict[str, str]) -> Any:
    # The command runs its own event loop: give it a thread.
    return await asyncio.to_thread(CliRunner().invoke, cli, ["reencrypt-tokens"], env=env)


async def _tokens(world: World) -> tuple[str, str | None]:
    async with session_scope(world.runtime) as session:
        [account] = (await session.scalars(select(SocialAccount))).all()
    held = credentials(world.runtime.settings, account)
    return held.access_token, held.refresh_token
