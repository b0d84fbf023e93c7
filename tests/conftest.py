"""Test fixtures: an isolated database per test on SQLite or PostgreSQL, the app and its client,
the job queue (drained on demand) and the loops (run on demand).

The suite runs on SQLite by default. `T21_TEST_DATABASE_URL` (PostgreSQL) and
`T21_TEST_REDIS_URL` switch every test onto those servers; tests marked `postgres` or `redis`
run only then. With `T21_TEST_REQUIRE_SERVICES=1` (CI), an unreachable service, a skipped test,
or a test marked `postgres`/`redis` left out of the run (a URL unset or misspelled, `-m`, `-k`)
fails the run instead of passing quietly.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from t21.api import create_app
from t21.core import security
from t21.core.logging import configure_logging
from t21.core.runtime import Runtime
from t21.core.settings import Settings, load_settings
from t21.worker.loops import LoopRunner
from t21.worker.queue import JobQueue
from tests.support import jobs as _test_jobs  # noqa: F401  (registers the test jobs)
from tests.support.routes import router as routes_for_tests

# Property tests check behaviour, not speed: no per-example deadline and no "too slow" health
# check, which a machine busy with the rest of the suite trips at random.
hypothesis_settings.register_profile(
    "t21", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("t21")

TEST_DATABASE_URL = os.environ.get("T21_TEST_DATABASE_URL") or None
TEST_REDIS_URL = os.environ.get("T21_TEST_REDIS_URL") or None
REQUIRE_SERVICES = os.environ.get("T21_TEST_REQUIRE_SERVICES", "") not in ("", "0", "false")
# Run only the tests that reach a database or Redis (CI's PostgreSQL + Redis pass: the others
# already ran in its SQLite pass, and nothing in them depends on which server is configured).
SERVICES_ONLY = os.environ.get("T21_TEST_SERVICES_ONLY", "") not in ("", "0", "false")
# A test whose fixtures include one of these reaches the configured database or Redis.
SERVICE_FIXTURES = frozenset(
    {"test_database", "settings_factory", "empty_pg_database", "_redis_reachable"}
)
TEST_SECRET = "test-secret-" + "x" * 40
# Tests of other domains build teams, brands and accounts past the Free plan's few; the limits
# are billing's to test (tests/billing/conftest.py uses the real ones), so elsewhere they are
# roomy unless a test sets `plan_limits` itself. Monthly quotas keep their defaults.
ROOMY_PLAN_LIMITS = {"free": {"brands": 1000, "social_accounts": 1000, "seats": 1000}}

# Settings the suite must not inherit from a developer's shell or .env.
for _name in list(os.environ):
    if _name.startswith("T21_") and not _name.startswith("T21_TEST_"):
        del os.environ[_name]


def _is_postgres(url: str | None) -> bool:
    if not url:
        return False
    try:
        return make_url(url).get_backend_name() == "postgresql"
    except ArgumentError:  # not a URL at all: certainly not PostgreSQL
        return False


SERVICE_MARKERS = ("postgres", "redis")


def pytest_configure(config: pytest.Config) -> None:
    """With services required, both URLs must name them before anything is collected (under
    xdist too, where a worker's collection error reads as a crash)."""
    if REQUIRE_SERVICES and not (_is_postgres(TEST_DATABASE_URL) and TEST_REDIS_URL):
        raise pytest.UsageError(
            "T21_TEST_REQUIRE_SERVICES is set but T21_TEST_DATABASE_URL is not a postgresql:// "
            "URL or T21_TEST_REDIS_URL is unset: the PostgreSQL and Redis tests would not run"
        )


def pytest_deselected(items: list[pytest.Item]) -> None:
    """With services required, a test of PostgreSQL or Redis left out fails the run."""
    left_out = [item for item in items if _needs_services(item)]
    if REQUIRE_SERVICES and left_out:
        raise pytest.UsageError(
            f"T21_TEST_REQUIRE_SERVICES is set and {len(left_out)} tests of PostgreSQL or Redis "
            f"were deselected (first: {left_out[0].nodeid}): by -k, -m or --deselect, or by "
            "T21_TEST_DATABASE_URL (postgresql://...) or T21_TEST_REDIS_URL unset"
        )


def _needs_services(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(marker) for marker in SERVICE_MARKERS)


def _reaches_services(item: pytest.Item) -> bool:
    return _needs_services(item) or bool(SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())))


def _services_only(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With `T21_TEST_SERVICES_ONLY`, leave out the tests that reach no database or Redis."""
    engine_free = [item for item in items if not _reaches_services(item)]
    if not engine_free:
        return
    items[:] = [item for item in items if _reaches_services(item)]
    config.hook.pytest_deselected(items=engine_free)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"T21_TEST_SERVICES_ONLY: {len(engine_free)} tests that reach no database or Redis "
            "left out (they run in the SQLite pass)"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) tests whose server isn't configured, and say so."""
    if SERVICES_ONLY:
        _services_only(config, items)
    missing: list[str] = []
    if not _is_postgres(TEST_DATABASE_URL):
        missing.append("postgres")
    if not TEST_REDIS_URL:
        missing.append("redis")
    if not missing:
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if any(item.get_closest_marker(marker) for marker in missing):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"{len(dropped)} tests need {' and '.join(missing)} "
                "(set T21_TEST_DATABASE_URL / T21_TEST_REDIS_URL to run them)"
            )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Figures a test recorded for the run's log (`record_property("chaos figures", ...)`),
    shown whether it passed or failed, and under xdist too."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for name, value in getattr(report, "user_properties", []):
                if name == "chaos figures":
                    terminalreporter.write_line(f"chaos figures ({outcome}): {value}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not REQUIRE_SERVICES:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if skipped:
        if reporter is not None:
            reporter.write_line(
                f"T21_TEST_REQUIRE_SERVICES is set and {skipped} tests were skipped: "
                "failing the run"
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging(load_settings(_env_file=None, env="test", secret_key=TEST_SECRET))


# Argon2id at its lowest cost (the minimums of RFC 9106 §3.1: t=1, m=8 KiB with p=1) instead of
# the production parameters (argon2-cffi's defaults through pwdlib, RFC 9106's second recommended
# option: t=3, m=64 MiB, p=4; about 0.1 s of CPU per hash, and most tests register an account).
# Tests check which hash is stored and what verifies, never its cost; hashing and verifying still
# go through `t21.core.security`. bcrypt (imports only) keeps its hasher: its test makes the
# legacy hash at cost 4 itself.
TEST_PASSWORD_HASH = PasswordHash(
    (Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1), BcryptHasher())
)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_password_hash", TEST_PASSWORD_HASH)
        patch.setattr(security, "_DUMMY_HASH", TEST_PASSWORD_HASH.hash("t21-dummy-password"))
        yield


# --- databases ---------------------------------------------------------------------------------


@dataclass
class TestDatabase:
    """Where each test's database comes from: a migrated SQLite file copied per test, or one
    migrated PostgreSQL database emptied after each test."""

    kind: str
    template: Path | None = None
    url: str | None = None

    def url_for(self, tmp_path: Path) -> str:
        if self.kind == "sqlite":
            assert self.template is not None
            target = tmp_path / "t21.db"
            shutil.copyfile(self.template, target)
            return f"sqlite+aiosqlite:///{target}"
        assert self.url is not None
        return self.url


def _admin_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def _create_pg_database(base_url: str, name: str) -> str:
    import asyncpg

    base = make_url(base_url)
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        # A test's database is thrown away after the run: its commits needn't wait for the WAL
        # to reach the disk. "Setting this parameter to off does not create any risk of database
        # inconsistency" (PostgreSQL 15 docs, runtime-config-wal, synchronous_commit); the suite
        # commits thousands of times per process, each an fsync on a busy machine otherwise.
        await conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await conn.close()
    return _admin_url(base.set(database=name).render_as_string(hide_password=False))


async def _drop_pg_database(base_url: str, name: str) -> None:
    import asyncpg

    dsn = make_url(base_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    from t21.core import migrations

    if _is_postgres(TEST_DATABASE_URL):
        assert TEST_DATABASE_URL is not None
        name = f"t21_test_{uuid.uuid4().hex[:12]}"
        try:
            url = asyncio.run(_create_pg_database(TEST_DATABASE_URL, name))
        except Exception as exc:
            pytest.exit(f"PostgreSQL at T21_TEST_DATABASE_URL is unusable: {exc!r}", returncode=3)
        settings = load_settings(
            _env_file=None, env="test", secret_key=TEST_SECRET, database_url=url
        )
        asyncio.run(migrations.upgrade(settings))
        try:
            yield TestDatabase(kind="postgres", url=url)
        finally:
            asyncio.run(_drop_pg_database(TEST_DATABASE_URL, name))
        return
    folder = tmp_path_factory.mktemp("template-db")
    template = folder / "template.db"
    settings = load_settings(
        _env_file=None, env="test", secret_key=TEST_SECRET, database_url=f"sqlite:///{template}"
    )
    asyncio.run(migrations.upgrade(settings))
    yield TestDatabase(kind="sqlite", template=template)


@pytest.fixture
def empty_pg_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    assert TEST_DATABASE_URL is not None
    name = f"t21_empty_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(_create_pg_database(TEST_DATABASE_URL, name))
    try:
        yield url
    finally:
        asyncio.run(_drop_pg_database(TEST_DATABASE_URL, name))


@pytest.fixture(scope="session")
def _redis_reachable() -> None:
    if not TEST_REDIS_URL:
        return
    from redis import Redis

    try:
        Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=5).ping()
    except Exception as exc:
        pytest.exit(f"Redis at T21_TEST_REDIS_URL is unreachable: {exc!r}", returncode=3)


@pytest.fixture
def settings_factory(
    test_database: TestDatabase, tmp_path: Path, _redis_reachable: None
) -> Iterator[Any]:
    """Builds test settings; keyword arguments override any field."""
    database_url = test_database.url_for(tmp_path)
    prefix = f"t21test:{uuid.uuid4().hex[:10]}"

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "_env_file": None,
            "env": "test",
            "secret_key": TEST_SECRET,
            "data_dir": tmp_path / "var",
            "database_url": database_url,
            "redis_url": TEST_REDIS_URL,
            "redis_prefix": prefix,
            "log_level": "INFO",
            "shutdown_grace_s": 5,
            "plan_limits": ROOMY_PLAN_LIMITS,
            # Tests register many accounts from one address; the limit has its own test.
            "registrations_per_ip": "10000/hour",
        }
        values.update(overrides)
        return load_settings(**values)

    yield build
    if test_database.kind == "postgres":
        asyncio.run(_truncate_all(database_url))
    if TEST_REDIS_URL:
        _delete_redis_keys(TEST_REDIS_URL, prefix)


async def _truncate_all(url: str) -> None:
    """Empty every table a test wrote rows to: one query finds the tables with rows, then one
    round trip deletes theirs, referencing tables first. DELETE, not TRUNCATE: a TRUNCATE gives
    each table new files, ~0.3 s for a short test's tables on a 2-core machine, a third of the
    PostgreSQL run; a few rows' DELETE costs milliseconds. No table has a sequence to restart
    (ids are UUIDv7), and every foreign key cascades or sets null on delete."""
    import asyncpg

    from t21.models import Base

    names = [table.name for table in Base.metadata.sorted_tables]
    if not names:
        return
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        # The names are the models' own tables, not input.
        probe = " UNION ALL ".join(
            f"SELECT '{name}' WHERE EXISTS (SELECT FROM \"{name}\")"  # noqa: S608
            for name in names
        )
        written = {row[0] for row in await conn.fetch(probe)}
        if written:
            # In one implicit transaction (several statements in one simple query).
            await conn.execute(
                "; ".join(
                    f'DELETE FROM "{name}"'  # noqa: S608
                    for name in reversed(names)
                    if name in written
                )
            )
    finally:
        await conn.close()


def _delete_redis_keys(url: str, prefix: str) -> None:
    from redis import Redis

    client = Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def settings(settings_factory: Any) -> Settings:
    result: Settings = settings_factory()
    return result


# --- the application ---------------------------------------------------------------------------


@pytest.fixture
def app_factory(settings: Settings, settings_factory: Any) -> Any:
    """Builds an app (not started) with the test settings, overridden by keyword arguments."""

    def build(**settings_overrides: Any) -> FastAPI:
        effective = settings_factory(**settings_overrides) if settings_overrides else settings
        application = create_app(effective, worker=True, loops=False, track_jobs=True)
        application.include_router(routes_for_tests)
        return application

    return build


@pytest.fixture
def app(app_factory: Any) -> FastAPI:
    result: FastAPI = app_factory()
    return result


@pytest.fixture
async def started_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(started_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=started_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def runtime(started_app: FastAPI) -> Runtime:
    result: Runtime = started_app.state.runtime
    return result


@pytest.fixture
def jobs(runtime: Runtime) -> JobQueue:
    """The app's job queue; `await jobs.drain()` waits for every job the test caused."""
    assert isinstance(runtime.jobs, JobQueue)
    return runtime.jobs


@pytest.fixture
def loops(runtime: Runtime) -> LoopRunner:
    """The app's loops, not running; `await loops.run_once(name)` runs one iteration."""
    runner = runtime.state["loops"]
    assert isinstance(runner, LoopRunner)
    return runner
