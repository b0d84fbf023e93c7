"""A draft's create on PostgreSQL runs on a pooled connection of its own, on the driver, without
the session (`posts.direct._direct`): the same answer, the same rows and event as through the
session; a statement the server refuses sends the create through the session's path, which
answers as it always did; a connection lost before the INSERT's answer is a 503, the
connection dropped, and the next create served."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.pool import QueuePool

from t21.core.db import create_engine
from t21.core.prepared import PooledDriver
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.events.models import Event
from t21.posts.models import Post, PostTarget
from tests.events.conftest import open_stream
from tests.posts.conftest import POSTS, Desk, engine_events
from tests.social.conftest import world_of

pytestmark = pytest.mark.postgres

_VOLATILE = {"id", "created_at", "updated_at", "post_id"}


def _stable(answer: Any) -> Any:
    """An answer without what differs between two creates of the same draft."""
    if isinstance(answer, dict):
        return {key: _stable(value) for key, value in answer.items() if key not in _VOLATILE}
    if isinstance(answer, list):
        return [_stable(value) for value in answer]
    return answer


def _checked_out(runtime: Runtime) -> int:
    pool = runtime.engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


async def _rows_of(runtime: Runtime, post_id: str) -> tuple[int, int, list[tuple[str, Any]]]:
    async with session_scope(runtime) as session:
        posts = await session.scalar(select(func.count()).where(Post.id == post_id))
        targets = await session.scalar(select(func.count()).where(PostTarget.post_id == post_id))
        events = [
            (type, data)
            for type, data in await session.execute(
                select(Event.type, Event.data).where(Event.data["id"].as_string() == post_id)
            )
        ]
    return posts or 0, targets or 0, events


async def _posts(runtime: Runtime) -> int:
    async with session_scope(runtime) as session:
        return await session.scalar(select(func.count()).select_from(Post)) or 0


async def test_a_draft_is_written_without_the_session_as_the_session_writes_it(
    desk: Desk,
) -> None:
    runtime = desk.world.runtime
    body: dict[str, Any] = {
        # Text beyond ASCII: the event's data is written as JSON by another writer on each path.
        "content": "Hello from T21 — café ☕ https://example.com #launch",
        "targets": [
            {"social_account_id": await desk.account("twitter")},
            {"social_account_id": await desk.account("linkedin"), "content": "Shorter"},
        ],
    }
    with engine_events(runtime, "engine_connect") as made:
        direct = (await desk.create(**body)).json()
    assert made == []  # the pool's connection alone: no session, no SQLAlchemy connection
    with engine_events(runtime, "before_cursor_execute") as seen:
        through_session = (await desk.create(**body)).json()
    assert any(args[2].startswith("WITH") for args in seen)
    assert _stable(direct) == _stable(through_session)
    for answer in (direct, through_session):
        read = await desk.api.get(f"{POSTS}/{answer['id']}", headers=desk.owner.headers)
        assert read.status_code == 200, read.text
        assert read.json() == answer
        shown = {key: value for key, value in answer.items() if key != "warnings"}
        assert await _rows_of(runtime, answer["id"]) == (1, 2, [("post.created", shown)])
    assert _checked_out(runtime) == 0


async def test_refusals_read_on_the_driver_answer_as_the_sessions_do(desk: Desk) -> None:
    runtime = desk.world.runtime
    x = await desk.account("twitter")
    missing_brand = "01900000-0000-7000-8000-000000000000"
    unknown_account = "01900000-0000-7000-8000-000000000001"
    answers = []
    for watched in (False, True):
        with (
            engine_events(runtime, "before_cursor_execute")
            if watched
            else engine_events(runtime, "engine_connect") as seen
        ):
            brand = await desk.create(
                content="x", targets=[{"social_account_id": x}], brand_id=missing_brand, expect=404
            )
            account = await desk.create(
                content="x", targets=[{"social_account_id": unknown_account}], expect=422
            )
            too_long = await desk.create(
                content="x" * 281, targets=[{"social_account_id": x}], expect=422
            )
        assert (seen != []) is watched
        answers.append([_stable(one.json()) for one in (brand, account, too_long)])
    direct, through_session = answers
    for one, other in zip(direct, through_session, strict=True):
        assert {**one, "request_id": None} == {**other, "request_id": None}
    assert await _posts(runtime) == 0
    assert _checked_out(runtime) == 0


async def test_an_account_removed_before_the_insert_is_refused_through_the_session(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account is deleted between the create's read and its INSERT: the server refuses
    the INSERT (the target's account is gone), nothing is written, and the session's path
    runs the create again and refuses the account as unknown."""
    runtime = desk.world.runtime
    account_id = await desk.account("twitter")
    execute = PooledDriver.execute

    async def removing_first(self: PooledDriver, statement: Any, parameters: Any) -> None:
        async with session_scope(runtime) as session:
            await session.execute(
                text("DELETE FROM social_accounts WHERE id = :id"), {"id": account_id}
            )
        await execute(self, statement, parameters)

    monkeypatch.setattr(PooledDriver, "execute", removing_first)
    refused = await desk.create(
        content="Hello", targets=[{"social_account_id": account_id}], expect=422
    )
    assert [error["loc"] for error in refused.json()["errors"]] == [
        ["body", "targets", 0, "social_account_id"]
    ]
    assert await _posts(runtime) == 0
    assert _checked_out(runtime) == 0


async def test_a_connection_lost_before_the_inserts_answer_is_a_503_and_is_dropped(
    desk: Desk, monkeypatch: pytest.MonkeyPatch, settings_factory: Any
) -> None:
    runtime = desk.world.runtime
    account_id = await desk.account("twitter")
    admin = create_engine(runtime.settings, pooled=False)
    execute = PooledDriver.execute
    dropped: list[int] = []

    async def losing_the_connection(self: PooledDriver, statement: Any, parameters: Any) -> None:
        [(pid,)] = await self.fetch(select(func.pg_backend_pid()), {})
        async with admin.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        dropped.append(pid)
        await execute(self, statement, parameters)

    draft: dict[str, Any] = {"content": "Hello", "targets": [{"social_account_id": account_id}]}
    try:
        monkeypatch.setattr(PooledDriver, "execute", losing_the_connection)
        lost = await desk.create(expect=503, **draft)
        assert lost.headers["Retry-After"]
        assert lost.json()["code"] == "unavailable"
        monkeypatch.setattr(PooledDriver, "execute", execute)
        assert _checked_out(runtime) == 0
        assert await _posts(runtime) == 0
        created = await desk.create(**draft)
        assert created.json()["status"] == "draft"
        assert len(dropped) == 1
    finally:
        await admin.dispose()


async def test_a_draft_written_on_the_driver_wakes_an_open_stream(
    app_factory: Any, sandbox: str
) -> None:
    """The INSERT is its own commit: the organization's streams are woken after it, as after
    a session's commit (no poll here to find the event instead)."""
    quiet = {"events_poll_s": 600.0, "events_heartbeat_s": 600.0}
    async with world_of(app_factory, sandbox, **quiet) as world:
        desk = Desk(world)
        account_id = await desk.account("twitter")
        async with open_stream(world.app, world.owner.headers) as stream:
            created = await desk.create(
                content="Woken", targets=[{"social_account_id": account_id}]
            )
            event = await stream.next_event()
            assert event.data is not None
            assert event.data["data"]["id"] == created.json()["id"]
