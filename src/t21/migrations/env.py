"""Alembic environment: one history for SQLite and PostgreSQL.

Run through `t21 migrate` (or `t21.core.migrations`), which hands over an open connection;
the `alembic` command (with the repository's alembic.ini) connects from the settings itself.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from t21.core.models import UTCDateTime
from t21.core.settings import get_settings
from t21.models import Base

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migrations must not import application types that may change later: UTCDateTime is a
    # plain timezone-aware timestamp in the schema.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: object) -> None:
    url_or_dialect = str(kwargs.get("url") or "")
    connection = kwargs.get("connection")
    is_sqlite = (
        connection.dialect.name == "sqlite"
        if isinstance(connection, Connection)
        else url_or_dialect.startswith("sqlite")
    )
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,  # SQLite alters tables by copying them
        # core.db makes SQLAlchemy emit BEGIN itself, so DDL is transactional on SQLite too.
        transactional_ddl=True,
        compare_type=True,
        render_item=_render_item,
        **kwargs,  # type: ignore[arg-type]
    )


def run_offline() -> None:
    settings = config.attributes.get("settings") or get_settings()
    _configure(
        url=settings.resolved_database_url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from t21.core.migrations import migration_engine

    engine = migration_engine(config.attributes.get("settings") or get_settings())
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run_with)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run_with(connection)
else:
    asyncio.run(_run_standalone())
