"""Chaos: `t21 worker` processes publish a few thousand due targets on PostgreSQL and Redis while
workers are killed with SIGKILL and restarted at random, and the sandbox networks answer 429s,
5xx and lost responses on their publishing endpoints. At the end every target has settled
honestly, and the networks' own records show nothing published twice. A broker's redelivery
is played too: the publish jobs of targets already taken (publishing or published) are sent again
now and then, as a queue does when a worker's acknowledgement is lost.

An app listens all along: before the targets are seeded, a webhook endpoint is created through
the API for the `target.*` events, pointed at a real HTTP receiver on loopback
(`tests.webhooks.conftest`). The workers deliver its events while they are killed; the test
waits for the deliveries to drain, then checks that every `target.*` event in the event log
reached the receiver at least once, that every `webhook-id` came with one event only, and that
every delivery's signature verifies with the endpoint's secret (`standardwebhooks`).

The networks' duplicate refusal is off (`T21_SANDBOX_REFUSE_DUPLICATES=false`), so a second
send of a post would be accepted rather than refused, and every send is in the fakes' send
records (`/_control/sends`): for each target, at most one send may have posted (accepted, or
carried out with its answer lost). The chaos must really have happened (a worker killed, an
answer lost), enough must have been published, few left for review or failed, and no worker
may log a traceback. It can fail: with `T21_TEST_DISABLE_CLAIM_CAS=1` (test-only, see
`t21.publishing.service`) the workers take targets without the compare-and-set and it must
fail with "sent more than once" (the redelivered jobs make that certain, where a kill landing on
a worker mid-batch is luck); CI runs it so once as a self-check (`.ci/run`).

The sandbox runs as its own `t21 sandbox` process; the API runs in the test's process (it only
enqueues: the workers run every job). An owner, a brand and its accounts on every network of the
table in `tests.support.networks` (Facebook Pages, X, LinkedIn, LinkedIn Pages, Threads, Bluesky
with app passwords, Mastodon instances, a Telegram channel, a YouTube channel, a Pinterest
account, Business Profile locations) are made through the API and the sandbox as each recipe
says; one post per account is created through the API, the rest (one target each, every text
distinct) are inserted with SQL for speed, with the media and options the recipe gives (a
YouTube video and its title, a Pinterest video and a board). Each account gets fewer
targets than its publishing budget (`t21.publishing.budgets`), so nothing is deferred past the
test's end by design; faults go to each network in proportion to its targets, of the kinds its
recipe takes, in its own answer format.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select, update

from t21.api import create_app
from t21.billing import usage
from t21.core import clock, migrations
from t21.core.settings import Settings
from t21.core.tls import tls_context
from t21.core.uow import session_scope
from t21.events.models import Event
from t21.posts.models import Post, PostMedia, PostStatus, PostTarget, TargetStatus
from t21.publishing.service import DISABLE_CLAIM_CAS_ENV
from t21.publishing.tasks import enqueue_publishing
from t21.sandbox.platform import MAY_HAVE_POSTED, text_digest
from t21.webhooks.models import DeliveryStatus, WebhookDelivery
from t21.webhooks.schemas import EVENT_TYPES
from tests.conftest import TEST_REDIS_URL, TEST_SECRET
from tests.posts.conftest import POSTS
from tests.social.conftest import FRONT_END, World
from tests.support.accounts import register
from tests.support.networks import Recipe, recipes, seeding
from tests.support.processes import BIN, clean_env, free_port
from tests.webhooks.conftest import WEBHOOKS, Receiver
from tests.webhooks.conftest import receiver as receiver  # the fixture

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

WORKERS = 3
# Every network of the table (`tests.support.networks`: how many accounts, how many targets
# each, which faults), or those named in T21_TEST_CHAOS_NETWORKS (comma-separated).
# T21_TEST_CHAOS_SIZE scales each account's targets (at least 2 each; every account is kept):
# the default 1/3 is about 500 targets over every network, which proves the guarantees on every
# network within CI's budget; 1 is the table's full run of about 1500 (the publish bench,
# `bench/publish_throughput.py`, is where volume is measured).
SIZE = float(os.environ.get("T21_TEST_CHAOS_SIZE") or 1 / 3)
NETWORKS = [
    replace(recipe, per_account=max(2, round(recipe.per_account * SIZE)))
    for recipe in recipes(os.environ.get("T21_TEST_CHAOS_NETWORKS"))
]
PLANNED = sum(recipe.targets for recipe in NETWORKS)
# Workers killed and faults injected for this long after the targets are due
# (T21_TEST_CHAOS_S): at the default size the targets are still publishing when it ends.
CHAOS_S = float(os.environ.get("T21_TEST_CHAOS_S") or 25)
# Every target settled this long after they were due, or the test fails. Over every network a
# publish takes more requests (Threads' container, Bluesky's session) and, at load 13-19 on
# the 2 cores, 200-340 of 1500 targets were still due or doubtful at 120 s; with the suite's
# other tests beside it, a run at load ~20 had all published at 180 s and 341 webhook
# deliveries still waiting for a worker. The run ends as soon as everything has settled and
# been delivered: the limit only bounds how long a broken run takes to fail. CI's self-check
# (which must fail by seeing second sends, checked before settling) sets a shorter one with
# T21_TEST_CHAOS_SETTLE_S.
SETTLE_LIMIT_S = float(os.environ.get("T21_TEST_CHAOS_SETTLE_S") or 300)
START_LIMIT_S = 60.0
# What the run must reach, as shares of the targets planned (1250, 30 and 15 of 1500 at full
# size). Runs on 2026-12-06 with X, LinkedIn and Facebook only (2 cores shared with other test
# runs): published 1387-1458, needs_review 42-113 (doubts whose listing timed out on the loaded
# machine went straight to a person), failed 0. The reaper now asks again when the network
# can't answer just now, so review is left with what no listing can settle (a Telegram or
# LinkedIn member's post cut off with its worker). Over every network, runs at load 13-19:
# needs_review 0, 10 (LinkedIn members, before they took only rate limits), 0; nothing sent
# twice.
MIN_PUBLISHED = math.ceil(PLANNED * 5 / 6)
# 2 %: the aim is 0.5 %, the margin is for a loaded machine
MAX_NEEDS_REVIEW = max(3, PLANNED // 50)
MAX_FAILED = max(2, PLANNED // 100)

# The organization's plan must not be what stops the posts.
PLAN_LIMITS = {"free": {"published_posts": 1_000_000, "social_accounts": 1_000}}

# Every REDELIVER_EVERY_S of the chaos, a broker's redelivery: the publish job of up to
# REDELIVER_TARGETS taken targets sent again (`redeliver`). On a clock rather than by chance, so
# that CI's 10-second self-check always has some (a run that redelivered 3 targets saw 1 second
# send, one that redelivered 12 saw 24).
REDELIVER_EVERY_S = 1.0
REDELIVER_TARGETS = 3

SETTLED = {TargetStatus.PUBLISHED, TargetStatus.FAILED, TargetStatus.NEEDS_REVIEW}

WORKER_SETTINGS = {
    "T21_DISPATCH_INTERVAL_S": "0.5",
    "T21_REAPER_INTERVAL_S": "1",
    "T21_QUEUED_STALE_S": "5",
    "T21_PUBLISH_LEASE_S": "35",  # the minimum is 30; the attempt gives up 30 s before it ends
    "T21_PUBLISH_RETRY_BASE_S": "0.2",
    "T21_PUBLISH_RETRY_MAX_S": "2",
    "T21_PUBLISH_MAX_ATTEMPTS": "20",
    "T21_PLATFORM_TIMEOUT_S": "2",
    "T21_BROKER_IDLE_TIMEOUT_S": "10",  # a killed worker's jobs come back after 10 s
    "T21_WORKER_CONCURRENCY": "20",
    "T21_DATABASE_POOL_SIZE": "5",
    "T21_DATABASE_MAX_OVERFLOW": "5",
    "T21_SHUTDOWN_GRACE_S": "2",
    "T21_LOG_LEVEL": "WARNING",
    # The app's webhook endpoint: a killed worker's deliveries are due again after 6 s, and
    # the receiver answers at once, so more may be in flight than the default 4.
    "T21_WEBHOOK_DISPATCH_INTERVAL_S": "0.5",
    "T21_WEBHOOK_LEASE_S": "5",
    "T21_WEBHOOK_TIMEOUT_S": "2",
    "T21_WEBHOOK_RETRY_BASE_S": "0.2",
    "T21_WEBHOOK_RETRY_MAX_S": "1",
    "T21_WEBHOOK_MAX_IN_FLIGHT": "16",
}
# The events the app's endpoint subscribes to: every target's.
TARGET_EVENTS = sorted(event for event in EVENT_TYPES if event.startswith("target."))
HOOK_PATH = "/chaos-hook"


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Processes:
    """The `t21` processes of the test, each in its own process group, always killed at the end."""

    folder: Path
    env: dict[str, str]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    started: Counter[str] = field(default_factory=Counter)
    killed: int = 0

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> int:
        port = free_port()
        self.started[name] += 1
        log = open(self.folder / f"{name}.{self.started[name]}.log", "wb")  # noqa: SIM115
        try:
            self.running[name] = subprocess.Popen(
                [str(BIN / "t21"), *args, "--port", str(port)],
                cwd=self.folder,
                env=env or self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.ports[name] = port
        return port

    def kill(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            self.killed += 1
        process.wait(timeout=10)

    def kill_all(self, prefix: str = "") -> None:
        for name in list(self.running):
            if name.startswith(prefix):
                self.kill(name)

    def dead(self) -> list[str]:
        return [name for name, process in self.running.items() if process.poll() is not None]

    async def ready(self, name: str, path: str = "/ready") -> None:
        url = f"http://127.0.0.1:{self.ports[name]}{path}"
        deadline = time.monotonic() + START_LIMIT_S
        async with httpx.AsyncClient(verify=tls_context(), timeout=1) as http:
            while time.monotonic() < deadline:
                if self.running[name].poll() is not None:
                    pytest.fail(f"{name} exited at start:\n{self.tail(name)}")
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        pytest.fail(f"{name} was not ready within {START_LIMIT_S} s:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        log = self.folder / f"{name}.{self.started[name]}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def problems(self) -> list[str]:
        """Log lines of every worker that say something went wrong."""
        found: list[str] = []
        for log in sorted(self.folder.glob("worker-*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if "Traceback" in line or "error" in line.lower():
                    found.append(f"{log.name}: {line[:300]}")
        return found

    def tracebacks(self) -> list[str]:
        """Every traceback a worker logged, with the lines after it."""
        found: list[str] = []
        for log in sorted(self.folder.glob("worker-*.log")):
            lines = log.read_text(errors="replace").splitlines()
            for number, line in enumerate(lines):
                if "Traceback" in line:
                    found.append(f"{log.name}:\n" + "\n".join(lines[number : number + 25]))
        return found


def _quick_start(env: dict[str, str]) -> dict[str, str]:
    """Bytecode kept between starts (outside the repository), so a restarted worker is back in
    a second or two rather than compiling every module again."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "t21-test-pycache")
    return env


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    group = Processes(folder=tmp_path, env={})
    try:
        yield group
    finally:
        group.kill_all()


# --- the world: owner, brand, accounts, posts --------------------------------------------------


@dataclass
class Target:
    id: uuid.UUID
    platform: str
    text: str
    status: TargetStatus
    external_id: str | None
    attempts: int
    error: str | None


@dataclass
class Chaos:
    """What was done to the system while it published."""

    seed: int
    faults: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    redelivered: int = 0


def fault(recipe: Recipe, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """A fault for the publishing request of `recipe`'s network, of a kind it takes: a rate
    limit with its wait, a server error, or a response lost after the post was made."""
    kind = rng.choice(recipe.faults)
    return kind, recipe.fault(kind, count=rng.randint(1, 3), wait=rng.randint(1, 2))


def words(platform: str) -> str:
    """The network's name in plain words: LinkedIn's send record holds the text as escaped
    (`_` → `\\_`), and the duplicate check compares the texts' hashes."""
    return platform.replace("_", " ")


async def seed_targets(world: World, accounts: dict[str, list[str]], run: str) -> int:
    """One post per account through the API, the rest with SQL; every target due now. A
    network whose posts need media and options (`Recipe.media`, `Recipe.options`) gets them
    on every post: the file uploaded once, each account's options on each of its targets."""
    counts = {recipe.name: recipe.per_account for recipe in NETWORKS}
    seedings = {
        recipe.name: await seeding(recipe, world, accounts[recipe.name]) for recipe in NETWORKS
    }
    later = (clock.now() + timedelta(hours=1)).isoformat()
    per_account = [
        (platform, account_id, counts[platform])
        for platform, ids in accounts.items()
        for account_id in ids
    ]
    first: dict[str, Any] = {}
    for number, (platform, account_id, _count) in enumerate(per_account):
        response = await world.api.post(
            POSTS,
            json={
                "brand_id": world.brand_id,
                "content": f"Chaos {run} post {number} 0 on {words(platform)}",
                "media_ids": seedings[platform].media_ids,
                "targets": [
                    {
                        "social_account_id": account_id,
                        "options": seedings[platform].options[account_id],
                    }
                ],
                "scheduled_at": later,
            },
            headers=world.owner.headers,
        )
        assert response.status_code == 201, response.text
        first = response.json()
    assert first["status"] == "scheduled"
    now = clock.now()
    posts: list[dict[str, Any]] = []
    targets: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    for number, (platform, account_id, count) in enumerate(per_account):
        for index in range(1, count):
            post_id = uuid.uuid4()
            posts.append(
                {
                    "id": post_id,
                    "organization_id": world.owner.personal_organization_id,
                    "brand_id": uuid.UUID(world.brand_id),
                    "author_id": world.owner.user_id,
                    "content": f"Chaos {run} post {number} {index} on {words(platform)}",
                    "status": PostStatus.SCHEDULED,
                    "scheduled_at": now,
                    "sort_at": now,
                }
            )
            targets.append(
                {
                    "organization_id": world.owner.personal_organization_id,
                    "post_id": post_id,
                    "social_account_id": uuid.UUID(account_id),
                    "platform": platform,
                    "options": seedings[platform].options[account_id],
                    "status": TargetStatus.SCHEDULED,
                    "due_at": now,
                }
            )
            media += [
                {"post_id": post_id, "position": position, "media_id": uuid.UUID(media_id)}
                for position, media_id in enumerate(seedings[platform].media_ids)
            ]
    async with session_scope(world.runtime) as session:
        organization = await session.scalar(select(Post.organization_id).limit(1))
        for row in posts + targets:
            row["organization_id"] = organization
        for start in range(0, len(posts), 1000):
            await session.execute(insert(Post), posts[start : start + 1000])
        for start in range(0, len(targets), 1000):
            await session.execute(insert(PostTarget), targets[start : start + 1000])
        for start in range(0, len(media), 1000):
            await session.execute(insert(PostMedia), media[start : start + 1000])
        await session.execute(update(Post).values(scheduled_at=now, sort_at=now))
        await session.execute(update(PostTarget).values(due_at=now))
        total = await session.scalar(select(func.count()).select_from(PostTarget))
    return int(total or 0)


async def read_targets(world: World) -> list[Target]:
    async with session_scope(world.runtime) as session:
        rows = await session.execute(
            select(PostTarget, Post.content).join(Post, Post.id == PostTarget.post_id)
        )
        return [
            Target(
                id=target.id,
                platform=target.platform,
                text=target.content if target.content is not None else content,
                status=target.status,
                external_id=target.external_id,
                attempts=target.attempts,
                error=target.last_error_code,
            )
            for target, content in rows.all()
        ]


async def statuses(world: World) -> Counter[str]:
    async with session_scope(world.runtime) as session:
        rows = await session.execute(
            select(PostTarget.status, func.count()).group_by(PostTarget.status)
        )
        return Counter({status.value: count for status, count in rows.all()})


# --- the test ----------------------------------------------------------------------------------


@pytest.fixture
async def cluster(
    tmp_path: Path, processes: Processes, settings_factory: Any, empty_pg_database: str
) -> AsyncIterator[tuple[World, Processes, Settings]]:
    """A sandbox process, a fresh migrated database, the API in-process and WORKERS workers."""
    assert TEST_REDIS_URL is not None
    sandbox_port = processes.start(
        "sandbox",
        "sandbox",
        env=clean_env(T21_LOG_LEVEL="WARNING", T21_SANDBOX_REFUSE_DUPLICATES="false"),
    )
    await processes.ready("sandbox", "/")
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    settings: Settings = settings_factory(
        database_url=empty_pg_database,
        sandbox_url=sandbox,
        public_url="http://testserver",
        frontend_url=FRONT_END,
        rate_limit_enabled=False,
        log_level="WARNING",
        plan_limits=PLAN_LIMITS,
    )
    await migrations.upgrade(settings)
    processes.env = _quick_start(
        clean_env(
            T21_ENV="test",
            T21_SECRET_KEY=TEST_SECRET,
            T21_DATABASE_URL=settings.resolved_database_url,
            T21_REDIS_URL=TEST_REDIS_URL,
            T21_REDIS_PREFIX=settings.redis_prefix,
            T21_SANDBOX_URL=sandbox,
            T21_DATA_DIR=str(tmp_path / "var"),
            T21_PLAN_LIMITS=json.dumps(PLAN_LIMITS),
            **WORKER_SETTINGS,
            **_self_check(),
        )
    )
    app = create_app(settings, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            brand = await api.post("/api/v1/brands", json={"name": "Acme"}, headers=owner.headers)
            assert brand.status_code == 201, brand.text
            world = World(
                app=app, api=api, sandbox=sandbox, owner=owner, brand_id=brand.json()["id"]
            )
            yield world, processes, settings


def _self_check() -> dict[str, str]:
    """The test-only switch that disables the claim's compare-and-set, passed on to the workers
    when the test runs as its own self-check (it must then fail)."""
    value = os.environ.get(DISABLE_CLAIM_CAS_ENV)
    return {DISABLE_CLAIM_CAS_ENV: value} if value else {}


async def connect_accounts(world: World) -> dict[str, list[str]]:
    """Each network's accounts, connected through the API as its recipe says."""
    accounts: dict[str, list[str]] = {}
    for recipe in NETWORKS:
        assert world.control(recipe.name, "GET", "/duplicates", None) == {"refuse": False}
        accounts[recipe.name] = await recipe.connect(world, recipe.accounts)
        assert len(accounts[recipe.name]) == recipe.accounts, (recipe.name, accounts)
    return accounts


async def wreak(world: World, processes: Processes, chaos: Chaos, until: float) -> None:
    """Kill a worker every few seconds (restarted a moment later), keep faults coming, and
    deliver some taken targets' publish jobs again every second."""
    rng = random.Random(chaos.seed)
    weights = [recipe.targets for recipe in NETWORKS]
    next_kill = time.monotonic() + rng.uniform(2, 5)
    next_redelivery = time.monotonic() + REDELIVER_EVERY_S
    async with httpx.AsyncClient(verify=tls_context(), base_url=world.sandbox, timeout=10) as http:
        while time.monotonic() < until:
            [recipe] = rng.choices(NETWORKS, weights=weights)
            kind, body = fault(recipe, rng)
            answer = await http.post(f"/{recipe.name}/_control/faults", json=body)
            assert answer.status_code == 200, answer.text
            chaos.faults[f"{recipe.name} {kind}"] += 1
            if time.monotonic() >= next_redelivery:
                chaos.redelivered += await redeliver(world)
                next_redelivery += REDELIVER_EVERY_S
            if time.monotonic() >= next_kill:
                victim = rng.choice(sorted(processes.running.keys() - {"sandbox"}))
                processes.kill(victim)
                chaos.kills += 1
                await asyncio.sleep(rng.uniform(0.2, 1.5))
                processes.start(victim, "worker")
                next_kill = time.monotonic() + rng.uniform(3, 6)
            await asyncio.sleep(rng.uniform(0.1, 0.4))


async def redeliver(world: World) -> int:
    """A broker's redelivery: the publish job of a few targets already taken (publishing, or
    published since) sent again, as a queue does when a worker's acknowledgement is lost. The
    claim's compare-and-set must make it harmless; without it each is a second send."""
    async with session_scope(world.runtime) as session:
        taken = list(
            await session.scalars(
                select(PostTarget.id)
                .where(PostTarget.status.in_([TargetStatus.PUBLISHING, TargetStatus.PUBLISHED]))
                .order_by(func.random())
                .limit(REDELIVER_TARGETS)
            )
        )
        enqueue_publishing(taken, batch=len(taken) or 1)
    return len(taken)


async def create_endpoint(world: World, receiver: Receiver) -> None:
    """The app's webhook endpoint for every target event, made through the API; the receiver
    verifies each delivery with its secret as it arrives (a run can outlast the signature's
    five-minute tolerance)."""
    answer = await world.api.post(
        WEBHOOKS,
        json={"url": receiver.url(HOOK_PATH), "events": TARGET_EVENTS},
        headers=world.owner.headers,
    )
    assert answer.status_code == 201, answer.text
    receiver.secret = answer.json()["secret"]


async def undelivered(world: World) -> int:
    """Deliveries still waiting for an attempt (due, claimed or retrying)."""
    async with session_scope(world.runtime) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
        )
    return int(count or 0)


async def test_workers_killed_and_networks_failing_publish_every_target_once_or_say_so(
    cluster: tuple[World, Processes, Settings], receiver: Receiver, record_property: Any
) -> None:
    world, processes, _settings = cluster
    await create_endpoint(world, receiver)
    accounts = await connect_accounts(world)
    names = [f"worker-{number}" for number in range(WORKERS)]
    for name in names:
        processes.start(name, "worker")
    for name in names:
        await processes.ready(name)
    run = uuid.uuid4().hex[:8]
    total = await seed_targets(world, accounts, run)
    due = time.monotonic()
    chaos = Chaos(seed=random.SystemRandom().randrange(2**32))
    wreaking = asyncio.create_task(wreak(world, processes, chaos, due + CHAOS_S))
    counts: Counter[str] = Counter()
    waiting = -1
    try:
        while time.monotonic() < due + SETTLE_LIMIT_S:
            await asyncio.sleep(1)
            if wreaking.done():
                wreaking.result()
                for name in [n for n in processes.dead() if n.startswith("worker")]:
                    processes.start(name, "worker")
            counts = await statuses(world)
            if wreaking.done() and sum(counts[s.value] for s in SETTLED) == total:
                # Settled targets record no more events: the workers drain their deliveries.
                waiting = await undelivered(world)
                if waiting == 0:
                    break
    finally:
        wreaking.cancel()
        kills = processes.killed  # SIGKILLs of live workers while they worked, not the cleanup
        processes.kill_all("worker")
    elapsed = time.monotonic() - due
    targets = await read_targets(world)
    sends = read_sends(world)
    hooks = await delivered_events(world, receiver)
    figures = Figures.of(targets, sends, kills, hooks)
    report = f"{figures}\n" + describe(chaos, counts, targets, elapsed) + f"\n{hooks.describe()}"
    print(f"\nchaos figures: {figures}")  # noqa: T201 - the run's figures, asked for in CI
    record_property("chaos figures", str(figures))  # and in the run's summary (tests/conftest.py)
    # First what matters most: nothing sent twice, whatever state the targets are in.
    check_sent_at_most_once(targets, sends, report)
    unsettled = [target for target in targets if target.status not in SETTLED]
    assert not unsettled, (
        f"{len(unsettled)} targets were not settled {SETTLE_LIMIT_S:.0f} s after they were due.\n"
        + report
        + "\nSome of them:\n"
        + "\n".join(f"  {t}" for t in unsettled[:15])
        + "\nWorker log lines:\n"
        + "\n".join(processes.problems()[-40:])
    )
    review = check_networks(world, targets, report)
    check_deliveries(hooks, waiting, report)
    tracebacks = processes.tracebacks()
    assert not tracebacks, f"workers logged {len(tracebacks)} tracebacks:\n" + "\n".join(
        tracebacks[:3]
    )
    # The chaos really happened, and the system still did its work.
    assert figures.kills >= 1, f"no worker was killed while it worked\n{report}"
    assert figures.lost >= 1, f"no answer was lost after the network posted\n{report}"
    assert chaos.redelivered >= 1, f"no publish job was delivered twice\n{report}"
    assert figures.published >= MIN_PUBLISHED, f"too few published\n{report}"
    assert figures.review <= MAX_NEEDS_REVIEW, f"too many left for review\n{report}"
    assert figures.failed <= MAX_FAILED, f"too many failed\n{report}"
    # Each published target counted once toward the month, however often it was attempted.
    async with session_scope(world.runtime) as session:
        counted = await usage.usage(session, world.owner.personal_organization_id)
    assert counted[usage.Metric.PUBLISHED_POSTS] == figures.published, report
    logging.getLogger(__name__).warning("%s\nleft for review: %s", report, review)


@dataclass(frozen=True)
class Figures:
    """What a run did: sends the networks received, workers killed, answers lost after the
    post was made, and where the targets ended."""

    sends: int
    kills: int
    lost: int
    targets: int
    published: int
    review: int
    failed: int
    events: int
    deliveries: int
    delivered: int

    @classmethod
    def of(
        cls, targets: list[Target], sends: list[dict[str, Any]], kills: int, hooks: Hooks
    ) -> Figures:
        statuses = Counter(target.status for target in targets)
        return cls(
            sends=len(sends),
            kills=kills,
            lost=sum(1 for send in sends if send["outcome"] == "fault-injected-after-effect"),
            targets=len(targets),
            published=statuses[TargetStatus.PUBLISHED],
            review=statuses[TargetStatus.NEEDS_REVIEW],
            failed=statuses[TargetStatus.FAILED],
            events=len(hooks.events),
            deliveries=hooks.deliveries,
            delivered=len(hooks.events.keys() & hooks.by_webhook_id.keys()),
        )

    def __str__(self) -> str:
        return (
            f"sends {self.sends}, kills {self.kills}, lost responses {self.lost}, published "
            f"{self.published}, needs_review {self.review} "
            f"({100 * self.review / max(1, self.targets):.1f} % of {self.targets}), "
            f"failed {self.failed}; webhooks: {self.events} target events, {self.delivered} "
            f"delivered, {self.deliveries} deliveries received"
        )


@dataclass
class Hooks:
    """The `target.*` events of the log, and what the app's receiver got."""

    events: dict[str, str]  # event id -> type
    deliveries: int
    # Every event id the deliveries of one `webhook-id` carried.
    by_webhook_id: dict[str, set[str]]
    unverified: list[str]
    # The deliveries' rows at the end: status, attempts made, last error.
    rows: Counter[str]

    def describe(self) -> str:
        return "deliveries: " + ", ".join(f"{name} {n}" for name, n in self.rows.most_common(8))


async def delivered_events(world: World, receiver: Receiver) -> Hooks:
    async with session_scope(world.runtime) as session:
        rows = await session.execute(
            select(Event.id, Event.type).where(Event.type.in_(TARGET_EVENTS))
        )
        events: dict[str, str] = {str(event_id): str(type_) for event_id, type_ in rows.all()}
        deliveries = await session.execute(
            select(WebhookDelivery.status, WebhookDelivery.attempts, WebhookDelivery.last_error)
        )
        states = Counter(
            f"{status.value} after {attempts} attempts"
            + (f" ({error[:60]})" if error and status is not DeliveryStatus.SUCCEEDED else "")
            for status, attempts, error in deliveries.all()
        )
    by_webhook_id: dict[str, set[str]] = {}
    unverified: list[str] = []
    received = receiver.at(HOOK_PATH)
    for delivery in received:
        webhook_id = delivery.headers.get("webhook-id", "")
        payload = delivery.on_arrival
        if not isinstance(payload, dict):
            unverified.append(f"{webhook_id or '(no webhook-id)'}: {payload!r}")
            continue
        by_webhook_id.setdefault(webhook_id, set()).add(str(payload["id"]))
    return Hooks(events, len(received), by_webhook_id, unverified, states)


def check_deliveries(hooks: Hooks, waiting: int, report: str) -> None:
    """Every delivery signed with the endpoint's secret, every `webhook-id` one event, and
    every target event delivered at least once, killed workers or not."""
    assert not hooks.unverified, (
        f"{len(hooks.unverified)} deliveries did not verify with the endpoint's secret: "
        f"{hooks.unverified[:5]}\n{report}"
    )
    several = {wid: ids for wid, ids in hooks.by_webhook_id.items() if len(ids) != 1}
    assert not several, f"webhook-ids carrying several events: {list(several.items())[:5]}"
    missing = sorted(hooks.events.keys() - hooks.by_webhook_id.keys())
    assert hooks.events, f"the run recorded no target event\n{report}"
    drain = (
        f"{waiting} deliveries still pending at the end"
        if waiting >= 0
        else "the targets never all settled, so the drain was not waited for"
    )
    assert not missing, (
        f"{len(missing)} of {len(hooks.events)} target events never reached the endpoint "
        f"({drain}): " + ", ".join(f"{m} {hooks.events[m]}" for m in missing[:10]) + f"\n{report}"
    )


def read_sends(world: World) -> list[dict[str, Any]]:
    """Every publish request the networks received, each with its network."""
    found: list[dict[str, Any]] = []
    for recipe in NETWORKS:
        for send in world.control(recipe.name, "GET", "/sends", None)["sends"]:
            found.append(send | {"network": recipe.name})
    return found


def check_sent_at_most_once(
    targets: list[Target], sends: list[dict[str, Any]], report: str
) -> None:
    """For every target, at most one send that posted or may have posted, whatever T21 recorded:
    the networks accept a second send (duplicate refusal is off), so it would be seen here."""
    may_have_posted = Counter(
        (send["network"], send["text_sha256"])
        for send in sends
        if send["outcome"] in MAY_HAVE_POSTED
    )
    twice = [
        f"  {target.platform} target {target.id} ({target.status.value}, {target.attempts} "
        f"attempts): {may_have_posted[key]} sends"
        for target in targets
        if may_have_posted[key := (target.platform, text_digest(target.text))] > 1
    ]
    assert not twice, (
        f"{len(twice)} targets were sent more than once:\n" + "\n".join(twice[:15]) + f"\n{report}"
    )


def describe(chaos: Chaos, counts: Counter[str], targets: list[Target], elapsed: float) -> str:
    by_outcome = Counter(f"{t.platform} {t.status.value}" for t in targets)
    errors = Counter(f"{t.status.value}: {t.error}" for t in targets if t.error)
    attempts = Counter(t.attempts for t in targets)
    lines = [
        f"chaos seed {chaos.seed}: {len(targets)} targets, {chaos.kills} workers killed, "
        f"{sum(chaos.faults.values())} faults injected, {chaos.redelivered} taken targets' "
        f"jobs delivered again, {elapsed:.0f} s after they were due",
        "faults: " + ", ".join(f"{name} {n}" for name, n in sorted(chaos.faults.items())),
        "outcomes: " + ", ".join(f"{name} {n}" for name, n in sorted(by_outcome.items())),
        "last errors: " + ", ".join(f"{name} {n}" for name, n in errors.most_common()),
        "attempts: " + ", ".join(f"{k}×{n}" for k, n in sorted(attempts.items())),
        f"last statuses seen: {dict(counts)}",
    ]
    return "\n".join(lines)


def check_networks(world: World, targets: list[Target], report: str) -> str:
    """Each network's own record against the targets: nothing received twice, every published
    target there under its external id, nothing there that isn't a published target or one
    waiting for review (failed ones included). Says how many of those waiting were posted."""
    seen: dict[str, tuple[int, int]] = {}
    for recipe in NETWORKS:
        network = recipe.name
        received = world.control(network, "GET", "/published", None)["published"]
        texts = Counter(recipe.text_of(post) for post in received)
        twice = [text for text, n in texts.items() if n > 1]
        assert not twice, f"{network} received the same post twice: {twice[:10]}\n{report}"
        at_network = {recipe.text_of(post): recipe.id_of(post) for post in received}
        mine = [target for target in targets if target.platform == network]
        published = [target for target in mine if target.status is TargetStatus.PUBLISHED]
        for target in published:
            assert at_network.get(target.text) == target.external_id, (
                f"{network}: target {target.id} is published as {target.external_id}, the "
                f"network has {at_network.get(target.text)} for its text\n{report}"
            )
        review = {t.text for t in mine if t.status is TargetStatus.NEEDS_REVIEW}
        failed = {t.text for t in mine if t.status is TargetStatus.FAILED}
        extra = set(at_network) - {target.text for target in published}
        assert extra <= review, (
            f"{network} has {len(extra - review)} posts that no published target accounts for "
            f"(of them {len(extra & failed)} from targets marked failed): "
            f"{sorted(extra - review)[:10]}\n{report}"
        )
        assert len(received) == len(published) + len(extra)
        seen[network] = (len(review & set(at_network)), len(review - set(at_network)))
    return ", ".join(
        f"{network} {there} there and {absent} not" for network, (there, absent) in seen.items()
    )
