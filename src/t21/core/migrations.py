"""Running the Alembic history from code: `t21 migrate`, `t21 serve` on SQLite, and tests."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from t21.core.db import create_engine
from t21.core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class MigrationError(Exception):
    pass


def alembic_config(settings: Settings, *, output: TextIO | None = None) -> Config:
    """Alembic's configuration for our history; `output` receives offline (`--sql`) SQL."""
    config = Config(output_buffer=output) if output is not None else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    return config


def migration_engine(settings: Settings) -> AsyncEngine:
    """An unpooled engine for schema changes; on SQLite foreign keys are off while tables are
    rebuilt (and checked afterwards), since SQLite alters a table by copying it."""
    return create_engine(settings, pooled=False, foreign_keys=False)


def head_revision(settings: Settings) -> str | None:
    return ScriptDirectory.from_config(alembic_config(settings)).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        revision = await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
        await conn.rollback()
    return revision


async def _run(settings: Settings, action: str, revision: str) -> None:
    engine = migration_engine(settings)
    try:
        async with engine.begin() as conn:

            def run(sync_conn: Connection) -> None:
                config = alembic_config(settings)
                config.attributes["connection"] = sync_conn
                if action == "upgrade":
                    command.upgrade(config, revision)
                else:
                    command.downgrade(config, revision)
                if sync_conn.dialect.name == "sqlite":
                    broken = sync_conn.execute(text("PRAGMA foreign_key_check")).fetchall()
                    if broken:
                        raise MigrationError(f"foreign keys broken by the migration: {broken}")

            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def upgrade(settings: Settings, revision: str = "head") -> None:
    """Bring the database of `settings` up to `revision`, in one transaction."""
    await _run(settings, "upgrade", revision)


async def downgrade(settings: Settings, revision: str) -> None:
    await _run(settings, "downgrade", revision)


def upgrade_sql(settings: Settings, revision: str = "head") -> str:
    """The SQL `upgrade` would run from an empty database, for review or a DBA."""
    buffer = io.StringIO()
    command.upgrade(alembic_config(settings, output=buffer), revision, sql=True)
    return buffer.getvalue()


async def is_current(
    settings: Settings, engine: AsyncEngine
) -> tuple[bool, str | None, str | None]:
    """Whether the database is at the head revision, with both revisions."""
    head = head_revision(settings)
    current = await current_revision(engine)
    return current == head, current, head
