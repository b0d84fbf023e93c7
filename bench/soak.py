"""Soak: does `t21 serve` hold steady for half an hour at 50 requests/s?

Starts `t21 serve` (embedded mode: SQLite, in-process jobs, loops and sandbox) on a free
loopback port in a temporary directory, registers `--users` users (each with a brand), then
sends `--rate` requests per second for `--minutes`, open loop (a request leaves on schedule
whether or not earlier ones have answered), round-robin over the users. The mix: 70 % reads
(`GET /api/v1/posts?brand_id=`, `/api/v1/brands`, `/api/v1/auth/me`, `/api/v1/posts/{id}`), 30 %
writes (create a draft post, edit it, delete it).

With `--publishing`, each user also connects an X account through the sandbox, and one post a
second (round-robin over the accounts, inside X's budget of 100 posts per 15 minutes) is
scheduled a few seconds ahead, so the dispatcher, the jobs and the sandbox publish throughout.

Reported: every 10 s window's request count, errors (5xx or no answer), p50 and p99; every
minute the server's RSS and open file descriptors (from /proc); at the end, whether any window's
p99 exceeds 5× the median window's p99, and (with `--publishing`) the targets by status.

Run: `.venv/bin/python bench/soak.py --minutes 30` and `.venv/bin/python bench/soak.py
--minutes 30 --publishing`. `--server-log FILE` keeps the server's output; `--asyncio-debug`
runs the server with asyncio's debug mode, which logs every callback that holds the event
loop longer than 100 ms (how the 60-second stall was found). `--sandbox-process` runs the sandbox
fakes in a process of their own (`t21 sandbox`, reached through `T21_SANDBOX_URL`), so the RSS
reported is T21's alone: the fakes keep every post and request they receive, as a network would,
and in-process that growth is counted as T21's. The sandbox's RSS is reported beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

BIN = Path(sys.executable).parent
PASSWORD = "soak test passphrase 42"  # noqa: S105  (users made for the run)
PLAN_LIMITS = {
    "free": {"published_posts": 10_000_000, "social_accounts": 100, "brands": 100, "seats": 100}
}
WINDOW_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class User:
    email: str
    headers: dict[str, str]
    brand_id: str
    account_id: str | None = None
    drafts: list[str] = field(default_factory=list)


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


class Soak:
    def __init__(self, base: str, users: list[User], started: float) -> None:
        self.base = base
        self.users = users
        self.started = started
        self.windows: dict[int, Window] = {}
        self.statuses: dict[int, int] = {}
        # Requests the client sent more than 1 s after their slot, or not at all by the end.
        self.late = 0
        self.unsent = 0

    def record(self, at: float, latency: float | None, status: int | None) -> None:
        window = self.windows.setdefault(int((at - self.started) // WINDOW_S), Window())
        if latency is not None:
            window.latencies.append(latency)
        if status is None or status >= 500:
            window.errors += 1
        if status is not None:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    async def one(self, http: httpx.AsyncClient, user: User, rng: random.Random) -> None:
        roll = rng.random()
        began = time.monotonic()
        status: int | None = None
        try:
            if roll < 0.25:
                answer = await http.get(
                    "/api/v1/posts", params={"brand_id": user.brand_id}, headers=user.headers
                )
            elif roll < 0.4:
                answer = await http.get("/api/v1/brands", headers=user.headers)
            elif roll < 0.55:
                answer = await http.get("/api/v1/auth/me", headers=user.headers)
            elif roll < 0.7:
                post_id = user.drafts[-1] if user.drafts else str(uuid.uuid4())
                answer = await http.get(f"/api/v1/posts/{post_id}", headers=user.headers)
            elif roll < 0.85 or len(user.drafts) < 3:
                answer = await http.post(
                    "/api/v1/posts",
                    json={
                        "brand_id": user.brand_id,
                        "content": f"Soak draft {uuid.uuid4().hex}",
                        "targets": [],
                        "status": "draft",
                    },
                    headers=user.headers,
                )
                if answer.status_code == 201:
                    user.drafts.append(answer.json()["id"])
            elif roll < 0.93:
                answer = await http.patch(
                    f"/api/v1/posts/{user.drafts[-1]}",
                    json={"content": f"Soak edit {uuid.uuid4().hex}"},
                    headers=user.headers,
                )
            else:
                post_id = user.drafts.pop(0)
                answer = await http.delete(f"/api/v1/posts/{post_id}", headers=user.headers)
            status = answer.status_code
        except httpx.HTTPError:
            status = None
        self.record(began, time.monotonic() - began, status)


async def register(http: httpx.AsyncClient, number: int) -> User:
    email = f"soak-{number}-{uuid.uuid4().hex[:6]}@example.com"
    answer = await http.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "name": "Soak"}
    )
    answer.raise_for_status()
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    brand = await http.post("/api/v1/brands", json={"name": f"Brand {number}"}, headers=headers)
    brand.raise_for_status()
    return User(email=email, headers=headers, brand_id=brand.json()["id"])


async def connect_x(http: httpx.AsyncClient, user: User) -> str:
    """The OAuth trip through the sandbox's X, as a browser would make it."""
    started = await http.post(
        "/api/v1/social-accounts/connect",
        json={"brand_id": user.brand_id, "platform": "twitter"},
        headers=user.headers,
    )
    started.raise_for_status()
    authorization_url = started.json()["authorization_url"]
    async with httpx.AsyncClient(timeout=30) as browser:
        # The fake's own X rate limit (as strict as X's free tier) would defer most posts:
        # lifted, so only T21's budgets pace them.
        sandbox = authorization_url.split("/twitter/", 1)[0]
        lifted = await browser.post(
            f"{sandbox}/twitter/_control/settings", json={"limits": {"tweets:create": 1_000_000}}
        )
        lifted.raise_for_status()
        at_network = await browser.get(authorization_url)
    back = urlsplit(str(at_network.headers["location"]))
    finished = await http.get(f"{back.path}?{back.query}")
    connected = parse_qs(urlsplit(finished.headers["location"]).query)["connected"][0]
    return connected.split(",")[0]


async def relogin(http: httpx.AsyncClient, users: list[User], every_s: float) -> None:
    """Access tokens live 15 minutes: sign every user in again well before that."""
    while True:
        await asyncio.sleep(every_s)
        for user in users:
            answer = await http.post(
                "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
            )
            if answer.status_code == 200:
                user.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def schedule_posts(http: httpx.AsyncClient, users: list[User], soak: Soak) -> None:
    """One post a second, due a few seconds ahead, round-robin over the connected accounts."""
    for number in itertools.count():
        user = users[number % len(users)]
        due = datetime.now(UTC) + timedelta(seconds=5)
        began = time.monotonic()
        status: int | None = None
        try:
            answer = await http.post(
                "/api/v1/posts",
                json={
                    "brand_id": user.brand_id,
                    "content": f"Soak post {number} {uuid.uuid4().hex[:8]}",
                    "targets": [{"social_account_id": user.account_id}],
                    "scheduled_at": due.isoformat(),
                    "status": "scheduled",
                },
                headers=user.headers,
            )
            status = answer.status_code
        except httpx.HTTPError:
            pass
        soak.record(began, time.monotonic() - began, status)
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - began)))


def process_figures(pid: int) -> tuple[float, int]:
    rss_kib = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def sample_process(
    pid: int,
    started: float,
    rows: list[tuple[float, float, int]],
    sandbox: tuple[int, list[float]] | None,
) -> None:
    for minute in itertools.count():
        rss, fds = process_figures(pid)
        rows.append((minute, rss, fds))
        beside = ""
        if sandbox is not None:
            sandbox_rss = process_figures(sandbox[0])[0]
            sandbox[1].append(sandbox_rss)
            beside = f" (sandbox process: RSS {sandbox_rss:.0f} MiB)"
        log(f"minute {minute}: RSS {rss:.0f} MiB, {fds} fds{beside}")
        await asyncio.sleep(max(0.0, started + 60 * (minute + 1) - time.monotonic()))


def window_line(index: int, window: Window) -> str:
    cuts = statistics.quantiles(window.latencies, n=100)
    return (
        f"{index * WINDOW_S:5.0f} s  {len(window.latencies):8d}  {window.errors:6d}"
        f"  {cuts[49] * 1000:7.1f}  {cuts[98] * 1000:7.1f}"
    )


async def log_windows(soak: Soak) -> None:
    """Each window's figures as the run goes, once its requests have answered or timed out
    (the client's timeout is 30 s), so a run stopped early keeps what it measured."""
    for index in itertools.count():
        await asyncio.sleep(max(0.0, soak.started + (index + 1) * WINDOW_S + 35 - time.monotonic()))
        window = soak.windows.get(index)
        if window is not None and len(window.latencies) >= 2:
            log("window " + window_line(index, window))


async def run(
    base: str, pid: int, args: argparse.Namespace, sandbox_pid: int | None
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        users = [await register(http, number) for number in range(args.users)]
        if args.publishing:
            for user in users:
                user.account_id = await connect_x(http, user)
        log(f"{len(users)} users ready; {args.rate} requests/s for {args.minutes} minutes")
        started = time.monotonic()
        soak = Soak(base, users, started)
        rows: list[tuple[float, float, int]] = []
        sandbox_rows: list[float] = []
        sandbox = (sandbox_pid, sandbox_rows) if sandbox_pid is not None else None
        helpers = [
            asyncio.create_task(sample_process(pid, started, rows, sandbox)),
            asyncio.create_task(relogin(http, users, 600)),
            asyncio.create_task(log_windows(soak)),
        ]
        if args.publishing:
            helpers.append(asyncio.create_task(schedule_posts(http, users, soak)))
        rng = random.Random(args.seed)
        running: set[asyncio.Task[None]] = set()
        end = started + args.minutes * 60
        late = 0
        for number in itertools.count():
            at = started + number / args.rate
            # Open loop with a fixed end: a client that fell behind (its own CPU, on a loaded
            # machine) stops at the end too, rather than queueing the rest after it.
            if at >= end or time.monotonic() >= end:
                soak.unsent = int((end - started) * args.rate) - number
                break
            if time.monotonic() - at > 1.0:
                late += 1
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            task = asyncio.create_task(soak.one(http, users[number % len(users)], rng))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.wait(running, timeout=60)
        for helper in helpers:
            helper.cancel()
        rss, fds = process_figures(pid)
        rows.append((args.minutes, rss, fds))
    soak.late = late
    return {"soak": soak, "rows": rows, "sandbox_rows": sandbox_rows}


def report(result: dict[str, Any], folder: Path, publishing: bool) -> bool:
    soak: Soak = result["soak"]
    print("\nwindow   requests  errors   p50 ms   p99 ms")
    p99s: list[float] = []
    for index in sorted(soak.windows):
        window = soak.windows[index]
        if len(window.latencies) < 2:
            continue
        p99s.append(statistics.quantiles(window.latencies, n=100)[98] * 1000)
        print(window_line(index, window))
    sandbox_rows: list[float] = result["sandbox_rows"]
    print("\nminute   RSS MiB   fds" + ("   sandbox RSS MiB" if sandbox_rows else ""))
    for index, (minute, rss, fds) in enumerate(result["rows"]):
        beside = f"  {sandbox_rows[index]:16.0f}" if index < len(sandbox_rows) else ""
        print(f"{minute:6.1f}  {rss:8.0f}  {fds:4d}{beside}")
    total = sum(len(w.latencies) for w in soak.windows.values())
    errors = sum(w.errors for w in soak.windows.values())
    median = statistics.median(p99s)
    worst = max(p99s)
    print(f"\n{total} requests, {errors} errors, statuses {dict(sorted(soak.statuses.items()))}")
    print(
        f"client: {soak.late} requests sent over 1 s late, {soak.unsent} not sent by the end "
        "(the load generator fell behind its schedule)"
    )
    print(
        f"p99 per window: median {median:.1f} ms, worst {worst:.1f} ms "
        f"({worst / median:.1f}× the median; the bar is 5×)"
    )
    if publishing:
        with sqlite3.connect(folder / "var" / "t21.db") as db:
            rows = db.execute(
                "SELECT status, count(*) FROM post_targets GROUP BY status"
            ).fetchall()
        print("targets:", json.dumps(dict(rows)))
    return errors == 0 and worst <= 5 * median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--publishing", action="store_true")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--server-log", type=Path)
    parser.add_argument("--asyncio-debug", action="store_true")
    parser.add_argument(
        "--sandbox-process",
        action="store_true",
        help="Run the sandbox fakes in their own process, so T21's RSS is measured alone.",
    )
    parser.add_argument(
        "--probe-gc", type=Path, help="Write the server's collections over 20 ms to this file."
    )
    args = parser.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("T21_")}
        env |= {
            "T21_RATE_LIMIT_ENABLED": "false",
            "T21_LOG_LEVEL": "WARNING",
            "T21_DATA_DIR": str(folder / "var"),
            "T21_PLAN_LIMITS": json.dumps(PLAN_LIMITS),
            "T21_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        if args.asyncio_debug:
            env["PYTHONASYNCIODEBUG"] = "1"
        if args.probe_gc:
            env["PYTHONPATH"] = str(Path(__file__).parent / "gcprobe")
            env["T21_BENCH_GC_LOG"] = str(args.probe_gc.resolve())
        sandbox: subprocess.Popen[bytes] | None = None
        if args.sandbox_process:
            sandbox_port = free_port()
            sandbox = subprocess.Popen(
                [str(BIN / "t21"), "sandbox", "--port", str(sandbox_port)],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            env["T21_SANDBOX_URL"] = f"http://127.0.0.1:{sandbox_port}"
        output = open(args.server_log or os.devnull, "wb")  # noqa: SIM115
        server = subprocess.Popen(
            [str(BIN / "t21"), "serve", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180  # a fresh start on a loaded machine is slow
            while True:
                try:
                    if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("t21 serve did not become ready")
                time.sleep(0.2)
            sandbox_pid = sandbox.pid if sandbox is not None else None
            result = asyncio.run(run(base, server.pid, args, sandbox_pid))
            steady = report(result, folder, args.publishing)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
            output.close()
            if sandbox is not None:
                sandbox.send_signal(signal.SIGTERM)
                sandbox.wait(timeout=60)
    raise SystemExit(0 if steady else 1)


if __name__ == "__main__":
    main()
