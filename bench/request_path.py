"""The request path: T21 side by side with the FastAPI full-stack template's pattern.

Creates a throwaway PostgreSQL database; seeds T21 as `list_posts.py` does (one owner, four
brands, `--size` posts with their targets) and the template's tables (`template_app.py`) with
`--size` items of one user. Starts `t21 serve --no-worker` (PostgreSQL + Redis, uvloop and
httptools, one process, rate limits on with limits the load stays under) and
`uvicorn template_app:app` (uvloop, httptools, one process) on loopback, then, for each number of
`--connections` and each endpoint pair, runs a closed-loop load (asyncio + httpx, one keep-alive
connection per client, in this process) against one server after the other:

| T21 | template |
|---|---|
| `GET /api/v1/posts?limit=20` | `GET /api/v1/items/?limit=20` |
| `POST /api/v1/posts` (a draft, one target) | `POST /api/v1/items/` |
| `GET /api/v1/auth/me` | `GET /api/v1/users/me` |

Reported per run: requests a second, p50/p95/p99, the server's CPU per request (user + system
time of its process from /proc, over the requests answered) and PostgreSQL transactions per
request (`pg_stat_database`, the servers being loaded one at a time). CPU per request is the
figure to compare on a busy machine; requests a second depend on what else runs.

Run: `.venv/bin/python bench/request_path.py --connections 10,50 --seconds 10`
(`--t21 /path/to/other/.venv/bin/t21` measures another checkout against the same template).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from http_overhead import free_port
from seeding import PLAN_LIMITS, bench_settings, dsn, log, seeded_app, throwaway_database
from template_app import token_for

BENCH = Path(__file__).resolve().parent
SECRET = "b" * 48
TEMPLATE_SECRET = "template-secret-" + "y" * 32
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Target:
    name: str
    base: str
    pid: int
    headers: dict[str, str]
    requests: dict[str, tuple[str, str, dict[str, Any] | None]]  # endpoint → method, path, body


@dataclass
class Run:
    rps: float
    p50: float
    p95: float
    p99: float
    cpu_ms: float
    xacts: float
    errors: int


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def transactions(dsn: str, database: str) -> int:
    await asyncio.sleep(1.2)  # backends flush their statistics at most once a second
    conn = await asyncpg.connect(dsn)
    try:
        value = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1",
            database,
        )
    finally:
        await conn.close()
    return int(value)


async def load(
    target: Target, endpoint: str, connections: int, seconds: float, profile: Path | None = None
) -> Run:
    method, path, body = target.requests[endpoint]
    latencies: list[float] = []
    errors = 0
    stop = 0.0

    async def client(record: bool) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=target.base, timeout=60, limits=limits) as http:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await http.request(method, path, json=body, headers=target.headers)
                if record:
                    latencies.append(time.perf_counter() - started)
                    if response.status_code >= 300:
                        errors += 1
                        if errors == 1:
                            log(f"{target.name} {path}: {response.status_code} {response.text}")

    stop = time.perf_counter() + 1.5
    await asyncio.gather(*(client(False) for _ in range(connections)))
    spy = None
    if profile is not None:
        # Sampled from outside the process, without pausing it (py-spy's --nonblocking); the
        # collapsed stacks are summed up by `profile_top.py`.
        command = ["py-spy", "record", "--pid", str(target.pid), "--duration", str(int(seconds))]
        command += ["--rate", "250", "--nonblocking", "--format", "raw", "-o", str(profile)]
        spy = await asyncio.create_subprocess_exec(
            *command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    cpu_before = cpu_seconds(target.pid)
    began = time.perf_counter()
    stop = began + seconds
    await asyncio.gather(*(client(True) for _ in range(connections)))
    elapsed = time.perf_counter() - began
    cpu = cpu_seconds(target.pid) - cpu_before
    if spy is not None:
        await asyncio.wait_for(spy.wait(), 60)
    cuts = statistics.quantiles(latencies, n=100)
    return Run(
        rps=len(latencies) / elapsed,
        p50=cuts[49] * 1000,
        p95=cuts[94] * 1000,
        p99=cuts[98] * 1000,
        cpu_ms=cpu * 1000 / len(latencies),
        xacts=0.0,
        errors=errors,
    )


async def seed_t21(database_url: str, size: int, workdir: Path) -> tuple[str, str]:
    """The owner's access token and a social account id, after seeding `size` posts."""
    settings = bench_settings(database_url, workdir, SECRET)
    async with seeded_app(settings, size, datetime.now(UTC)) as (_app, _http, owner):
        pass
    brand_id, account_id = owner.tenant.brand_ids[0], owner.tenant.accounts[(0, 1)]
    return owner.access_token, f"{brand_id}:{account_id}"


async def seed_template(dsn: str, size: int) -> str:
    """The template user's token, after creating its tables and `size` items."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from template_app import Base

    engine = create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    await engine.dispose()
    user_id = uuid.uuid4()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO tpl_user (id, email, full_name, hashed_password, is_active, is_superuser)"
            " VALUES ($1, 'user@example.com', 'U', 'x', true, false)",
            user_id,
        )
        await conn.execute(
            "INSERT INTO tpl_item (id, title, description, owner_id) SELECT gen_random_uuid(),"
            " 'Item ' || i, 'What we are up to this week.', $1 FROM generate_series(1, $2) i",
            user_id,
            size,
        )
        await conn.execute("VACUUM (ANALYZE) tpl_item")
    finally:
        await conn.close()
    return token_for(user_id, TEMPLATE_SECRET)


@contextmanager
def serving(command: list[str], env: dict[str, str], cwd: Path, base: str) -> Iterator[int]:
    server = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command[0]} did not start")
            time.sleep(0.3)
        yield server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def median_run(runs: list[Run]) -> Run:
    """Each figure's median over the rounds (errors summed)."""
    return Run(
        rps=statistics.median(run.rps for run in runs),
        p50=statistics.median(run.p50 for run in runs),
        p95=statistics.median(run.p95 for run in runs),
        p99=statistics.median(run.p99 for run in runs),
        cpu_ms=statistics.median(run.cpu_ms for run in runs),
        xacts=statistics.median(run.xacts for run in runs),
        errors=sum(run.errors for run in runs),
    )


def report(runs: dict[tuple[int, str, str], list[Run]], load_average: dict[int, str]) -> None:
    print("\n| connections | endpoint | server | req/s | p50 | p95 | p99 | CPU ms/req | xact/req |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (connections, endpoint, name), rounds in runs.items():
        run = median_run(rounds)
        errors = f" ({run.errors} errors)" if run.errors else ""
        print(
            f"| {connections} | {endpoint} | {name} | {run.rps:,.0f}{errors} | {run.p50:.1f} ms"
            f" | {run.p95:.1f} ms | {run.p99:.1f} ms | {run.cpu_ms:.2f} | {run.xacts:.2f} |"
        )
    for connections, value in load_average.items():
        print(f"load average before the {connections}-connection runs: {value}")


async def measure_all(
    targets: list[Target], dsn: str, database: str, args: argparse.Namespace
) -> None:
    runs: dict[tuple[int, str, str], list[Run]] = {}
    load_average: dict[int, str] = {}
    seconds: float = args.seconds
    targets = [target for target in targets if target.name.lower() in args.servers]
    for count in args.connections:
        load_average[count] = " ".join(f"{v:.1f}" for v in os.getloadavg())
        for turn in range(args.rounds * len(args.endpoints)):
            first_round, endpoint = (
                turn < len(args.endpoints),
                args.endpoints[turn % len(args.endpoints)],
            )
            # Servers alternate which goes first, so neither always meets a warmer machine.
            flip = (turn % len(args.endpoints) + turn // len(args.endpoints)) % 2
            for target in list(reversed(targets)) if flip else targets:
                before = await transactions(dsn, database)
                profile = None
                if args.profile is not None and first_round and target.name != "template":
                    prefix = "" if target.name == "T21" else f"{target.name}-"
                    profile = args.profile / f"{prefix}{endpoint}-{count}.txt"
                run = await load(target, endpoint, count, seconds, profile)
                total = run.rps * seconds
                run.xacts = (await transactions(dsn, database) - before) / max(total, 1)
                runs.setdefault((count, endpoint, target.name), []).append(run)
                log(f"{count} {endpoint} {target.name}: {run.rps:.0f}/s, {run.cpu_ms:.2f} ms CPU")
    report(runs, load_average)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        async with throwaway_database(args.server_url) as database_url:
            database = database_url.rsplit("/", 1)[1]
            server_dsn = dsn(database_url)
            token, account = await seed_t21(database_url, args.size, Path(workdir))
            brand_id, account_id = account.split(":")
            template_token = await seed_template(dsn(database_url), args.size)
            t21_port, template_port = free_port(), free_port()
            t21_env = {k: v for k, v in os.environ.items() if not k.startswith("T21_")} | {
                "T21_DATABASE_URL": database_url,
                "T21_REDIS_URL": args.redis_url,
                "T21_REDIS_PREFIX": f"t21bench{uuid.uuid4().hex[:8]}",
                "T21_SECRET_KEY": SECRET,
                "T21_DATA_DIR": workdir,
                "T21_LOG_LEVEL": "WARNING",
                "T21_SANDBOX": "off",
                "T21_PLAN_LIMITS": json.dumps(PLAN_LIMITS),
                "T21_RATE_LIMIT_PER_IP": "10000000/minute",
                "T21_RATE_LIMIT_PER_PRINCIPAL": "10000000/minute",
            }
            template_env = dict(os.environ) | {
                "TPL_DATABASE_URL": database_url,
                "TPL_SECRET": TEMPLATE_SECRET,
            }
            t21_base = f"http://127.0.0.1:{t21_port}"
            template_base = f"http://127.0.0.1:{template_port}"
            t21_command = [args.t21, "serve", "--no-worker", "--port", str(t21_port)]
            template_command = [sys.executable, "-m", "uvicorn", "template_app:app"]
            template_command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
            template_command += ["--log-level", "warning", "--port", str(template_port)]
            draft = {"brand_id": brand_id, "content": "A draft.", "status": "draft"}
            draft["targets"] = [{"social_account_id": account_id}]  # type: ignore[assignment]
            t21_headers = {"Authorization": f"Bearer {token}"}
            t21_requests: dict[str, tuple[str, str, dict[str, Any] | None]] = {
                "list": ("GET", "/api/v1/posts?limit=20", None),
                "create": ("POST", "/api/v1/posts", draft),
                "me": ("GET", "/api/v1/auth/me", None),
            }
            with ExitStack() as servers:
                t21_pid = servers.enter_context(
                    serving(t21_command, t21_env, Path(workdir), t21_base)
                )
                template_pid = servers.enter_context(
                    serving(template_command, template_env, BENCH, template_base)
                )
                t21 = Target("T21", t21_base, t21_pid, t21_headers, t21_requests)
                template = Target(
                    "template",
                    template_base,
                    template_pid,
                    {"Authorization": f"Bearer {template_token}"},
                    {
                        "list": ("GET", "/api/v1/items/?limit=20", None),
                        "create": ("POST", "/api/v1/items/", {"title": "An item"}),
                        "me": ("GET", "/api/v1/users/me", None),
                    },
                )
                targets = [t21, template]
                if args.before is not None:
                    # Another checkout's T21 on the same database, loaded in turn with the
                    # others: a change's effect measured in one run, under the same load.
                    before_port = free_port()
                    before_base = f"http://127.0.0.1:{before_port}"
                    before_command = [args.before, "serve", "--no-worker"]
                    before_command += ["--port", str(before_port)]
                    before_pid = servers.enter_context(
                        serving(before_command, t21_env, Path(workdir), before_base)
                    )
                    before = Target("before", before_base, before_pid, t21_headers, t21_requests)
                    targets.insert(0, before)
                await measure_all(targets, server_dsn, database, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument(
        "--connections", type=lambda v: [int(n) for n in v.split(",")], default=[10, 50]
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="runs of each endpoint and server, alternated; the table gives their medians",
    )
    parser.add_argument("--t21", default=str(Path(sys.executable).parent / "t21"))
    parser.add_argument(
        "--endpoints", type=lambda v: v.split(","), default=["list", "create", "me"]
    )
    parser.add_argument(
        "--servers", type=lambda v: v.split(","), default=["before", "t21", "template"]
    )
    parser.add_argument(
        "--before",
        default=None,
        help="another checkout's `t21` (e.g. main's .venv/bin/t21), served too and loaded in "
        "turn with the others as the server `before`",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="a folder: each T21 run is sampled with py-spy into <endpoint>-<connections>.txt "
        "(collapsed stacks; `bench/profile_top.py` lists the top costs)",
    )
    args = parser.parse_args()
    if args.profile is not None:
        # py-spy writes nothing, silently, into a folder that does not exist.
        args.profile.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
