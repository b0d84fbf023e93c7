"""An organization known to have no webhook endpoint records its events without reading the
endpoints, and an endpoint added to it receives the next event: at once in the process that
added it, through Redis in another, within the principal cache's TTL if no one was told."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import event, update

from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.events.service import record_event
from t21.organizations.principal_cache import PrincipalCache
from t21.webhooks.fanout import QuietOrganizations, _quiet
from t21.webhooks.models import WebhookEndpoint
from t21.webhooks.schemas import WebhookIn
from t21.webhooks.service import create_endpoint
from tests.support.accounts import register
from tests.support.serving import serving
from tests.webhooks.conftest import FAST, Hooks, Receiver


def _quiet_of(runtime: Runtime) -> QuietOrganizations:
    quiet = _quiet.get(runtime.engine.sync_engine)
    assert quiet is not None
    return quiet


@contextmanager
def endpoint_reads(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        if "webhook_endpoints" in str(args[2]):
            statements.append(str(args[2]))

    engine = runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _emit(runtime: Runtime, hooks: Hooks) -> str:
    async with session_scope(runtime) as session:
        recorded = await record_event(
            session, organization_id=hooks.org, type="post.created", data={"n": 1}
        )
    return recorded.id


async def _delivered(hooks: Hooks, endpoint_id: str) -> list[str]:
    return [delivery["event_id"] for delivery in await hooks.deliveries(endpoint_id)]


async def test_an_endpoint_added_to_a_quiet_organization_gets_its_next_event(
    hooks: Hooks, receiver: Receiver
) -> None:
    quiet = _quiet_of(hooks.runtime)
    await hooks.emit("post.created")
    assert quiet.quiet(hooks.org)
    with endpoint_reads(hooks.runtime) as reads:
        await hooks.emit("post.created")
    assert reads == []  # known to have none: not read again

    endpoint = await hooks.create(receiver.url())
    assert not quiet.quiet(hooks.org)
    event_id = await hooks.emit("post.created")
    assert await _delivered(hooks, endpoint["id"]) == [event_id]


async def test_an_endpoint_added_in_the_events_own_transaction_gets_it(
    hooks: Hooks, receiver: Receiver, started_app: FastAPI
) -> None:
    await hooks.emit("post.created")
    assert _quiet_of(hooks.runtime).quiet(hooks.org)
    cache = started_app.state.principal_cache
    assert isinstance(cache, PrincipalCache)
    principal = cache.get(hooks.owner.access_token)
    assert principal is not None
    async with session_scope(hooks.runtime) as session:
        endpoint, _secret = await create_endpoint(
            session, hooks.runtime.settings, principal, WebhookIn(url=receiver.url())
        )
        recorded = await record_event(
            session, organization_id=hooks.org, type="post.created", data={"n": 1}
        )
    assert await _delivered(hooks, str(endpoint.id)) == [recorded.id]


async def test_a_bulk_update_of_endpoints_forgets_every_quiet_organization(
    hooks: Hooks, receiver: Receiver
) -> None:
    quiet = _quiet_of(hooks.runtime)
    stranger = await register(hooks.api)
    async with session_scope(hooks.runtime) as session:
        await record_event(
            session,
            organization_id=stranger.personal_organization_id,
            type="post.created",
            data={"n": 1},
        )
    assert quiet.quiet(stranger.personal_organization_id)
    await hooks.create(receiver.url())
    async with session_scope(hooks.runtime) as session:
        # Which organizations' endpoints a statement changes is not known: all are forgotten.
        await session.execute(update(WebhookEndpoint).values(description="Renamed"))
        assert quiet.quiet(stranger.personal_organization_id)  # not before the commit
    assert not quiet.quiet(stranger.personal_organization_id)


@pytest.mark.redis
async def test_another_process_hears_of_a_new_endpoint_through_redis(
    hooks: Hooks, receiver: Receiver, app_factory: Any
) -> None:
    other = app_factory(principal_cache_ttl_s=60, **FAST)
    async with serving(other):
        runtime_b: Runtime = other.state.runtime
        quiet_b = _quiet_of(runtime_b)
        cache_b = other.state.principal_cache
        async with asyncio.timeout(30):
            while cache_b.generation == 0:  # subscribed
                await asyncio.sleep(0.01)
        await _emit(runtime_b, hooks)
        assert quiet_b.quiet(hooks.org)

        endpoint = await hooks.create(receiver.url())  # in process A
        async with asyncio.timeout(30):
            while quiet_b.quiet(hooks.org):
                await asyncio.sleep(0.01)
        event_id = await _emit(runtime_b, hooks)
        assert await _delivered(hooks, endpoint["id"]) == [event_id]


async def test_without_a_message_a_quiet_organization_is_asked_again_after_the_bound(
    hooks: Hooks, receiver: Receiver, started_app: FastAPI
) -> None:
    quiet = _quiet_of(hooks.runtime)
    await hooks.emit("post.created")
    assert quiet.quiet(hooks.org)
    # This process hears of no change from now on, as one whose message was lost.
    started_app.state.principal_cache.followers.remove(quiet.forget)
    endpoint = await hooks.create(receiver.url())
    missed = await hooks.emit("post.created")
    start = quiet.monotonic()
    quiet.monotonic = lambda: start + quiet.ttl_s
    event_id = await hooks.emit("post.created")
    delivered = await _delivered(hooks, endpoint["id"])
    assert delivered == [event_id]
    assert missed not in delivered


async def test_a_post_created_in_a_quiet_organization_is_written_without_a_transaction(
    hooks: Hooks, receiver: Receiver
) -> None:
    """On PostgreSQL a create whose events have no delivery to write runs no BEGIN/COMMIT: its
    reads each on their own, its writes one INSERT. Once an endpoint exists, a transaction
    again, and the endpoint gets the post's event."""
    brand = await hooks.api.post(
        "/api/v1/brands", json={"name": "Quiet"}, headers=hooks.owner.headers
    )
    assert brand.status_code == 201, brand.text
    draft = {
        "brand_id": brand.json()["id"],
        "content": "A draft.",
        "status": "draft",
        "targets": [],
    }
    seen: list[tuple[str, Any]] = []

    def record(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append((statement, connection.get_execution_options().get("isolation_level")))

    engine = hooks.runtime.engine.sync_engine
    postgres = engine.dialect.name == "postgresql"
    await hooks.emit("post.created")
    assert _quiet_of(hooks.runtime).quiet(hooks.org)
    event.listen(engine, "before_cursor_execute", record)
    try:
        created = await hooks.api.post("/api/v1/posts", json=draft, headers=hooks.owner.headers)
        assert created.status_code == 201, created.text
        quiet_create = list(seen)
        endpoint = await hooks.create(receiver.url())
        seen.clear()
        created = await hooks.api.post("/api/v1/posts", json=draft, headers=hooks.owner.headers)
        assert created.status_code == 201, created.text
        busy_create = list(seen)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    writes = [level for statement, level in quiet_create if statement.startswith("WITH")]
    if postgres:
        assert len(writes) == 1, quiet_create  # post and event in one statement
        assert {level for _, level in quiet_create} == {"AUTOCOMMIT"}, quiet_create
    assert all(level is None for _, level in busy_create), busy_create
    assert any("webhook_endpoints" in statement for statement, _ in busy_create)
    deliveries = await hooks.deliveries(endpoint["id"])
    assert [d["event_type"] for d in deliveries] == ["post.created"], deliveries


def test_in_the_last_fifth_of_its_life_one_caller_reads_again_and_renews_it() -> None:
    quiet = QuietOrganizations(5.0)
    now = [100.0]
    quiet.monotonic = lambda: now[0]
    organization = uuid.uuid4()
    quiet.remember(organization, quiet.generation)
    now[0] = 103.9
    assert quiet.quiet(organization)
    assert quiet.skips_reading(organization)
    now[0] = 104.5  # the last fifth: one caller is told to read the endpoints again...
    assert not quiet.quiet(organization)
    assert quiet.quiet(organization)  # ...the others are still served...
    assert not quiet.skips_reading(organization)  # ...but a writer of deliveries reads them
    quiet.remember(organization, quiet.generation)  # what that read found: still none
    now[0] = 108.0  # past the first entry's life, within the renewed one
    assert quiet.quiet(organization)
    assert quiet.skips_reading(organization)


def test_an_entry_no_one_renews_ends_at_its_bound_and_one_found_loud_at_once() -> None:
    quiet = QuietOrganizations(5.0)
    now = [100.0]
    quiet.monotonic = lambda: now[0]
    organization, other = uuid.uuid4(), uuid.uuid4()
    quiet.remember(organization, quiet.generation)
    quiet.remember(other, quiet.generation)
    now[0] = 104.5
    assert not quiet.quiet(organization)  # told to read again, and never remembers
    assert quiet.quiet(organization)
    now[0] = 105.0
    assert not quiet.quiet(organization)
    assert not quiet.quiet(organization)  # gone: every caller reads
    # A read that finds an endpoint (a change no message told of) ends the entry at once.
    quiet.drop(other)
    assert not quiet.quiet(other)


async def test_a_quiet_organization_in_steady_use_is_read_again_once_before_its_entry_ends(
    hooks: Hooks,
) -> None:
    # Through the API: a draft in the entry's last fifth leaves the quiet path once (on
    # PostgreSQL the create without a transaction), reads the endpoints, and renews the entry.
    brand = await hooks.api.post(
        "/api/v1/brands", json={"name": "Steady"}, headers=hooks.owner.headers
    )
    assert brand.status_code == 201, brand.text
    draft = {"brand_id": brand.json()["id"], "content": "A draft.", "status": "draft"}
    quiet = _quiet_of(hooks.runtime)
    await hooks.emit("post.created")
    start = quiet.monotonic()
    quiet.monotonic = lambda: start + quiet.ttl_s * 0.9
    with endpoint_reads(hooks.runtime) as reads:
        for _ in range(3):
            created = await hooks.api.post(
                "/api/v1/posts", json={**draft, "targets": []}, headers=hooks.owner.headers
            )
            assert created.status_code == 201, created.text
    assert len(reads) == 1
    quiet.monotonic = lambda: start + quiet.ttl_s * 1.5
    with endpoint_reads(hooks.runtime) as reads:
        await hooks.emit("post.created")
    assert reads == []
