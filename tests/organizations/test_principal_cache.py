"""Cached principals: a revocation takes effect at its commit in the process that made it, through
Redis pub/sub in the others, and within `principal_cache_ttl_s` even when no one was told."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import update

from t21.core.errors import NotAuthenticated
from t21.core.principal_changes import PrincipalChanges, principals_changed
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.identity.models import RefreshToken
from t21.organizations.models import Membership
from t21.organizations.permissions import Role
from t21.organizations.principal_cache import PrincipalCache
from t21.organizations.tenancy import Principal
from t21.worker.queue import JobQueue
from tests.conftest import TEST_SECRET
from tests.support.accounts import Account, add_member, create_api_key, register
from tests.support.processes import clean_env, free_port, kill, start, stop, wait_for
from tests.support.redis_faults import swallow_cancelled_polls
from tests.support.serving import serving

ORGANIZATIONS = "/api/v1/organizations"


def _cache(app: FastAPI) -> PrincipalCache:
    cache = app.state.principal_cache
    assert isinstance(cache, PrincipalCache)
    return cache


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def _members(client: httpx.AsyncClient, organization_id: uuid.UUID, secret: str) -> int:
    response = await client.get(
        f"{ORGANIZATIONS}/{organization_id}/members", headers=_bearer(secret)
    )
    return response.status_code


async def _me(client: httpx.AsyncClient, secret: str) -> int:
    return (await client.get("/api/v1/auth/me", headers=_bearer(secret))).status_code


async def test_a_known_credential_is_served_from_the_cache(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    account = await register(client)
    cache = _cache(started_app)
    assert cache.get(account.access_token) is not None  # cached by register's GET /me
    assert await _me(client, account.access_token) == 200


async def test_a_deleted_api_key_stops_at_once(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    owner = await register(client)
    key = await create_api_key(client, owner, owner.personal_organization_id)
    assert await _members(client, owner.personal_organization_id, key["key"]) == 200
    assert _cache(started_app).get(key["key"]) is not None
    deleted = await client.delete(
        f"{ORGANIZATIONS}/{owner.personal_organization_id}/api-keys/{key['id']}",
        headers=owner.headers,
    )
    assert deleted.status_code == 204
    assert await _members(client, owner.personal_organization_id, key["key"]) == 401


async def test_a_removed_member_loses_the_organization_at_once(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> None:
    owner = await register(client)
    organization_id = owner.personal_organization_id
    member = await add_member(
        client, jobs, settings, inviter=owner, organization_id=organization_id, role="member"
    )
    assert await _members(client, organization_id, member.access_token) == 200
    removed = await client.delete(
        f"{ORGANIZATIONS}/{organization_id}/members/{member.user_id}", headers=owner.headers
    )
    assert removed.status_code == 204
    assert await _members(client, organization_id, member.access_token) == 404


async def test_a_logged_out_session_stops_at_once(client: httpx.AsyncClient) -> None:
    account = await register(client)
    assert await _me(client, account.access_token) == 200
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": account.refresh_token})
    assert out.status_code == 204
    assert await _me(client, account.access_token) == 401


async def test_a_reused_refresh_token_ends_its_session_at_once(client: httpx.AsyncClient) -> None:
    account = await register(client)
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert rotated.status_code == 200
    fresh_access = rotated.json()["access_token"]
    assert await _me(client, fresh_access) == 200
    replayed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert replayed.status_code == 401
    assert await _me(client, fresh_access) == 401


async def test_a_change_no_one_announced_is_seen_once_the_bound_has_passed(
    client: httpx.AsyncClient, started_app: FastAPI, runtime: Any
) -> None:
    account = await register(client)
    assert await _me(client, account.access_token) == 200
    cache = _cache(started_app)
    # Revoked behind the cache's back: a Core UPDATE through a connection, which no hook sees
    # (as if the message of another process had been lost).
    async with runtime.engine.begin() as connection:
        await connection.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == account.user_id)
            .values(revoked_at=RefreshToken.created_at)
        )
    assert await _me(client, account.access_token) == 200  # still cached, within the bound
    start = cache.monotonic()
    cache.monotonic = lambda: start + cache.ttl_s
    assert await _me(client, account.access_token) == 401


async def test_a_principal_read_while_a_change_commits_is_not_cached(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    account = await register(client)
    cache = _cache(started_app)
    principal = cache.get(account.access_token)
    assert principal is not None
    generation = cache.generation
    async with session_scope(started_app.state.runtime) as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == account.user_id)
            .values(revoked_at=RefreshToken.created_at)
        )
        principals_changed(session, users=[account.user_id])
    assert cache.get(account.access_token) is None
    cache.put(account.access_token, principal, generation=generation)
    assert cache.get(account.access_token) is None


async def test_a_bulk_update_of_memberships_drops_every_cached_principal_at_its_commit(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    account, other = await register(client), await register(client)
    cache = _cache(started_app)
    assert cache.get(account.access_token) is not None
    assert cache.get(other.access_token) is not None
    async with session_scope(started_app.state.runtime) as session:
        # A statement no flush hook sees: which principals it touches is not known.
        await session.execute(
            update(Membership).where(Membership.user_id == account.user_id).values(role=Role.ADMIN)
        )
        assert cache.get(account.access_token) is not None  # not before the commit
    assert cache.get(account.access_token) is None
    assert cache.get(other.access_token) is None


def _principal(organization_id: uuid.UUID) -> Principal:
    return Principal(user=None, api_key=None, roles={organization_id: Role.MEMBER})


class _Loads:
    """A principal's resolution held until released, counted."""

    def __init__(self) -> None:
        self.count = 0
        self.release = asyncio.Event()

    def of(self, principal: Principal) -> Callable[[], Awaitable[tuple[Principal, None]]]:
        async def load() -> tuple[Principal, None]:
            self.count += 1
            await self.release.wait()
            return principal, None

        return load


async def test_misses_of_one_credential_at_once_share_one_resolution() -> None:
    cache, loads = PrincipalCache(5.0), _Loads()
    principal = _principal(uuid.uuid4())
    waiting = [asyncio.ensure_future(cache.resolve("tok", loads.of(principal))) for _ in range(20)]
    await asyncio.sleep(0)
    loads.release.set()
    assert await asyncio.gather(*waiting) == [principal] * 20
    assert loads.count == 1
    assert cache.get("tok") is principal


async def test_a_miss_after_a_change_does_not_join_a_resolution_begun_before_it() -> None:
    cache, loads = PrincipalCache(5.0), _Loads()
    stale, fresh = _principal(uuid.uuid4()), _principal(uuid.uuid4())
    before = asyncio.ensure_future(cache.resolve("tok", loads.of(stale)))
    await asyncio.sleep(0)
    cache.invalidate(PrincipalChanges(everything=True))  # e.g. the token's session revoked
    after = asyncio.ensure_future(cache.resolve("tok", loads.of(fresh)))
    await asyncio.sleep(0)
    loads.release.set()
    assert (await before, await after) == (stale, fresh)
    assert loads.count == 2
    assert cache.get("tok") is fresh  # the answer read before the change was not kept


async def test_a_failed_resolution_fails_each_caller_and_the_next_miss_tries_again() -> None:
    cache = PrincipalCache(5.0)
    calls = 0
    gate = asyncio.Event()

    async def refused() -> tuple[Principal, None]:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise NotAuthenticated("The access token is invalid.")

    waiting = [asyncio.ensure_future(cache.resolve("tok", refused)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(outcome, NotAuthenticated) for outcome in outcomes)
    assert calls == 1
    with pytest.raises(NotAuthenticated):
        await cache.resolve("tok", refused)
    assert calls == 2


async def test_a_cancelled_caller_leaves_the_resolution_to_the_others() -> None:
    cache, loads = PrincipalCache(5.0), _Loads()
    principal = _principal(uuid.uuid4())
    first = asyncio.ensure_future(cache.resolve("tok", loads.of(principal)))
    second = asyncio.ensure_future(cache.resolve("tok", loads.of(principal)))
    await asyncio.sleep(0)
    first.cancel()
    loads.release.set()
    assert await second is principal
    assert first.cancelled()
    assert loads.count == 1


async def test_an_entry_in_the_last_fifth_of_its_life_is_refreshed_while_it_serves() -> None:
    cache, loads = PrincipalCache(5.0), _Loads()
    now = [100.0]
    cache.monotonic = lambda: now[0]
    old, new = _principal(uuid.uuid4()), _principal(uuid.uuid4())
    cache.put("tok", old, generation=cache.generation)
    now[0] = 103.9
    assert not cache.due("tok")
    now[0] = 104.1
    assert cache.due("tok")
    cache.refresh("tok", loads.of(new))
    assert not cache.due("tok")  # one refresh at a time
    assert cache.get("tok") is old  # still served, within its bound
    joined = asyncio.ensure_future(cache.resolve("tok", loads.of(new)))  # a miss joins it
    await asyncio.sleep(0)
    loads.release.set()
    assert await joined is new
    assert loads.count == 1
    now[0] = 108.0  # past the old entry's end, within the refreshed one's
    assert cache.get("tok") is new


async def test_a_refresh_that_fails_or_meets_a_change_leaves_the_entry_to_expire() -> None:
    cache = PrincipalCache(5.0)
    now = [100.0]
    cache.monotonic = lambda: now[0]
    principal = _principal(uuid.uuid4())
    cache.put("tok", principal, generation=cache.generation)
    now[0] = 104.5

    async def failing() -> tuple[Principal, None]:
        raise RuntimeError("the database is unreachable")

    cache.refresh("tok", failing)
    await _settled(cache)
    assert cache.get("tok") is principal
    now[0] = 105.0
    assert cache.get("tok") is None  # expired when it would have
    # A change applied while a refresh reads: what it read is not kept.
    cache.put("tok", principal, generation=cache.generation)
    now[0] = 109.5
    loads = _Loads()
    cache.refresh("tok", loads.of(_principal(uuid.uuid4())))
    await asyncio.sleep(0)
    cache.invalidate(PrincipalChanges(everything=True))
    loads.release.set()
    await _settled(cache)
    assert loads.count == 1
    assert cache.get("tok") is None


async def _settled(cache: PrincipalCache) -> None:
    """Wait until no resolution of `cache` is under way."""
    async with asyncio.timeout(5):
        while cache._flights:
            await asyncio.sleep(0)


async def test_a_token_in_steady_use_is_refreshed_before_its_entry_expires(
    client: httpx.AsyncClient, started_app: FastAPI
) -> None:
    """Its requests are never left to wait together on its expiry (see `PrincipalCache.refresh`)."""
    account = await register(client)
    cache = _cache(started_app)
    start = cache.monotonic()
    cache.monotonic = lambda: start + cache.ttl_s * 0.9
    assert await _me(client, account.access_token) == 200  # served, and its refresh begun
    later = start + cache.ttl_s * 1.5
    cache.monotonic = lambda: later  # the first entry is over; the refreshed one is not
    async with asyncio.timeout(10):
        while cache.get(account.access_token) is None:
            await asyncio.sleep(0.01)


# --- across processes ----------------------------------------------------------------------------


async def _told(cache: PrincipalCache, generation: int) -> None:
    """Wait until `cache` applied a change published after `generation` was read."""
    async with asyncio.timeout(30):
        while cache.generation == generation:
            await asyncio.sleep(0.01)


async def _subscribed(cache: PrincipalCache) -> None:
    # The subscription drops everything once it is in place (generation 0 → 1).
    await _told(cache, 0)


@dataclass
class _Credentials:
    """The four credentials the revocations end: an API key, a member's token, a session that
    logs out, and the session of a refresh token that is then reused."""

    owner: Account
    organization_id: uuid.UUID
    key: dict[str, Any]
    member: Account
    session_user: Account
    reused: Account
    reused_access: str


async def _credentials(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings
) -> _Credentials:
    owner = await register(client)
    organization_id = owner.personal_organization_id
    member = await add_member(
        client, jobs, settings, inviter=owner, organization_id=organization_id, role="member"
    )
    key = await create_api_key(client, owner, organization_id)
    session_user = await register(client)
    reused = await register(client)
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": reused.refresh_token}
    )
    return _Credentials(
        owner=owner,
        organization_id=organization_id,
        key=key,
        member=member,
        session_user=session_user,
        reused=reused,
        reused_access=rotated.json()["access_token"],
    )


Probe = Callable[[httpx.AsyncClient], Awaitable[int]]


def _probes(c: _Credentials) -> list[tuple[str, Probe]]:
    """Each credential's request in another process, in the order `_revocations` ends them."""
    return [
        ("a deleted key", lambda b: _members(b, c.organization_id, c.key["key"])),
        ("a removed member", lambda b: _members(b, c.organization_id, c.member.access_token)),
        ("a logged-out session", lambda b: _me(b, c.session_user.access_token)),
        ("a reused refresh token's session", lambda b: _me(b, c.reused_access)),
    ]


async def _served_everywhere(b: httpx.AsyncClient, c: _Credentials) -> None:
    for what, probe in _probes(c):
        assert await probe(b) == 200, what


async def _revocations(
    client: httpx.AsyncClient, c: _Credentials
) -> AsyncIterator[tuple[str, Probe, int]]:
    """Ends each credential through `client` (process A), then yields what it was, its probe and
    the status the other process must answer once it knows."""
    probes = iter(_probes(c))
    deleted = await client.delete(
        f"{ORGANIZATIONS}/{c.organization_id}/api-keys/{c.key['id']}", headers=c.owner.headers
    )
    assert deleted.status_code == 204
    yield (*next(probes), 401)
    removed = await client.delete(
        f"{ORGANIZATIONS}/{c.organization_id}/members/{c.member.user_id}",
        headers=c.owner.headers,
    )
    assert removed.status_code == 204
    yield (*next(probes), 404)
    out = await client.post(
        "/api/v1/auth/logout", json={"refresh_token": c.session_user.refresh_token}
    )
    assert out.status_code == 204
    yield (*next(probes), 401)
    replayed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": c.reused.refresh_token}
    )
    assert replayed.status_code == 401
    yield (*next(probes), 401)


@pytest.mark.redis
async def test_revocations_reach_another_process_through_redis(
    app_factory: Any, jobs: JobQueue, settings: Settings, client: httpx.AsyncClient
) -> None:
    # `client` serves process A; B is a second app on the same database and Redis, whose
    # cache would keep every entry for a minute if no one told it.
    credentials = await _credentials(client, jobs, settings)
    other = app_factory(principal_cache_ttl_s=60)
    async with serving(other) as b:
        cache_b = _cache(other)
        await _subscribed(cache_b)
        await _served_everywhere(b, credentials)
        generation = cache_b.generation
        async for what, probe, expected in _revocations(client, credentials):
            await _told(cache_b, generation)
            assert await probe(b) == expected, what
            generation = cache_b.generation


async def test_the_cache_can_be_turned_off(app_factory: Any) -> None:
    app = app_factory(principal_cache_ttl_s=0)
    async with serving(app) as http:
        account = await register(http)
        assert app.state.principal_cache is None
        assert await _me(http, account.access_token) == 200


async def _within(
    bound_s: float, probe: Probe, b: httpx.AsyncClient, expected: int, what: str
) -> float:
    """Seconds until `probe` of `b` answers `expected`; fails once `bound_s` has passed without
    it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        status = await probe(b)
        elapsed = loop.time() - started
        if status == expected:
            return elapsed
        if elapsed > bound_s:
            pytest.fail(f"{what}: still {status} after {elapsed:.2f} s (bound {bound_s} s)")
        await asyncio.sleep(0.05)


async def test_revocations_reach_a_second_api_process_within_the_bound(
    client: httpx.AsyncClient, jobs: JobQueue, settings: Settings, tmp_path: Path
) -> None:
    # Process A is this test's app; B is `t21 serve`, a process of its own on the same database.
    # With Redis, B keeps entries for a minute and only the message can explain a revocation seen
    # within two seconds; without Redis (SQLite alone) nothing tells B, and its bound is its TTL.
    credentials = await _credentials(client, jobs, settings)
    told = settings.redis_url is not None
    ttl_b = 60.0 if told else 1.0
    bound_s = 2.0 if told else ttl_b + 1.0
    env = clean_env(
        T21_DATABASE_URL=settings.resolved_database_url,
        T21_SECRET_KEY=TEST_SECRET,
        T21_DATA_DIR=str(tmp_path / "var-b"),
        T21_SANDBOX="off",
        T21_PRINCIPAL_CACHE_TTL_S=str(ttl_b),
    )
    port = free_port()
    args = ["serve", "--port", str(port)]
    if told:
        assert settings.redis_url is not None
        env.update(T21_REDIS_URL=settings.redis_url, T21_REDIS_PREFIX=settings.redis_prefix)
        args.append("--no-worker")
    process = start(args, cwd=tmp_path, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        await asyncio.to_thread(wait_for, f"{base}/ready", process)
        async with httpx.AsyncClient(base_url=base, timeout=10) as b:
            await _served_everywhere(b, credentials)
            async for what, probe, expected in _revocations(client, credentials):
                await _within(bound_s, probe, b, expected, f"{what} in the other process")
        output = await asyncio.to_thread(stop, process)
        assert process.returncode == 0, output
        assert "Traceback" not in output
    finally:
        kill([process])


@pytest.mark.redis
async def test_the_subscriber_stops_even_when_its_cancellation_is_swallowed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    swallow_cancelled_polls(monkeypatch)
    assert settings.redis_url is not None
    redis = Redis.from_url(settings.redis_url)
    try:
        cache = PrincipalCache(60, redis=redis, channel=f"{settings.redis_prefix}:principals")
        await cache.start()
        await _subscribed(cache)
        subscriber = cache._subscriber
        assert subscriber is not None
        await cache.stop()
        assert subscriber.done()
    finally:
        await redis.aclose()
