"""One Alembic history for both engines: it upgrades, downgrades, and matches the models."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from t21.core import migrations
from t21.core.db import create_engine
from t21.core.settings import Settings
from t21.models import Base


async def _tables(settings: Settings) -> set[str]:
    engine = create_engine(settings, pooled=False)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def _model_differences(settings: Settings) -> list[Any]:
    engine = create_engine(settings, pooled=False)
    try:
        async with engine.connect() as conn:

            def compare(sync: Connection) -> list[Any]:
                context = MigrationContext.configure(sync, opts={"compare_type": True})
                return list(compare_metadata(context, Base.metadata))

            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def _round_trip(settings: Settings) -> None:
    await migrations.upgrade(settings)
    assert {"email_outbox", "alembic_version"} <= await _tables(settings)
    assert await _model_differences(settings) == []
    await migrations.downgrade(settings, "base")
    assert await _tables(settings) <= {"alembic_version"}
    await migrations.upgrade(settings)
    assert "email_outbox" in await _tables(settings)
    engine = create_engine(settings, pooled=False)
    try:
        ok, current, head = await migrations.is_current(settings, engine)
    finally:
        await engine.dispose()
    assert ok
    assert current == head


async def test_sqlite_upgrade_downgrade_upgrade(tmp_path: Path, settings_factory: Any) -> None:
    await _round_trip(settings_factory(database_url=f"sqlite:///{tmp_path / 'fresh.db'}"))


@pytest.mark.postgres
async def test_postgresql_upgrade_downgrade_upgrade(
    settings_factory: Any, empty_pg_database: str
) -> None:
    await _round_trip(settings_factory(database_url=empty_pg_database))


async def test_migrated_test_database_matches_the_models(settings: Settings) -> None:
    assert await _model_differences(settings) == []


def test_offline_sql_creates_the_schema(settings_factory: Any) -> None:
    sqlite_sql = migrations.upgrade_sql(settings_factory(database_url="sqlite:///x.db"))
    assert "CREATE TABLE email_outbox" in sqlite_sql
    pg_sql = migrations.upgrade_sql(settings_factory(database_url="postgresql://db/t21"))
    assert "CREATE TABLE email_outbox" in pg_sql
    assert "TIMESTAMP WITH TIME ZONE" in pg_sql
    assert "ck_email_outbox_email_status" in pg_sql


def test_history_has_a_single_head(settings: Settings) -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(migrations.alembic_config(settings)).get_heads()
    assert len(heads) == 1


async def test_concurrent_upgrades_do_not_corrupt_sqlite(
    tmp_path: Path, settings_factory: Any
) -> None:
    settings = settings_factory(database_url=f"sqlite:///{tmp_path / 'race.db'}")
    await asyncio.gather(migrations.upgrade(settings), migrations.upgrade(settings))
    assert await _model_differences(settings) == []
