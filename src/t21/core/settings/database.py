"""The database and its connection pool."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DatabaseSettings(BaseModel):
    """The database URL and pool."""

    # --- database ------------------------------------------------------------------------------
    database_url: str | None = None
    # Every connection the pool may open is one it keeps: SQLAlchemy closes an overflow
    # connection that comes back while the pool's queue is momentarily full, even with requests
    # waiting for one, so under a burst each request past the pool's size paid a connection's
    # start and every statement prepared again (the list at 50 connections: 429 requests a
    # second against 627, bench/README "Issue 22, ninth round").
    database_pool_size: int = Field(default=20, ge=1)
    database_max_overflow: int = Field(default=0, ge=0)
    database_pool_timeout_s: float = Field(default=30.0, gt=0)
    database_pool_recycle_s: int = Field(default=1800, ge=-1)
    # A ping (a round trip) before each checkout of a pooled PostgreSQL connection. Off: asyncpg
    # notices a connection the server closed, the pool replaces it, and a connection lost
    # mid-request answers 503 (`core.db.database_unavailable`); recycling retires old ones.
    # Turn on behind a proxy that drops idle connections silently.
    database_pool_pre_ping: bool = False
    database_echo: bool = False
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
