"""Idempotency-Key: a retried creation is answered with the first response, never run twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import delete, func, select, update

from t21.core import clock
from t21.core.idempotency import IdempotencyRecord
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.organizations.models import Organization
from tests.core.test_http import assert_problem
from tests.support.accounts import Account, register, sign_in


async def _create(
    client: httpx.AsyncClient, account: Account, key: str | None, name: str = "Acme"
) -> httpx.Response:
    headers = dict(account.headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/api/v1/organizations", json={"name": name}, headers=headers)


async def _organizations(runtime: Runtime, name: str) -> int:
    async with session_scope(runtime) as session:
        count = await session.scalar(
            select(func.count()).select_from(Organization).where(Organization.name == name)
        )
    return int(count or 0)


async def test_concurrent_retries_create_one_resource(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await register(client)
    answers = await asyncio.gather(
        *(_create(client, account, "same-key", "Racy") for _ in range(5))
    )
    assert await _organizations(runtime, "Racy") == 1
    created = [a for a in answers if a.status_code == 201]
    assert created
    assert len({a.json()["id"] for a in created}) == 1
    for answer in answers:
        if answer.status_code != 201:
            assert_problem(answer, 409, "conflict")
            assert answer.headers["retry-after"] == "1"


async def test_a_key_is_forgotten_after_24_hours(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await register(client)
    first = await _create(client, account, "daily", "Daily")
    with clock.frozen(clock.now() + timedelta(hours=24, seconds=1)):
        later = await _create(client, await sign_in(client, account), "daily", "Daily")
    assert first.status_code == later.status_code == 201
    assert first.json()["id"] != later.json()["id"]
    assert "idempotent-replayed" not in later.headers


async def test_a_failed_request_is_not_remembered(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await register(client)
    headers = {**account.headers, "Idempotency-Key": "bad-then-good"}
    invalid = await client.post("/api/v1/organizations", json={"name": ""}, headers=headers)
    assert_problem(invalid, 422, "validation_error")
    retried = await client.post("/api/v1/organizations", json={"name": ""}, headers=headers)
    assert_problem(retried, 422, "validation_error")
    async with session_scope(runtime) as session:
        assert await session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


async def test_a_request_that_died_in_progress_can_be_retried(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    account = await register(client)
    first = await _create(client, account, "crashed", "Crashed")
    # As if the process died after marking the key and before answering: the creation and its
    # stored answer commit together, so neither is there; the mark is.
    async with session_scope(runtime) as session:
        await session.execute(delete(Organization).where(Organization.name == "Crashed"))
        await session.execute(update(IdempotencyRecord).values(response_status=None))
    # While the first may still be running, a retry is told to wait and creates nothing.
    waiting = await _create(client, account, "crashed", "Crashed")
    assert_problem(waiting, 409, "conflict")
    assert await _organizations(runtime, "Crashed") == 0
    async with session_scope(runtime) as session:
        await session.execute(
            update(IdempotencyRecord).values(updated_at=clock.now() - timedelta(minutes=3))
        )
    retried = await _create(client, account, "crashed", "Crashed")
    assert first.status_code == retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    # The retry ran once: one organization, remembered for the next retry.
    assert await _organizations(runtime, "Crashed") == 1
    replayed = await _create(client, account, "crashed", "Crashed")
    assert replayed.json()["id"] == retried.json()["id"]
    assert await _organizations(runtime, "Crashed") == 1


async def test_replays_keep_the_status_and_content_type(client: httpx.AsyncClient) -> None:
    account = await register(client)
    first = await _create(client, account, "replay-me", "Replayed")
    replay = await _create(client, account, "replay-me", "Replayed")
    assert replay.status_code == 201
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()


async def test_an_unusable_key_is_refused(client: httpx.AsyncClient) -> None:
    account = await register(client)
    assert_problem(await _create(client, account, "x" * 256), 400, "bad_request")
