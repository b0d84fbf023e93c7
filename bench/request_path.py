"""The request path: T21 side by side with the FastAPI full-stack template's pattern.

Creates a throwaway PostgreSQL database; seeds T21 as `list_posts.py` does (one owner, four
brands, `--size` posts with their targets) and the template's tables (`template_app.py`) with
`--size` items of one user. Starts `t21 serve --no-worker` (PostgreSQL + Redis, uvloop and
httptools, one process, rate limits on with limits the load stays under) and
`uvicorn template_app:app` (uvloop, httptools, one process) on loopback, then, for each number of
`--connections` and each endpoint pair, runs a closed-loop load (one keep-alive connection per
client, each sending its next request when its last is answered) against one server after the
other. `--load wrk` (the default when `wrk` is installed: `apt-get install wrk`) runs the load
with wrk, one thread, a Lua script giving each request's method, headers and body and printing
the figures as JSON; its C event loop takes ~0.05 ms of CPU a request, so the servers have the
cores. `--load httpx` runs asyncio + httpx clients in this process, which take CPU the servers
need on the same two cores (~1.5 ms a request at 10 connections, 5-8 ms at 50):

| T21 | template |
|---|---|
| `GET /api/v1/posts?limit=20` | `GET /api/v1/items/?limit=20` |
| `POST /api/v1/posts` (a draft, one target) | `POST /api/v1/items/` |
| `GET /api/v1/auth/me` | `GET /api/v1/users/me` |

Reported per run (after a warm-up of 1.5 s with httpx, 2 s with wrk): requests a second,
p50/p95/p99, the server's CPU per request (user + system time of its process from /proc, over
the requests answered), PostgreSQL transactions per request (`pg_stat_database`, the servers
being loaded one at a time, counted over the measured requests only) and the load generator's
CPU per request. CPU per request is the figure to compare on a busy machine; requests a second
depend on what else runs.

Run: `.venv/bin/python bench/request_path.py --connections 10,50 --seconds 10`
(`--t21 /path/to/other/.venv/bin/t21` measures another checkout against the same template).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
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
    load_cpu_ms: float  # the load generator's CPU (this process's, or wrk's)
    requests: int = 0


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


async def probe(target: Target, endpoint: str) -> None:
    """One request before the load, its answer logged if it is not a success: wrk counts
    failures but shows none of them."""
    method, path, body = target.requests[endpoint]
    async with httpx.AsyncClient(base_url=target.base, timeout=60) as http:
        response = await http.request(method, path, json=body, headers=target.headers)
    if response.status_code >= 300:
        log(f"{target.name} {path}: {response.status_code} {response.text}")


def start_profile(target: Target, seconds: float, profile: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the server from outside, without pausing it (`--nonblocking`), into
    collapsed stacks that `profile_top.py` sums up."""
    command = ["py-spy", "record", "--pid", str(target.pid), "--duration", str(int(seconds))]
    command += ["--rate", "250", "--nonblocking", "--format", "raw", "-o", str(profile)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def lua_string(value: str) -> str:
    """`value` as a Lua long string (no escapes inside)."""
    assert "]==]" not in value
    return f"[==[{value}]==]"


# Each request's method, headers and body, and, when wrk is done, the figures as one line of
# JSON (latencies in microseconds, from wrk's histogram).
WRK_SCRIPT = """\
wrk.method = {method}
wrk.path = {path}
{headers}
wrk.body = {body}
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK {{"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
    .. '"status_errors": %d, "socket_errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def wrk_script(target: Target, endpoint: str, folder: Path) -> Path:
    method, path, body = target.requests[endpoint]
    headers = dict(target.headers)
    if body is not None:
        headers["Content-Type"] = "application/json"
    script = folder / f"{target.name}-{endpoint}.lua"
    script.write_text(
        WRK_SCRIPT.format(
            method=lua_string(method),
            path=lua_string(path),
            headers="\n".join(
                f"wrk.headers[ {lua_string(name)} ] = {lua_string(value)}"
                for name, value in headers.items()
            ),
            body=lua_string(json.dumps(body)) if body is not None else "nil",
        )
    )
    return script


async def wrk(target: Target, script: Path, connections: int, seconds: int) -> dict[str, int]:
    """wrk's figures for one closed-loop run (one thread: its event loop, in C, needs little of
    a core at these rates), after it exits."""
    command = ["wrk", "--threads", "1", "--connections", str(connections)]
    command += ["--duration", f"{seconds}s", "--timeout", "60s", "--latency"]
    command += ["--script", str(script), target.base]
    done = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await done.communicate()
    for line in out.decode().splitlines():
        if line.startswith("WRK "):
            figures: dict[str, int] = json.loads(line[4:])
            return figures
    raise SystemExit(f"wrk gave no figures: {out.decode()} {err.decode()}")


async def load_wrk(
    target: Target,
    endpoint: str,
    connections: int,
    seconds: float,
    profile: Path | None,
    warmed: Callable[[], Awaitable[None]],
    folder: Path,
) -> Run:
    """The same closed loop as `load`, run by wrk outside this process."""
    await probe(target, endpoint)
    script = wrk_script(target, endpoint, folder)
    await wrk(target, script, connections, 2)  # warm-up
    await warmed()
    spy = start_profile(target, seconds, profile) if profile is not None else None
    cpu_before, load_before = cpu_seconds(target.pid), children_cpu_seconds()
    figures = await wrk(target, script, connections, int(seconds))
    cpu = cpu_seconds(target.pid) - cpu_before
    load_cpu = children_cpu_seconds() - load_before
    if spy is not None:
        await asyncio.to_thread(spy.wait, 60)
    requests = max(figures["requests"], 1)
    errors = figures["status_errors"] + figures["socket_errors"]
    if errors:
        log(f"{target.name} {endpoint}: {errors} failed requests of {requests}")
    return Run(
        rps=requests * 1e6 / figures["duration_us"],
        p50=figures["p50_us"] / 1000,
        p95=figures["p95_us"] / 1000,
        p99=figures["p99_us"] / 1000,
        cpu_ms=cpu * 1000 / requests,
        xacts=0.0,
        errors=errors,
        load_cpu_ms=load_cpu * 1000 / requests,
        requests=requests,
    )


async def load(
    target: Target,
    endpoint: str,
    connections: int,
    seconds: float,
    profile: Path | None,
    warmed: Callable[[], Awaitable[None]],
) -> Run:
    """A closed-loop load from this process: `connections` clients (asyncio + httpx), each
    sending its next request when its last is answered."""
    await probe(target, endpoint)
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
    await warmed()
    spy = start_profile(target, seconds, profile) if profile is not None else None
    cpu_before, load_before = cpu_seconds(target.pid), time.process_time()
    began = time.perf_counter()
    stop = began + seconds
    await asyncio.gather(*(client(True) for _ in range(connections)))
    elapsed = time.perf_counter() - began
    cpu = cpu_seconds(target.pid) - cpu_before
    load_cpu = time.process_time() - load_before
    if spy is not None:
        await asyncio.to_thread(spy.wait, 60)
    cuts = statistics.quantiles(latencies, n=100)
    return Run(
        rps=len(latencies) / elapsed,
        p50=cuts[49] * 1000,
        p95=cuts[94] * 1000,
        p99=cuts[98] * 1000,
        cpu_ms=cpu * 1000 / len(latencies),
        xacts=0.0,
        errors=errors,
        load_cpu_ms=load_cpu * 1000 / len(latencies),
        requests=len(latencies),
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
        load_cpu_ms=statistics.median(run.load_cpu_ms for run in runs),
    )


def report(runs: dict[tuple[int, str, str], list[Run]], load_average: dict[int, str]) -> None:
    print(
        "\n| connections | endpoint | server | req/s | p50 | p95 | p99 | CPU ms/req | xact/req"
        " | load CPU ms/req |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (connections, endpoint, name), rounds in runs.items():
        run = median_run(rounds)
        errors = f" ({run.errors} errors)" if run.errors else ""
        print(
            f"| {connections} | {endpoint} | {name} | {run.rps:,.0f}{errors} | {run.p50:.1f} ms"
            f" | {run.p95:.1f} ms | {run.p99:.1f} ms | {run.cpu_ms:.2f} | {run.xacts:.2f}"
            f" | {run.load_cpu_ms:.2f} |"
        )
    for connections, value in load_average.items():
        print(f"load average before the {connections}-connection runs: {value}")


async def measure_all(
    targets: list[Target], dsn: str, database: str, args: argparse.Namespace, folder: Path
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
                before = 0

                async def warmed() -> None:
                    # Counted from the end of the warm-up, over the measured requests only.
                    nonlocal before
                    before = await transactions(dsn, database)

                profile = None
                if args.profile is not None and first_round and target.name != "template":
                    prefix = "" if target.name == "T21" else f"{target.name}-"
                    profile = args.profile / f"{prefix}{endpoint}-{count}.txt"
                if args.load == "wrk":
                    run = await load_wrk(target, endpoint, count, seconds, profile, warmed, folder)
                else:
                    run = await load(target, endpoint, count, seconds, profile, warmed)
                run.xacts = (await transactions(dsn, database) - before) / max(run.requests, 1)
                runs.setdefault((count, endpoint, target.name), []).append(run)
                log(
                    f"{count} {endpoint} {target.name}: {run.rps:.0f}/s, {run.cpu_ms:.2f} ms CPU, "
                    f"p50 {run.p50:.1f} ms, p99 {run.p99:.1f} ms"
                )
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
                await measure_all(targets, server_dsn, database, args, Path(workdir))


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
    parser.add_argument(
        "--load",
        choices=["wrk", "httpx"],
        default="wrk" if shutil.which("wrk") else "httpx",
        help="the load generator: wrk (the default when it is installed: its C event loop leaves "
        "the cores to the servers) or asyncio + httpx clients in this process",
    )
    args = parser.parse_args()
    if args.profile is not None:
        # py-spy writes nothing, silently, into a folder that does not exist.
        args.profile.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
