"""How fast does T21 drain a minute's worth of due posts, and how late does each go out?

`--targets` targets (10,000 by default) fall due within `--spread-s` seconds (60: the issue's
minute), spread evenly over them, and are published against the sandbox with `--latency-ms` (50)
added to every network request. A shorter spread makes the arrivals denser than one process can
publish (10,000 over 30 s is 333 a second), so publishes/s measures the engine's capacity rather
than the arrival rate. Each
run measures the time from the first due time to the last post published, the publishes per
second over that span, and the due→published latency of every target (its `published_at` minus
its `due_at`) at p50/p95/p99. Modes:

* `sqlite1`, `sqlite2`, `sqlite4` (`sqlite` is `sqlite1`): 1, 2 or 4 `t21 serve` processes in
  the embedded mode (SQLite, in-process jobs and loops) sharing one database file;
* `pg1`, `pg2`, `pg4`: PostgreSQL + Redis with 1, 2 or 4 `t21 worker` processes.

CPU per publish is the CPU time (user + system, from `/proc`) the T21 processes spent from the
moment the targets were made due until the last settled, divided by the targets published; the
sandbox's CPU is reported apart. `--profile` runs each T21 process under cProfile and prints its
top costs (cumulative and own time) when it stops.

The sandbox runs in its own process (this script with `--serve-sandbox`), with a wrapper that
sleeps before answering each request to a fake; the fakes themselves are unchanged. Posts go to
the networks named by `--networks` (default `facebook`), connected as the chaos test's recipes
say (`tests.support.networks`): networks of one account take their recipe's share, the rest is
spread over those that connect many accounts (Facebook Pages, LinkedIn Pages, Bluesky handles,
Mastodon instances, Telegram channels), each account getting fewer posts than its recipe's count
(under its publishing budget), so no post waits for a budget. The owner, brand and accounts are
made through the API in-process; the posts (one target each, distinct text) are inserted with
SQL, then made due once the publishing processes are ready. The plan's limits are lifted.

Run: `.venv/bin/python bench/publish_throughput.py --targets 10000`
(`--modes sqlite1,sqlite2,sqlite4,pg1,pg2,pg4`, `--database-url
postgresql://postgres@127.0.0.1:5432/postgres`, `--redis-url redis://127.0.0.1:6379/0`
by default; each PostgreSQL run gets its own `t21_bench_<random>` database and Redis prefix,
dropped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import make_url
from starlette.types import ASGIApp, Receive, Scope, Send

from t21.api import create_app
from t21.core import clock, migrations
from t21.core.logging import configure_logging
from t21.core.settings import Settings, load_settings
from t21.core.uow import session_scope
from t21.posts.models import Post, PostMedia, PostStatus, PostTarget, TargetStatus

# The networks' recipes are the test suite's (`tests.support.networks`), importable from the
# repository's root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.social.conftest import World
from tests.support.accounts import register
from tests.support.networks import RECIPES, recipes, seeding, spread

BIN = Path(sys.executable).parent
SECRET = "bench-secret-" + "x" * 40
PLAN_LIMITS = {"free": {"published_posts": 10_000_000, "social_accounts": 10_000}}
SETTLED = [TargetStatus.PUBLISHED, TargetStatus.FAILED, TargetStatus.NEEDS_REVIEW]
FRONT_END = "http://app.example.test"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the sandbox with latency ------------------------------------------------------------------


class Latency:
    """Sleeps before every request to a fake (not its `/_control` API)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "/_control" not in scope["path"]:
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


def serve_sandbox(port: int, latency_ms: float) -> None:
    import uvicorn

    from t21.sandbox.app import create_sandbox_app

    app = Latency(create_sandbox_app(), latency_ms / 1000)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Group:
    folder: Path
    processes: list[subprocess.Popen[bytes]]

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with open(self.folder / f"{name}.log", "wb") as out:
            self.processes.append(
                subprocess.Popen(
                    command,
                    cwd=self.folder,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()


@contextmanager
def group(folder: Path) -> Iterator[Group]:
    started = Group(folder, [])
    try:
        yield started
    finally:
        started.stop()


async def wait_ready(url: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {limit} s")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes `pids` and their reaped children, from `/proc`."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of stat(5), counted after the name.
        total += sum(int(value) for value in fields[11:15])
    return total / tick


def process_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("T21_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "t21-bench-pycache")
    env.update(values)
    return env


# --- databases ---------------------------------------------------------------------------------


@asynccontextmanager
async def pg_database(url: str) -> AsyncIterator[str]:
    base = make_url(url)
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"t21_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield base.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


# --- the world ---------------------------------------------------------------------------------


def slots(accounts: dict[str, list[str]], targets: int) -> list[tuple[str, str]]:
    """`targets` (network, account) pairs, round-robin over the accounts so that every network
    and account is due throughout the minute, each account under its recipe's count."""
    order = [
        (network, account, RECIPES[network].per_account)
        for network, ids in accounts.items()
        for account in ids
    ]
    found: list[tuple[str, str]] = []
    for turn in range(max(cap for _network, _account, cap in order)):
        found += [(network, account) for network, account, cap in order if turn < cap]
    assert len(found) >= targets, f"{len(found)} places for {targets} targets"
    return found[:targets]


async def seed(settings: Settings, sandbox: str, targets: int, networks: str) -> None:
    """An owner, a brand, the networks' accounts connected as their recipes say
    (`tests.support.networks`), and `targets` posts due far in the future."""
    chosen = recipes(networks)
    needed = spread(chosen, targets)
    app = create_app(settings, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "Bench"}, headers=owner.headers)
            brand.raise_for_status()
            brand_id = brand.json()["id"]
            world = World(app=app, api=api, sandbox=sandbox, owner=owner, brand_id=brand_id)
            accounts = {}
            seedings = {}
            for recipe in chosen:
                accounts[recipe.name] = await recipe.connect(world, needed[recipe.name])
                # The media and options its posts need (a YouTube video and title, a board).
                seedings[recipe.name] = await seeding(recipe, world, accounts[recipe.name])
                log(f"{recipe.name}: {len(accounts[recipe.name])} accounts")
            places = slots(accounts, targets)
            network, account = places[0]
            first = await api.post(
                "/api/v1/posts",
                json={
                    "brand_id": brand_id,
                    "content": f"Bench post 0 on {network.replace('_', ' ')}",
                    "media_ids": seedings[network].media_ids,
                    "targets": [
                        {
                            "social_account_id": account,
                            "options": seedings[network].options[account],
                        }
                    ],
                    "scheduled_at": (clock.now() + timedelta(days=1)).isoformat(),
                },
                headers=owner.headers,
            )
            first.raise_for_status()
        async with session_scope(app.state.runtime) as session:
            sample = await session.scalar(select(Post).limit(1))
            assert sample is not None
            later = clock.now() + timedelta(days=1)
            posts: list[dict[str, Any]] = []
            rows: list[dict[str, Any]] = []
            media: list[dict[str, Any]] = []
            for number in range(1, targets):
                post_id = uuid.uuid4()
                network, account = places[number]
                posts.append(
                    {
                        "id": post_id,
                        "organization_id": sample.organization_id,
                        "brand_id": sample.brand_id,
                        "author_id": sample.author_id,
                        "content": f"Bench post {number} on {places[number][0].replace('_', ' ')}",
                        "status": PostStatus.SCHEDULED,
                        "scheduled_at": later,
                        "sort_at": later,
                    }
                )
                rows.append(
                    {
                        "organization_id": sample.organization_id,
                        "post_id": post_id,
                        "social_account_id": uuid.UUID(account),
                        "platform": network,
                        "options": seedings[network].options[account],
                        "status": TargetStatus.SCHEDULED,
                        "due_at": later,
                    }
                )
                media += [
                    {"post_id": post_id, "position": position, "media_id": uuid.UUID(media_id)}
                    for position, media_id in enumerate(seedings[network].media_ids)
                ]
            for start in range(0, len(posts), 2000):
                await session.execute(insert(Post), posts[start : start + 2000])
                await session.execute(insert(PostTarget), rows[start : start + 2000])
            for start in range(0, len(media), 2000):
                await session.execute(insert(PostMedia), media[start : start + 2000])


@asynccontextmanager
async def open_session(settings: Settings) -> AsyncIterator[Any]:
    from t21.runtime import open_runtime

    async with open_runtime(settings, consume_jobs=False, run_loops=False) as runtime:
        yield runtime


async def watch(settings: Settings, targets: int, limit_s: float) -> None:
    """Wait until every target has settled (published, failed or left for review)."""
    deadline = time.monotonic() + limit_s
    async with open_session(settings) as runtime:
        while True:
            async with session_scope(runtime) as session:
                settled = await session.scalar(
                    select(func.count()).where(PostTarget.status.in_(SETTLED))
                )
            if settled == targets:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {settled} of {targets} settled in {limit_s} s")
            await asyncio.sleep(0.5)


# --- one run -----------------------------------------------------------------------------------


async def run_mode(
    mode: str, args: argparse.Namespace, sandbox: str, folder: Path
) -> dict[str, Any]:
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    common = {
        "T21_SECRET_KEY": SECRET,
        "T21_SANDBOX_URL": sandbox,
        "T21_PLAN_LIMITS": json.dumps(PLAN_LIMITS),
        "T21_LOG_LEVEL": "WARNING",
        "T21_DATA_DIR": str(folder / "var"),
        "T21_RATE_LIMIT_ENABLED": "false",
    }
    if mode.startswith("sqlite"):
        url = f"sqlite+aiosqlite:///{folder / 't21.db'}"
        return await measure(mode, args, sandbox, folder, url, None, common)
    async with pg_database(args.database_url) as url:
        return await measure(mode, args, sandbox, folder, url, args.redis_url, common)


async def measure(
    mode: str,
    args: argparse.Namespace,
    sandbox: str,
    folder: Path,
    url: str,
    redis_url: str | None,
    common: dict[str, str],
) -> dict[str, Any]:
    prefix = f"t21bench:{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        _env_file=None,
        env="test",
        secret_key=SECRET,
        database_url=url,
        redis_url=redis_url,
        redis_prefix=prefix,
        sandbox_url=sandbox,
        public_url="http://testserver",
        frontend_url=FRONT_END,
        plan_limits=PLAN_LIMITS,
        data_dir=folder / "var",
        log_level="WARNING",
    )
    await migrations.upgrade(settings)
    log(f"{mode}: seeding {args.targets} targets")
    await seed(settings, sandbox, args.targets, args.networks)
    env = process_env(T21_DATABASE_URL=url, **common)
    count = int(mode.removeprefix("sqlite").removeprefix("pg") or "1")
    launcher = [str(BIN / "t21")]
    if args.profile:
        launcher = [sys.executable, "-m", "cProfile", "-o", "{profile}", str(BIN / "t21")]
    with group(folder) as processes:
        if mode.startswith("sqlite"):
            ports = [free_port() for _ in range(count)]
            for number, port in enumerate(ports):
                command = [
                    part.format(profile=folder / f"serve-{number}.prof") for part in launcher
                ]
                processes.start(f"serve-{number}", [*command, "serve", "--port", str(port)], env)
            for port in ports:
                await wait_ready(f"http://127.0.0.1:{port}/ready")
        else:
            assert redis_url is not None
            env |= {
                "T21_REDIS_URL": redis_url,
                "T21_REDIS_PREFIX": prefix,
                "T21_DATABASE_POOL_SIZE": "10",
                "T21_DATABASE_MAX_OVERFLOW": "5",
            }
            ports = [free_port() for _ in range(count)]
            for number, port in enumerate(ports):
                command = [
                    part.format(profile=folder / f"worker-{number}.prof") for part in launcher
                ]
                processes.start(f"worker-{number}", [*command, "worker", "--port", str(port)], env)
            for port in ports:
                await wait_ready(f"http://127.0.0.1:{port}/ready")
        pids = [process.pid for process in processes.processes]
        due = await make_due_recorded(settings, args.targets, args.spread_s)
        cpu_before, sandbox_before = cpu_seconds(pids), cpu_seconds(args.sandbox_pids)
        load_before = os.getloadavg()[0]
        log(f"{mode}: {args.targets} targets due from {due[0]:.0f} over {args.spread_s:.0f} s")
        await watch(settings, args.targets, args.limit_s)
        cpu = cpu_seconds(pids) - cpu_before
        sandbox_cpu = cpu_seconds(args.sandbox_pids) - sandbox_before
        results = await collect(settings, due)
        results["arrivals"] = args.targets / args.spread_s
        # The machine's 1-minute load average when the targets fell due and once they settled.
        results["load"] = f"{load_before:.1f} → {os.getloadavg()[0]:.1f}"
        results["cpu_s"] = cpu
        results["cpu_ms"] = 1000 * cpu / max(1, results["published"])
        results["sandbox_cpu_ms"] = 1000 * sandbox_cpu / max(1, results["published"])
    if args.profile:
        for path in sorted(await asyncio.to_thread(lambda: list(folder.glob("*.prof")))):
            print_profile(path)
    if redis_url is not None:
        from redis import Redis

        client = Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
    results["mode"] = mode
    return results


async def make_due_recorded(
    settings: Settings, targets: int, spread_s: float
) -> tuple[float, dict[uuid.UUID, float]]:
    """Spread the due times evenly over `spread_s` from a moment just ahead; each target's due
    time is kept here, since publishing clears it."""
    start = clock.now() + timedelta(seconds=2)
    step = spread_s / targets
    due: dict[uuid.UUID, float] = {}
    async with open_session(settings) as runtime, session_scope(runtime) as session:
        ids = list(await session.scalars(select(PostTarget.id).order_by(PostTarget.id)))
        values = []
        for index, target_id in enumerate(ids):
            when = start + timedelta(seconds=index * step)
            due[target_id] = when.timestamp()
            values.append({"id": target_id, "due_at": when})
        # An ORM bulk update by primary key: one executemany.
        await session.execute(update(PostTarget), values)
        await session.execute(update(Post).values(scheduled_at=start, sort_at=start))
    return start.timestamp(), due


async def collect(settings: Settings, due: tuple[float, dict[uuid.UUID, float]]) -> dict[str, Any]:
    first_due, due_at = due
    async with open_session(settings) as runtime, session_scope(runtime) as session:
        rows = (
            await session.execute(select(PostTarget.id, PostTarget.status, PostTarget.published_at))
        ).all()
    published = [(row.id, row.published_at.timestamp()) for row in rows if row.published_at]
    latencies = sorted(at - due_at[target_id] for target_id, at in published)
    last = max(at for _, at in published)
    first = min(at for _, at in published)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "targets": len(rows),
        "published": len(published),
        "not_published": len(rows) - len(published),
        "drain_s": last - first_due,
        "rate": len(published) / (last - first) if last > first else float("nan"),
        "p50": quantiles[49],
        "p95": quantiles[94],
        "p99": quantiles[98],
        "max": latencies[-1],
    }


def print_profile(path: Path, lines: int = 30) -> None:
    import pstats

    print(f"\n=== {path.name}")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(lines)
    stats.sort_stats("tottime").print_stats(lines)


async def main_async(args: argparse.Namespace) -> None:
    configure_logging(
        load_settings(_env_file=None, env="test", secret_key=SECRET, log_level="WARNING")
    )
    folder = Path(tempfile.mkdtemp(prefix="t21-bench-publish-"))
    port = free_port()
    sandbox = f"http://127.0.0.1:{port}"
    results = []
    with group(folder) as processes:
        command = [sys.executable, __file__, "--serve-sandbox", str(port)]
        command += ["--latency-ms", str(args.latency_ms)]
        for mode in args.modes.split(","):
            processes.start(f"sandbox-{mode}", command, process_env())
            args.sandbox_pids = [processes.processes[-1].pid]
            await wait_ready(f"{sandbox}/")
            results.append(await run_mode(mode, args, sandbox, folder / mode))
            log(json.dumps(results[-1]))
            processes.stop()  # a fresh sandbox for the next mode
    print()
    print(
        "| mode | load average | targets | arrivals/s | published | drain | publishes/s "
        "| CPU per publish | p50 | p95 | p99 | max | sandbox CPU per publish |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['mode']} | {r['load']} | {r['targets']:,} | {r['arrivals']:.0f} "
            f"| {r['published']:,} "
            f"| {r['drain_s']:.1f} s "
            f"| {r['rate']:.1f} | {r['cpu_ms']:.2f} ms | {r['p50']:.2f} s | {r['p95']:.2f} s "
            f"| {r['p99']:.2f} s | {r['max']:.2f} s | {r['sandbox_cpu_ms']:.1f} ms |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument(
        "--networks",
        default="facebook",
        help="networks of tests/support/networks.py to publish to, comma-separated",
    )
    parser.add_argument("--modes", default="sqlite1,sqlite2,sqlite4,pg1,pg2,pg4")
    parser.add_argument("--profile", action="store_true", help="run T21 under cProfile")
    parser.add_argument(
        "--spread-s",
        type=float,
        default=60.0,
        help="the targets fall due evenly over this many seconds (60: the issue's minute)",
    )
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--limit-s", type=float, default=1800.0, help="give up after this long")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--serve-sandbox", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox(args.serve_sandbox, args.latency_ms)
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
