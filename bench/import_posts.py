"""How long does `POST /api/v1/posts/import` take for 10,000 rows, dry run and real?

A throwaway PostgreSQL database is created on the server of `--database-url` (as the test suite
does), migrated, and the API runs in-process (httpx over ASGI, rate limits off). An owner
registers through the API and creates a brand with one active account on X and one on LinkedIn
(inserted with an encrypted dummy token, as a completed connection leaves them). The CSV file has
`--rows` rows, each scheduled within the next 90 days on both accounts, half naming the X account
as `twitter:username` and half by id, with texts of varied length. Then, in order:

* `--repeat` dry runs of the file (nothing stored);
* one real import (all-or-nothing), whose posts, targets and events are counted afterwards;
* one more dry run, now with the brand holding those posts.

Each request's wall time and the process's CPU time over it (client and server share the
process: the CPU includes building the request and reading the answer) are printed.

Run: `.venv/bin/python bench/import_posts.py --rows 10000`
(`--database-url postgresql://postgres@127.0.0.1:5432/postgres` by default; its own database is
never touched: the run gets `t21_bench_<random>`, dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from t21.api import create_app
from t21.core import migrations
from t21.core.logging import configure_logging
from t21.core.settings import Settings, load_settings
from t21.core.uow import session_scope
from t21.events.models import Event
from t21.platforms.base import TokenGrant
from t21.posts.importing import COLUMNS
from t21.posts.models import Post, PostTarget
from t21.social.models import SocialAccount
from t21.social.tokens import seal_grant

IMPORT = "/api/v1/posts/import"
HEADER = list(COLUMNS)
WORDS = [
    "what",
    "we",
    "are",
    "up",
    "to",
    "this",
    "week,",
    "and",
    "a",
    "link",
    "to",
    "read",
    "more",
    "about",
    "the",
    "launch",
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _dsn(url: str, database: str | None = None) -> str:
    base = make_url(url).set(drivername="postgresql")
    if database is not None:
        base = base.set(database=database)
    return base.render_as_string(hide_password=False)


@asynccontextmanager
async def throwaway_database(server_url: str) -> AsyncIterator[str]:
    """A new database on the server of `server_url` (its URL for T21), dropped afterwards."""
    name = f"t21_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_dsn(server_url), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield (
            make_url(_dsn(server_url, name))
            .set(drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False)
        )
    finally:
        admin = await asyncpg.connect(_dsn(server_url), timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def connect_accounts(
    app_state: Any, settings: Settings, organization_id: uuid.UUID, brand_id: uuid.UUID
) -> dict[str, SocialAccount]:
    """One active account on X and one on LinkedIn, as a completed connection leaves them."""
    accounts: dict[str, SocialAccount] = {}
    async with session_scope(app_state.runtime) as session:
        for platform in ("twitter", "linkedin"):
            account = SocialAccount(
                id=uuid.uuid4(),
                organization_id=organization_id,
                brand_id=brand_id,
                platform=platform,
                external_id=f"{platform}-bench",
                username=f"acme_{platform}",
                display_name=f"Acme on {platform}",
                scopes=[],
                connected_at=datetime.now(UTC),
            )
            grant = TokenGrant(access_token="never-sent")  # noqa: S106 (a placeholder)
            seal_grant(settings, account, grant)
            session.add(account)
            accounts[platform] = account
    return accounts


def csv_file(rows: int, accounts: dict[str, SocialAccount]) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    x, linkedin = accounts["twitter"], accounts["linkedin"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for n in range(rows):
        when = now + timedelta(hours=1, minutes=(n * 90 * 24 * 60) // rows)
        x_name = f"twitter:{x.username}" if n % 2 else str(x.id)
        text = f"Post {n}: " + " ".join(WORDS[: 3 + n % len(WORDS)])
        stamp = when.isoformat().replace("+00:00", "Z")
        writer.writerow([text, stamp, "", f"{x_name};{linkedin.id}", "", "", ""])
    return buffer.getvalue().encode()


async def timed(
    http: httpx.AsyncClient, headers: dict[str, str], brand_id: str, data: bytes, **form: str
) -> tuple[float, float, dict[str, Any]]:
    wall, cpu = time.perf_counter(), time.process_time()
    answer = await http.post(
        IMPORT,
        data={"brand_id": brand_id, **form},
        files={"file": ("posts.csv", data, "text/csv")},
        headers=headers,
        timeout=600,
    )
    elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
    assert answer.status_code == 200, answer.text[:2000]
    body: dict[str, Any] = answer.json()
    assert not body["errors"], body["errors"][:3]
    return elapsed, used, body


async def main(args: argparse.Namespace) -> None:
    async with throwaway_database(args.database_url) as database_url:
        workdir = Path(tempfile.mkdtemp(prefix="t21-bench-"))
        settings = load_settings(
            _env_file=None,
            data_dir=workdir,
            secret_key="b" * 48,
            database_url=database_url,
            log_level="WARNING",
            rate_limit_enabled=False,
            access_token_ttl_s=3600,
            sandbox="off",
            import_max_rows=max(args.rows, 1),
        )
        configure_logging(settings)
        await migrations.upgrade(settings)
        app = create_app(settings, worker=False, loops=False)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                registered = await http.post(
                    "/api/v1/auth/register",
                    json={
                        "email": "owner@example.com",
                        "password": "a fine passphrase",
                        "name": "O",
                    },
                )
                assert registered.status_code == 201, registered.text
                headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
                me = (await http.get("/api/v1/auth/me", headers=headers)).json()
                [organization] = [m["organization"] for m in me["memberships"]]
                brand = await http.post(
                    "/api/v1/brands",
                    json={"name": "Acme", "organization_id": organization["id"]},
                    headers=headers,
                )
                assert brand.status_code == 201, brand.text
                brand_id = brand.json()["id"]
                accounts = await connect_accounts(
                    app.state, settings, uuid.UUID(organization["id"]), uuid.UUID(brand_id)
                )
                data = csv_file(args.rows, accounts)
                log(f"{args.rows:,} rows, {len(data):,} bytes")
                for run in range(args.repeat):
                    wall, cpu, body = await timed(http, headers, brand_id, data, dry_run="true")
                    assert body["valid"] == args.rows
                    log(f"dry run {run + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU")
                wall, cpu, body = await timed(http, headers, brand_id, data)
                assert body["created"] == args.rows
                log(f"real import: {wall:.2f} s wall, {cpu:.2f} s CPU")
                async with session_scope(app.state.runtime) as session:
                    counts = {
                        model.__tablename__: await session.scalar(
                            select(func.count()).select_from(model)
                        )
                        for model in (Post, PostTarget, Event)
                    }
                log(f"stored: {counts}")
                wall, cpu, body = await timed(http, headers, brand_id, data, dry_run="true")
                log(f"dry run with the posts stored: {wall:.2f} s wall, {cpu:.2f} s CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    asyncio.run(main(parser.parse_args()))
