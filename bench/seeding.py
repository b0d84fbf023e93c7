"""Seeding shared by the request-path benchmarks (`list_posts.py`, `request_path.py`).

A throwaway PostgreSQL database on a given server (created, dropped at the end); an owner who
registers through the API and creates four brands (45/30/15/10 % of the posts), one connected
account per network and brand (an encrypted dummy token); then posts seeded with set-based SQL
(`generate_series`, foreign-key triggers off while seeding):

* spread over three years of past posts and one year ahead, 8 % unscheduled drafts (sorted last);
* past posts mostly `published`, some `partially_published`, `failed` and `cancelled`; future
  ones mostly `scheduled`, some `draft` with a date and some `cancelled`;
* one or two targets each on varied networks, with statuses matching the post's;

then `VACUUM (ANALYZE)`. The Free plan's limits are lifted (`PLAN_LIMITS`): four brands and
twenty accounts are over them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from t21.api import create_app
from t21.core import migrations
from t21.core.logging import configure_logging
from t21.core.settings import Settings, load_settings
from t21.core.uow import session_scope
from t21.platforms.base import TokenGrant
from t21.posts.models import UNSCHEDULED
from t21.social.models import SocialAccount
from t21.social.tokens import seal_grant

PLATFORMS = ["instagram", "twitter", "linkedin", "tiktok", "facebook"]
BRANDS = [("Northwind Coffee", 0.45), ("Blue Fern Studio", 0.30), ("Kiln & Co", 0.15)]
BRANDS += [("Harbour Bikes", 0.10)]
BATCH = 100_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the throwaway database ----------------------------------------------------------------------


def dsn(url: str, database: str | None = None) -> str:
    base = make_url(url).set(drivername="postgresql")
    if database is not None:
        base = base.set(database=database)
    return base.render_as_string(hide_password=False)


@asynccontextmanager
async def throwaway_database(server_url: str) -> AsyncIterator[str]:
    """A new database on the server of `server_url` (its URL for T21), dropped afterwards."""
    name = f"t21_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(dsn(server_url), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    log(f"created database {name}")
    try:
        yield (
            make_url(dsn(server_url, name))
            .set(drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False)
        )
    finally:
        admin = await asyncpg.connect(dsn(server_url), timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        log(f"dropped database {name}")


# --- seeding -------------------------------------------------------------------------------------

# One row per post with everything the posts and targets need, drawn once per row.
PLAN_SEED = """
CREATE TEMP TABLE seed AS
WITH drawn AS (
    SELECT i, random() AS r_kind, random() AS r_status, random() AS r_brand,
           random() AS r_targets, random() AS r_created, random() AS r_jitter,
           floor(random() * 5)::int AS k1, floor(random() * 4)::int AS k_step,
           md5(i::text) AS h
    FROM generate_series(1, :size) AS i
), timed AS (
    SELECT *,
        CASE WHEN r_kind < 0.08 THEN NULL
             ELSE CAST(:start AS timestamptz)
                  + (i::float8 / :size) * CAST(:span AS interval)
                  + r_jitter * interval '1 hour'
        END AS scheduled
    FROM drawn
), kinded AS (
    SELECT *,
        CASE
            WHEN scheduled IS NULL THEN 'draft'
            WHEN scheduled < CAST(:now AS timestamptz) THEN
                CASE WHEN r_status < 0.85 THEN 'published'
                     WHEN r_status < 0.90 THEN 'partially_published'
                     WHEN r_status < 0.95 THEN 'failed'
                     ELSE 'cancelled' END
            ELSE
                CASE WHEN r_status < 0.92 THEN 'scheduled'
                     WHEN r_status < 0.97 THEN 'draft'
                     ELSE 'cancelled' END
        END AS status
    FROM timed
)
SELECT i, status, scheduled,
    COALESCE(scheduled, CAST(:unscheduled AS timestamptz)) AS sort_at,
    CASE WHEN scheduled IS NULL
         THEN CAST(:now AS timestamptz) - r_created * interval '1000 days'
         ELSE LEAST(scheduled, CAST(:now AS timestamptz)) - r_created * interval '30 days'
    END AS created_at,
    CASE WHEN r_brand < 0.45 THEN 0 WHEN r_brand < 0.75 THEN 1
         WHEN r_brand < 0.90 THEN 2 ELSE 3 END AS brand,
    k1, (k1 + 1 + k_step) % 5 AS k2,
    status = 'partially_published' OR r_targets < 0.4 AS two_targets,
    h
FROM kinded
"""

INSERT_POSTS = """
INSERT INTO posts (id, organization_id, brand_id, author_id, content, status, scheduled_at,
                   sort_at, published_at, ai, created_at, updated_at)
SELECT
    pg_temp.seed_uuid(s.created_at, s.h),
    CAST(:organization_id AS uuid), b.id, CAST(:author_id AS uuid),
    'Post ' || s.i || ': what we are up to this week, and a link to read more.',
    s.status, s.scheduled, s.sort_at,
    CASE WHEN s.status IN ('published', 'partially_published') THEN s.scheduled END,
    NULL, s.created_at, s.created_at
FROM seed AS s JOIN seed_brands AS b ON b.brand = s.brand
WHERE s.i BETWEEN :low AND :high
"""

INSERT_TARGETS = """
INSERT INTO post_targets (id, organization_id, post_id, social_account_id, platform, content,
                          options, status, due_at, attempts, published_at, external_id,
                          last_error_code, last_error_message, created_at, updated_at)
SELECT
    pg_temp.seed_uuid(s.created_at, md5(s.h || t.n)),
    CAST(:organization_id AS uuid), pg_temp.seed_uuid(s.created_at, s.h), a.id, a.platform, NULL,
    CAST('{}' AS json), t.status,
    CASE WHEN t.status = 'scheduled' THEN s.scheduled END,
    CASE WHEN t.status IN ('published', 'failed') THEN 1 ELSE 0 END,
    CASE WHEN t.status = 'published' THEN s.scheduled END,
    CASE WHEN t.status = 'published' THEN 'ext-' || s.i || '-' || t.n END,
    CASE WHEN t.status = 'failed' THEN 'rejected' END,
    CASE WHEN t.status = 'failed' THEN 'The network refused the post.' END,
    s.created_at, s.created_at
FROM seed AS s
CROSS JOIN LATERAL (
    SELECT 1 AS n, s.k1 AS k,
           CASE WHEN s.status = 'partially_published' THEN 'published' ELSE s.status END
               AS status
    UNION ALL
    SELECT 2, s.k2,
           CASE WHEN s.status = 'partially_published' THEN 'failed' ELSE s.status END
    WHERE s.two_targets
) AS t
JOIN seed_accounts AS a ON a.brand = s.brand AND a.k = t.k
WHERE s.i BETWEEN :low AND :high
"""

# A UUIDv7-shaped id: the creation time in milliseconds, then bits of the row's hash.
SEED_UUID = """
CREATE FUNCTION pg_temp.seed_uuid(at timestamptz, h text) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$
    SELECT CAST(lpad(to_hex(CAST(extract(epoch FROM at) * 1000 AS bigint)), 12, '0')
                || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15) AS uuid)
$$
"""


@dataclass
class Tenant:
    organization_id: uuid.UUID
    author_id: uuid.UUID
    brand_ids: list[uuid.UUID]
    accounts: dict[tuple[int, int], uuid.UUID]  # (brand index, platform index) → account id


async def connect_accounts(app_state: Any, settings: Settings, tenant: Tenant) -> None:
    """One active account per network for each brand, as a completed connection leaves it."""
    async with session_scope(app_state.runtime) as session:
        for b, brand_id in enumerate(tenant.brand_ids):
            for k, platform in enumerate(PLATFORMS):
                account = SocialAccount(
                    id=uuid.uuid4(),
                    organization_id=tenant.organization_id,
                    brand_id=brand_id,
                    platform=platform,
                    external_id=f"{platform}-{b}",
                    username=f"brand{b}_{platform}",
                    display_name=f"Brand {b} on {platform}",
                    scopes=[],
                    connected_at=datetime.now(UTC),
                )
                grant = TokenGrant(access_token="never-sent")  # noqa: S106 (a placeholder)
                seal_grant(settings, account, grant)
                session.add(account)
                tenant.accounts[(b, k)] = account.id


async def seed_posts(engine: AsyncEngine, tenant: Tenant, size: int, now: datetime) -> None:
    start = now - timedelta(days=3 * 365)
    span = timedelta(days=4 * 365)
    began = time.perf_counter()
    async with engine.connect() as conn:
        # Every row is valid by construction: skip the per-row foreign-key triggers.
        await conn.execute(text("SET session_replication_role = replica"))
        await conn.execute(text("SET synchronous_commit = off"))
        await conn.execute(text(SEED_UUID))
        await conn.execute(text("CREATE TEMP TABLE seed_brands (brand int, id uuid)"))
        await conn.execute(
            text("INSERT INTO seed_brands VALUES (:brand, :id)"),
            [{"brand": b, "id": brand_id} for b, brand_id in enumerate(tenant.brand_ids)],
        )
        await conn.execute(
            text("CREATE TEMP TABLE seed_accounts (brand int, k int, id uuid, platform text)")
        )
        await conn.execute(
            text("INSERT INTO seed_accounts VALUES (:brand, :k, :id, :platform)"),
            [
                {"brand": b, "k": k, "id": account_id, "platform": PLATFORMS[k]}
                for (b, k), account_id in tenant.accounts.items()
            ],
        )
        await conn.execute(
            text(PLAN_SEED),
            {
                "size": size,
                "start": start,
                "span": span,
                "now": now,
                "unscheduled": UNSCHEDULED,
            },
        )
        await conn.commit()
        log(f"  drew {size:,} posts in {time.perf_counter() - began:.1f} s")
        ids = {"organization_id": tenant.organization_id, "author_id": tenant.author_id}
        posts = targets = 0
        for low in range(1, size + 1, BATCH):
            bounds = {"low": low, "high": min(low + BATCH - 1, size)}
            posts += (await conn.execute(text(INSERT_POSTS), ids | bounds)).rowcount
            targets += (await conn.execute(text(INSERT_TARGETS), ids | bounds)).rowcount
            await conn.commit()
            elapsed = time.perf_counter() - began
            log(
                f"  {posts:>9,} posts, {targets:>9,} targets "
                f"({posts / size:4.0%}, {elapsed:5.1f} s, {posts / elapsed:,.0f} posts/s)"
            )
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        began = time.perf_counter()
        await autocommit.execute(text("VACUUM (ANALYZE) posts, post_targets"))
        log(f"  VACUUM (ANALYZE) in {time.perf_counter() - began:.1f} s")


# Four brands and twenty accounts are over the Free plan's limits; drafts count against no quota.
PLAN_LIMITS = {"free": {"brands": 100, "social_accounts": 100, "seats": 100}}


def bench_settings(database_url: str, workdir: Path, secret: str, **overrides: Any) -> Settings:
    """Settings for seeding (and measuring in-process): PostgreSQL, no sandbox, no rate limits,
    the plan's limits lifted, logs at WARNING."""
    values: dict[str, Any] = {
        "data_dir": workdir,
        "secret_key": secret,
        "database_url": database_url,
        "log_level": "WARNING",
        "rate_limit_enabled": False,
        "access_token_ttl_s": 86_400,
        "sandbox": "off",
        "plan_limits": PLAN_LIMITS,
    }
    return load_settings(_env_file=None, **(values | overrides))


@dataclass
class Owner:
    access_token: str
    tenant: Tenant


async def seed_owner(app: Any, settings: Settings, http: httpx.AsyncClient) -> Owner:
    """The owner (registered through the API), its four brands and their accounts."""
    registered = await http.post(
        "/api/v1/auth/register",
        json={"email": "owner@example.com", "password": "a fine passphrase", "name": "O"},
    )
    assert registered.status_code == 201, registered.text
    body = registered.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = (await http.get("/api/v1/auth/me", headers=headers)).json()
    [organization] = [m["organization"] for m in me["memberships"]]
    brand_ids = []
    for name, _share in BRANDS:
        brand = await http.post("/api/v1/brands", json={"name": name}, headers=headers)
        assert brand.status_code == 201, brand.text
        brand_ids.append(uuid.UUID(brand.json()["id"]))
    tenant = Tenant(
        organization_id=uuid.UUID(organization["id"]),
        author_id=uuid.UUID(body["user"]["id"]),
        brand_ids=brand_ids,
        accounts={},
    )
    await connect_accounts(app.state, settings, tenant)
    return Owner(access_token=body["access_token"], tenant=tenant)


@asynccontextmanager
async def seeded_app(
    settings: Settings, size: int, now: datetime
) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Owner]]:
    """The migrated database seeded with `size` posts of one owner, and the app in-process
    (started, with an httpx client over ASGI) while the block runs."""
    configure_logging(settings)
    await migrations.upgrade(settings)
    app = create_app(settings, worker=False, loops=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            owner = await seed_owner(app, settings, http)
            log(f"seeding {size:,} posts")
            await seed_posts(app.state.runtime.engine, owner.tenant, size, now)
            yield app, http, owner
