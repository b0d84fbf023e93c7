"""Dependencies every router uses: the request's unit of work (or read-only session) and the
settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.settings import Settings
from t21.core.uow import read_scope, session_scope


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    # scope="function": the commit happens right after the handler returns and before the
    # response is sent, so a failed commit is an error response, never a 200 for lost data.
    async with session_scope(request.app.state.runtime) as session:
        yield session


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with read_scope(request.app.state.runtime) as session:
        yield session


async def _settings(request: Request) -> Settings:
    # async: a plain `def` dependency would hop to the thread pool on every request.
    settings: Settings = request.app.state.settings
    return settings


DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]
# For a route that only reads: no transaction on PostgreSQL (two round trips fewer), a
# deferred one on SQLite (no write lock). A route takes one or the other, never both (a
# handler's reads and writes belong in one unit of work).
ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
AppSettings = Annotated[Settings, Depends(_settings)]
