"""How many events per second does T21 deliver to webhook endpoints, and how late?

A receiver on loopback (this script with `--serve-receiver`, uvicorn in its own process) answers
every request after `--latency-ms` (50) and notes when each `webhook-id` first arrived. One
organization has `--endpoints` endpoints (10), each subscribed to every event, so each event is
that many deliveries. Two phases per mode:

* burst: `--burst` events (1,000) recorded at once; events/s = events ÷ the time from the first
  commit to the last first arrival;
* steady: `--rate` events per second (50) for `--seconds` (20), in transactions of one event
  like state changes; the delay of each delivery is its first arrival minus the event's
  `created_at` (the state change's commit, to within the transaction), at p50/p99.

Modes: `sqlite` (the API, worker and loops in this process, as `t21 serve` runs them) and
`pg` (PostgreSQL + Redis, `--workers` (2) `t21 worker` processes; the events are recorded from
this process). Settings are the defaults but `--max-in-flight` (T21_WEBHOOK_MAX_IN_FLIGHT, 4):
a new event's deliveries are claimed in its own transaction and sent after the commit, and
each attempt that ends hands its slot to the endpoint's next delivery.

Run: `.venv/bin/python bench/webhook_delivery.py --modes sqlite,pg`
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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

from t21.api import create_app
from t21.core import migrations
from t21.core.logging import configure_logging
from t21.core.runtime import Runtime
from t21.core.settings import Settings, load_settings
from t21.core.uow import session_scope
from t21.events.models import Event
from t21.events.service import record_event

BIN = Path(sys.executable).parent
SECRET = "bench-secret-" + "x" * 40


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the receiver ------------------------------------------------------------------------------


def serve_receiver(port: int, latency_ms: float) -> None:
    """An ASGI receiver: every POST answered 204 after the latency; `GET /arrivals` gives the
    first arrival (Unix time) of each webhook-id, `DELETE /arrivals` forgets them."""
    import uvicorn

    arrivals: dict[str, float] = {}
    delay = latency_ms / 1000

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method == "POST":
            arrived = time.time()
            headers = dict(scope["headers"])
            webhook_id = headers.get(b"webhook-id", b"").decode()
            arrivals.setdefault(webhook_id + " " + scope["path"], arrived)
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
            await asyncio.sleep(delay)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if method == "DELETE":
            arrivals.clear()
        body = json.dumps(arrivals).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- processes and databases -------------------------------------------------------------------


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


def process_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("T21_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "t21-bench-pycache")
    env.update(values)
    return env


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


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    burst_events: int
    burst_s: float
    steady_events: int
    delays: list[float]

    def row(self, endpoints: int) -> str:
        per_s = self.burst_events / self.burst_s
        ordered = sorted(self.delays)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        return (
            f"| {self.mode} | {per_s:,.0f} events/s ({per_s * endpoints:,.0f} deliveries/s) | "
            f"{p50:,.0f} ms | {p99:,.0f} ms | {len(self.delays):,} |"
        )


async def arrivals(http: httpx.AsyncClient) -> dict[str, float]:
    found: dict[str, float] = (await http.get("/arrivals")).json()
    return found


async def wait_for(http: httpx.AsyncClient, expected: int, limit: float = 600) -> dict[str, float]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        seen = await arrivals(http)
        if len(seen) >= expected:
            return seen
        await asyncio.sleep(0.2)
    raise RuntimeError(f"only {len(await arrivals(http))} of {expected} deliveries arrived")


async def run_phases(
    runtime: Runtime, api: httpx.AsyncClient, receiver: str, args: argparse.Namespace, mode: str
) -> Result:
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    registered = await api.post(
        "/api/v1/auth/register",
        json={"email": email, "password": "correct horse battery staple", "name": "Bench"},
    )
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
    organization_id = uuid.UUID(
        (await api.get("/api/v1/auth/me", headers=headers)).json()["memberships"][0][
            "organization"
        ]["id"]
    )
    for number in range(args.endpoints):
        created = await api.post(
            "/api/v1/webhooks", json={"url": f"{receiver}/e{number}"}, headers=headers
        )
        assert created.status_code == 201, created.text
    expected = args.endpoints

    async with httpx.AsyncClient(base_url=receiver, timeout=30) as http:
        await http.delete("/arrivals")
        log(f"{mode}: burst of {args.burst} events")
        started = time.time()
        async with session_scope(runtime) as session:
            for number in range(args.burst):
                await record_event(
                    session,
                    organization_id=organization_id,
                    type="post.published",
                    data={"n": number},
                )
        seen = await wait_for(http, args.burst * expected)
        burst_s = max(seen.values()) - started

        await http.delete("/arrivals")
        count = int(args.rate * args.seconds)
        log(f"{mode}: {count} events at {args.rate}/s")
        interval = 1 / args.rate
        next_at = time.monotonic()
        for number in range(count):
            async with session_scope(runtime) as session:
                await record_event(
                    session,
                    organization_id=organization_id,
                    type="post.updated",
                    data={"n": number},
                )
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        seen = await wait_for(http, count * expected)
    async with session_scope(runtime) as session:
        created_at = {
            event.id: event.created_at.timestamp()
            for event in await session.scalars(select(Event).where(Event.type == "post.updated"))
        }
    delays = [arrived - created_at[key.split(" ")[0]] for key, arrived in seen.items()]
    return Result(mode, args.burst, burst_s, count, delays)


def base_settings(folder: Path, max_in_flight: int = 4, **values: Any) -> Settings:
    return load_settings(
        webhook_max_in_flight=max_in_flight,
        _env_file=None,
        env="test",
        secret_key=SECRET,
        data_dir=folder / "var",
        log_level="WARNING",
        rate_limit_enabled=False,
        **values,
    )


async def run_sqlite(args: argparse.Namespace, receiver: str, folder: Path) -> Result:
    settings = base_settings(
        folder, args.max_in_flight, database_url=f"sqlite:///{folder / 'bench.db'}"
    )
    await migrations.upgrade(settings)
    app = create_app(settings, worker=True, loops=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as api:
            return await run_phases(app.state.runtime, api, receiver, args, "sqlite")


async def run_pg(args: argparse.Namespace, receiver: str, folder: Path) -> Result:
    async with pg_database(args.database_url) as database_url:
        prefix = f"t21bench:{uuid.uuid4().hex[:8]}"
        settings = base_settings(
            folder,
            args.max_in_flight,
            database_url=database_url,
            redis_url=args.redis_url,
            redis_prefix=prefix,
        )
        await migrations.upgrade(settings)
        workers = Group(folder, [])
        try:
            for number in range(args.workers):
                port = free_port()
                env = process_env(
                    T21_ENV="test",
                    T21_SECRET_KEY=SECRET,
                    T21_DATABASE_URL=database_url,
                    T21_REDIS_URL=args.redis_url,
                    T21_REDIS_PREFIX=prefix,
                    T21_DATA_DIR=str(folder / "var"),
                    T21_LOG_LEVEL="WARNING",
                    T21_WEBHOOK_MAX_IN_FLIGHT=str(args.max_in_flight),
                )
                workers.start(
                    f"worker-{number}", [str(BIN / "t21"), "worker", "--port", str(port)], env
                )
                await wait_ready(f"http://127.0.0.1:{port}/ready")
            app = create_app(settings, worker=False)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as api:
                    return await run_phases(app.state.runtime, api, receiver, args, "pg")
        finally:
            workers.stop()


async def main(args: argparse.Namespace) -> None:
    configure_logging(base_settings(Path(tempfile.gettempdir())))
    with tempfile.TemporaryDirectory(prefix="t21-bench-") as tmp:
        folder = Path(tmp)
        port = free_port()
        receiver_process = Group(folder, [])
        receiver_process.start(
            "receiver",
            [
                sys.executable,
                __file__,
                "--serve-receiver",
                str(port),
                "--latency-ms",
                str(args.latency_ms),
            ],
            process_env(),
        )
        receiver = f"http://127.0.0.1:{port}"
        try:
            await wait_ready(f"{receiver}/arrivals")
            results = []
            for mode in args.modes.split(","):
                runner = run_sqlite if mode == "sqlite" else run_pg
                results.append(await runner(args, receiver, Path(tempfile.mkdtemp(dir=folder))))
        finally:
            receiver_process.stop()
    print(
        f"\n{args.endpoints} endpoints, receiver latency {args.latency_ms:g} ms, "
        f"at most {args.max_in_flight} in flight per endpoint"
    )
    print("| mode | burst throughput | delay p50 | delay p99 | deliveries timed |")
    print("|---|---|---|---|---|")
    for result in results:
        print(result.row(args.endpoints))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="sqlite,pg")
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-in-flight", type=int, default=4)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--serve-receiver", type=int, default=None)
    parsed = parser.parse_args()
    if parsed.serve_receiver is not None:
        serve_receiver(parsed.serve_receiver, parsed.latency_ms)
    else:
        asyncio.run(main(parsed))
