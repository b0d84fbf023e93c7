"""A database that can't serve a request just now (SQLite's write lock held past its busy
timeout, PostgreSQL's pool out of connections) answers 503 with `Retry-After`, not 500, and the
same request succeeds once the database is free again."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from t21.core.runtime import Runtime
from t21.models import Base
from tests import conftest
from tests.core.test_http import assert_problem
from tests.support.accounts import register


async def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def _sqlite_database(test_database: conftest.TestDatabase, tmp_path: Path) -> Path:
    """A SQLite file with T21's tables, of this test's own (the suite may run on PostgreSQL)."""
    if test_database.kind == "sqlite":
        return Path(make_url(test_database.url_for(tmp_path)).database or "")
    path = tmp_path / "busy.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        Base.metadata.create_all(engine)
    finally:
        engine.dispose()
    return path


async def test_sqlite_locked_past_its_busy_timeout_answers_503_then_serves(
    app_factory: Any, test_database: conftest.TestDatabase, tmp_path: Path
) -> None:
    path = _sqlite_database(test_database, tmp_path)
    app = app_factory(database_url=f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_ms=1500)
    async with app.router.lifespan_context(app), await _client(app) as api:
        owner = await register(api)
        # Waits for the app's own short transactions (its job worker) to let the lock go: in a
        # thread, so that the event loop, which must run to commit them, isn't blocked meanwhile.
        holder = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        try:
            await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")
            busy = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
            problem = assert_problem(busy, 503, "unavailable")
            assert busy.headers["retry-after"] == "2"
            assert "try again" in problem["detail"]
            assert "locked" not in busy.text  # the database's own words stay in the log
        finally:
            if holder.in_transaction:
                holder.execute("ROLLBACK")
            holder.close()
        served = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
        assert served.status_code == 201, served.text
        listed = await api.get("/api/v1/brands", headers=owner.headers)
        assert [brand["name"] for brand in listed.json()["items"]] == ["Acme"]


@pytest.mark.postgres
async def test_postgres_pool_exhausted_answers_503_then_serves(app_factory: Any) -> None:
    app = app_factory(database_pool_size=1, database_max_overflow=0, database_pool_timeout_s=0.2)
    async with app.router.lifespan_context(app), await _client(app) as api:
        owner = await register(api)
        runtime: Runtime = app.state.runtime
        held = await runtime.engine.connect()
        try:
            busy = await api.get("/api/v1/brands", headers=owner.headers)
            assert_problem(busy, 503, "unavailable")
            assert busy.headers["retry-after"] == "2"
        finally:
            await held.close()
        served = await api.get("/api/v1/brands", headers=owner.headers)
        assert served.status_code == 200, served.text
