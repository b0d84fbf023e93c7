"""A draft checked against the brand and accounts its API process read for a draft a moment ago
is written without reading them again (`posts.known.KnownBrands`, PostgreSQL's driver path),
and a change to them reaches the next draft: at once in the process that made it, through
Redis in another (a worker process's too), within the principal cache's TTL if no one was told;
the workers' bookkeeping on accounts drops nothing. Another organization's
caller is answered from the database, as before."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, update

from t21.core import clock
from t21.core.prepared import PooledDriver
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.organizations.models import ApiKey
from t21.posts.known import KnownBrands, known_brands_of
from t21.publishing.gates import hold_account
from t21.social.models import AccountStatus, SocialAccount
from t21.social.tokens import mark_reauth_required
from t21.webhooks.fanout import _quiet
from t21.worker.app import create_worker_app
from tests.posts.conftest import Desk
from tests.support.accounts import add_member, create_api_key, register
from tests.support.serving import serving

pytestmark = pytest.mark.postgres


def _kept(runtime: Runtime) -> KnownBrands:
    kept = known_brands_of(runtime.engine)
    assert kept is not None
    return kept


@contextmanager
def driver_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SELECTs run on a pooled driver's connection (the brand's and accounts') meanwhile."""
    statements: list[str] = []
    fetch = PooledDriver.fetch

    async def counted(self: PooledDriver, statement: Any, parameters: dict[str, Any]) -> Any:
        statements.append(str(statement))
        return await fetch(self, statement, parameters)

    with monkeypatch.context() as patched:
        patched.setattr(PooledDriver, "fetch", counted)
        yield statements


def _draft(account_id: str, content: str = "A draft.") -> dict[str, Any]:
    return {"content": content, "status": "draft", "targets": [{"social_account_id": account_id}]}


def _refused_account(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["loc"] == ["body", "targets", 0, "social_account_id"], error
    message: str = error["msg"]
    return message


async def _kept_unheard(desk: Desk) -> tuple[KnownBrands, str]:
    """A draft's brand and account kept, and this process deaf to changes from then on (as one
    whose message was lost): what it keeps ends only when read again or at its bound."""
    kept = _kept(desk.world.runtime)
    account = await desk.account("twitter")
    await desk.create(**_draft(account))
    desk.world.app.state.principal_cache.followers.remove(kept.forget)
    return kept, account


async def _kept_in(
    app: FastAPI, api: httpx.AsyncClient, desk: Desk, account: str
) -> tuple[KnownBrands, dict[str, Any]]:
    """Another API process (`app`, reached by `api`), subscribed to the principal channel and
    keeping the brand and `account` of a draft it wrote; the draft's body."""
    kept = _kept(app.state.runtime)
    async with asyncio.timeout(30):
        while app.state.principal_cache.generation == 0:  # subscribed
            await asyncio.sleep(0.01)
    draft = {"brand_id": desk.brand_id, **_draft(account)}
    for _ in range(2):  # the first tells it that the organization has no webhook endpoint
        created = await api.post("/api/v1/posts", json=draft, headers=desk.owner.headers)
        assert created.status_code == 201, created.text
    assert len(kept) == 1
    return kept, draft


async def test_a_second_draft_to_the_same_accounts_reads_neither_brand_nor_accounts(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    twitter, linkedin = await desk.account("twitter"), await desk.account("linkedin")
    with driver_reads(monkeypatch) as reads:
        await desk.create(**_draft(twitter, "One"))
    assert len(reads) == 1
    with driver_reads(monkeypatch) as reads:
        second = (await desk.create(**_draft(twitter, "Two"))).json()
    assert reads == []
    read = await desk.api.get(f"/api/v1/posts/{second['id']}", headers=desk.owner.headers)
    assert read.status_code == 200, read.text
    assert read.json() == second
    assert [t["social_account_id"] for t in second["targets"]] == [twitter]
    # Other accounts are another entry: read once, then kept too.
    both: dict[str, Any] = {"content": "Both", "status": "draft"}
    both["targets"] = [{"social_account_id": twitter}, {"social_account_id": linkedin}]
    with driver_reads(monkeypatch) as reads:
        await desk.create(**both)
        await desk.create(**both)
    assert len(reads) == 1


async def test_an_account_disconnected_through_the_api_is_refused_at_the_next_draft(
    desk: Desk,
) -> None:
    account = await desk.account("twitter")
    await desk.create(**_draft(account))
    assert len(_kept(desk.world.runtime)) == 1
    gone = await desk.api.delete(f"/api/v1/social-accounts/{account}", headers=desk.owner.headers)
    assert gone.status_code == 204, gone.text
    refused = await desk.create(expect=None, **_draft(account))
    assert _refused_account(refused) == "No such social account."


async def test_an_account_whose_tokens_failed_is_refused_at_the_next_draft(desk: Desk) -> None:
    """As the worker marks it when its refresh fails for good (here in this process)."""
    runtime = desk.world.runtime
    account = await desk.account("twitter")
    await desk.create(**_draft(account))
    async with session_scope(runtime) as session:
        found = await session.get(SocialAccount, uuid.UUID(account))
        assert found is not None
        await mark_reauth_required(session, runtime.settings, found, "invalid_grant")
    refused = await desk.create(expect=None, **_draft(account))
    assert "needs reconnecting" in _refused_account(refused)


async def test_a_bulk_update_of_accounts_drops_every_kept_brand_when_it_commits(
    desk: Desk,
) -> None:
    runtime = desk.world.runtime
    kept = _kept(runtime)
    account = await desk.account("twitter")
    await desk.create(**_draft(account))
    async with session_scope(runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == uuid.UUID(account))
            .values(status=AccountStatus.DISCONNECTED)
        )
        assert len(kept) == 1  # not before the commit
    assert len(kept) == 0
    refused = await desk.create(expect=None, **_draft(account))
    assert "disconnected" in _refused_account(refused)


async def test_callers_of_other_organizations_and_roles_are_answered_as_before(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = desk.world
    account = await desk.account("twitter")
    await desk.create(**_draft(account))
    stranger = await register(world.api)
    # The stranger's organization known to have no webhook endpoint: its create runs on the
    # driver's path, where the owner's brand is kept.
    quiet = _quiet.get(world.runtime.engine.sync_engine)
    assert quiet is not None
    quiet.remember(stranger.personal_organization_id, quiet.generation)
    with driver_reads(monkeypatch) as reads:
        unknown = await desk.create(who=stranger, expect=None, **_draft(account))
    assert unknown.status_code == 404, unknown.text
    assert len(reads) == 1  # read from the database, scoped to the stranger's organizations
    viewer = await add_member(
        world.api,
        world.runtime.jobs,  # type: ignore[arg-type]
        world.runtime.settings,
        inviter=world.owner,
        organization_id=world.owner.personal_organization_id,
        role="viewer",
    )
    forbidden = await desk.create(who=viewer, expect=None, **_draft(account))
    assert forbidden.status_code == 403, forbidden.text
    assert (await desk.create(**_draft(account))).status_code == 201


async def test_without_a_message_a_kept_brand_is_read_again_after_the_bound(
    desk: Desk,
) -> None:
    world = desk.world
    kept, account = await _kept_unheard(desk)
    async with session_scope(world.runtime) as session:
        found = await session.get(SocialAccount, uuid.UUID(account))
        assert found is not None
        await mark_reauth_required(session, world.runtime.settings, found, "invalid_grant")
    # Within the bound the draft is checked against what was kept...
    await desk.create(**_draft(account))
    start = kept.monotonic()
    kept.monotonic = lambda: start + kept.ttl_s
    # ...and past it, read again.
    refused = await desk.create(expect=None, **_draft(account))
    assert "needs reconnecting" in _refused_account(refused)


async def test_a_kept_account_gone_from_the_database_is_refused_and_read_again(
    desk: Desk,
) -> None:
    """A write that relied on what was kept and was refused (the account's row gone: its
    foreign key) runs through the session, which answers, and the entry is dropped."""
    world = desk.world
    kept, account = await _kept_unheard(desk)
    async with world.runtime.engine.begin() as connection:
        await connection.execute(
            delete(SocialAccount).where(SocialAccount.id == uuid.UUID(account))
        )
    assert len(kept) == 1
    refused = await desk.create(expect=None, **_draft(account))
    assert _refused_account(refused) == "No such social account."
    assert len(kept) == 0


@pytest.mark.redis
async def test_another_process_hears_of_a_disconnection_through_redis(
    desk: Desk, app_factory: Any
) -> None:
    world = desk.world
    account = await desk.account("twitter")
    other = app_factory(sandbox_url=world.sandbox, principal_cache_ttl_s=60)
    async with serving(other) as api_b:
        kept_b, draft = await _kept_in(other, api_b, desk, account)

        gone = await desk.api.delete(  # in process A
            f"/api/v1/social-accounts/{account}", headers=desk.owner.headers
        )
        assert gone.status_code == 204, gone.text
        async with asyncio.timeout(30):
            while len(kept_b) > 0:
                await asyncio.sleep(0.01)
        refused = await api_b.post("/api/v1/posts", json=draft, headers=desk.owner.headers)
        assert _refused_account(refused) == "No such social account."


async def test_the_workers_bookkeeping_on_accounts_leaves_kept_brands_as_they_are(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers hold accounts for rate limits, claim their refreshes and note errors all day: a
    # change to those columns alone, bulk or through an object, drops nothing (a bulk statement
    # on accounts otherwise drops every kept brand, as above).
    runtime = desk.world.runtime
    kept = _kept(runtime)
    account = await desk.account("twitter")
    await desk.create(**_draft(account))
    generation = kept.generation
    async with session_scope(runtime) as session:
        await hold_account(session, uuid.UUID(account), clock.now() + timedelta(minutes=5))
        found = await session.get(SocialAccount, uuid.UUID(account))
        assert found is not None
        found.last_error = "rate limited"
        found.refresh_due_at = clock.now() + timedelta(hours=1)
    assert (len(kept), kept.generation) == (1, generation)
    with driver_reads(monkeypatch) as reads:
        await desk.create(**_draft(account))
    assert reads == []

    # A column a draft's check reads is not bookkeeping, mixed in or alone.
    async with session_scope(runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == uuid.UUID(account))
            .values(last_error=None, display_name="Renamed")
        )
    assert len(kept) == 0


@pytest.mark.redis
async def test_a_worker_process_announces_an_account_it_marks_for_reconnecting(
    desk: Desk, app_factory: Any, settings_factory: Any
) -> None:
    # API process B keeps entries for a minute; the account is marked in a worker process's
    # own runtime (`t21 worker`'s app): only the worker's message can reach B within seconds.
    world = desk.world
    account = await desk.account("twitter")
    other = app_factory(sandbox_url=world.sandbox, principal_cache_ttl_s=60)
    worker = create_worker_app(settings_factory(sandbox_url=world.sandbox))
    async with serving(other) as api_b, worker.router.lifespan_context(worker):
        assert worker.state.principal_announcer is not None
        kept_b, draft = await _kept_in(other, api_b, desk, account)

        worker_runtime: Runtime = worker.state.runtime
        async with session_scope(worker_runtime) as session:
            found = await session.get(SocialAccount, uuid.UUID(account))
            assert found is not None
            await mark_reauth_required(session, worker_runtime.settings, found, "invalid_grant")
        async with asyncio.timeout(5):
            while len(kept_b) > 0:
                await asyncio.sleep(0.01)
        refused = await api_b.post("/api/v1/posts", json=draft, headers=desk.owner.headers)
        assert "needs reconnecting" in _refused_account(refused)

        # A principal the worker changes too: an API key it deletes stops at B within seconds.
        organization_id = desk.owner.personal_organization_id
        key = await create_api_key(desk.api, desk.owner, organization_id)
        members = f"/api/v1/organizations/{organization_id}/members"
        bearer = {"Authorization": f"Bearer {key['key']}"}
        assert (await api_b.get(members, headers=bearer)).status_code == 200
        async with session_scope(worker_runtime) as session:
            row = await session.get(ApiKey, uuid.UUID(key["id"]))
            assert row is not None
            await session.delete(row)
        async with asyncio.timeout(5):
            while (await api_b.get(members, headers=bearer)).status_code != 401:
                await asyncio.sleep(0.01)


async def test_a_brand_in_steady_use_is_read_again_by_one_draft_before_its_entry_ends(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without this every draft in flight when the entry ended would read the brand at once.
    kept = _kept(desk.world.runtime)
    account = await desk.account("twitter")
    await desk.create(**_draft(account))
    start = kept.monotonic()
    kept.monotonic = lambda: start + kept.ttl_s * 0.9  # its last fifth
    with driver_reads(monkeypatch) as reads:
        await desk.create(**_draft(account, "Renews it"))
        await desk.create(**_draft(account, "Served"))
    assert len(reads) == 1
    kept.monotonic = lambda: start + kept.ttl_s * 1.5  # past the first entry, in the new one
    with driver_reads(monkeypatch) as reads:
        await desk.create(**_draft(account, "Still served"))
    assert reads == []


async def test_a_read_again_that_finds_the_account_unusable_drops_the_entry(
    desk: Desk,
) -> None:
    world = desk.world
    kept, account = await _kept_unheard(desk)
    async with session_scope(world.runtime) as session:
        await session.execute(
            update(SocialAccount)
            .where(SocialAccount.id == uuid.UUID(account))
            .values(status=AccountStatus.DISCONNECTED)
        )
    start = kept.monotonic()
    kept.monotonic = lambda: start + kept.ttl_s * 0.9
    refused = await desk.create(expect=None, **_draft(account))  # told to read again
    assert "disconnected" in _refused_account(refused)
    assert len(kept) == 0  # the others are not served the stale entry until its end
    again = await desk.create(expect=None, **_draft(account))
    assert "disconnected" in _refused_account(again)
