"""Chaos: `t21 worker` processes deliver a few hundred events to a loopback receiver on
PostgreSQL and Redis while workers are killed with SIGKILL and restarted, the broker's queue is
deleted once, and the receiver answers some requests with 500s or too slowly. At the end every
event reached every endpoint that wants it at least once, and every `webhook-id` maps to one
event (the same signed body each time it came).

The API runs in the test's process (it only records events and enqueues: the workers run every
job). Events are recorded while the chaos runs, in small transactions like state changes.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from standardwebhooks import Webhook

from t21.api import create_app
from t21.core import migrations
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope
from t21.events.service import record_event
from t21.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.conftest import TEST_REDIS_URL, TEST_SECRET
from tests.publishing.test_chaos import Processes, _quick_start
from tests.support.accounts import register
from tests.support.processes import clean_env

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

WORKERS = 3
EVENTS = 300
TYPES = ["post.published", "post.failed", "target.retrying"]
CHAOS_S = 15.0
SETTLE_LIMIT_S = 90.0
FAILURE_RATE = 0.15  # answers that are a 500 or too slow
SLOW_S = 1.5  # longer than the workers' timeout

WORKER_SETTINGS = {
    "T21_WEBHOOK_DISPATCH_INTERVAL_S": "0.3",
    "T21_WEBHOOK_RETRY_BASE_S": "0.2",
    "T21_WEBHOOK_RETRY_MAX_S": "1",
    "T21_WEBHOOK_TIMEOUT_S": "1",
    "T21_WEBHOOK_LEASE_S": "5",  # a killed worker's claims are due again after 6 s
    "T21_WEBHOOK_MAX_IN_FLIGHT": "8",
    "T21_BROKER_IDLE_TIMEOUT_S": "10",
    "T21_WORKER_CONCURRENCY": "20",
    "T21_DATABASE_POOL_SIZE": "5",
    "T21_DATABASE_MAX_OVERFLOW": "5",
    "T21_SHUTDOWN_GRACE_S": "2",
    "T21_LOG_LEVEL": "WARNING",
}


@dataclass
class FlakyReceiver:
    """Records every request; answers a share of them with a 500 or too late."""

    seed: int
    base_url: str = ""
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def answer(self) -> tuple[int, float]:
        with self.lock:
            roll = self.rng.random()
        if roll < FAILURE_RATE / 2:
            return 500, 0.0
        if roll < FAILURE_RATE:
            return 200, SLOW_S
        return 200, 0.0


@pytest.fixture
def flaky() -> Iterator[FlakyReceiver]:
    receiver = FlakyReceiver(seed=random.SystemRandom().randrange(2**32))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.received.append((self.path, headers, body))
            status, delay = receiver.answer()
            if delay:
                time.sleep(delay)
            with receiver.lock:
                receiver.answers[f"{status}{' late' if delay else ''}"] += 1
            try:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    group = Processes(folder=tmp_path, env={})
    try:
        yield group
    finally:
        group.kill_all()


@dataclass
class Cluster:
    api: httpx.AsyncClient
    runtime: Runtime
    settings: Settings
    processes: Processes
    organization_id: uuid.UUID
    headers: dict[str, str]


@pytest.fixture
async def cluster(
    tmp_path: Path, processes: Processes, settings_factory: Any, empty_pg_database: str
) -> AsyncIterator[Cluster]:
    assert TEST_REDIS_URL is not None
    settings: Settings = settings_factory(
        database_url=empty_pg_database, rate_limit_enabled=False, log_level="WARNING"
    )
    await migrations.upgrade(settings)
    processes.env = _quick_start(
        clean_env(
            T21_ENV="test",
            T21_SECRET_KEY=TEST_SECRET,
            T21_DATABASE_URL=settings.resolved_database_url,
            T21_REDIS_URL=TEST_REDIS_URL,
            T21_REDIS_PREFIX=settings.redis_prefix,
            T21_DATA_DIR=str(tmp_path / "var"),
            **WORKER_SETTINGS,
        )
    )
    app = create_app(settings, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            owner = await register(api)
            yield Cluster(
                api=api,
                runtime=app.state.runtime,
                settings=settings,
                processes=processes,
                organization_id=owner.personal_organization_id,
                headers=owner.headers,
            )


async def record_events(
    cluster: Cluster, rng: random.Random, until: float
) -> list[tuple[str, str]]:
    """EVENTS events in small transactions spread over the chaos; (id, type) of each."""
    recorded: list[tuple[str, str]] = []
    pause = (until - time.monotonic()) / (EVENTS / 5)
    while len(recorded) < EVENTS:
        async with session_scope(cluster.runtime) as session:
            for _ in range(min(5, EVENTS - len(recorded))):
                kind = rng.choice(TYPES)
                event = await record_event(
                    session,
                    organization_id=cluster.organization_id,
                    type=kind,
                    data={"n": len(recorded)},
                )
                recorded.append((event.id, kind))
        await asyncio.sleep(max(0.0, pause * rng.uniform(0.5, 1.5)))
    return recorded


async def wreak(cluster: Cluster, rng: random.Random, until: float) -> int:
    """Kill a worker every couple of seconds (restarted a moment later); delete the broker's
    keys once, halfway. How many workers were killed."""
    processes = cluster.processes
    kills = 0
    flushed = False
    halfway = until - CHAOS_S / 2
    while time.monotonic() < until:
        await asyncio.sleep(rng.uniform(1.0, 3.0))
        victim = rng.choice(sorted(processes.running))
        processes.kill(victim)
        kills += 1
        await asyncio.sleep(rng.uniform(0.2, 1.0))
        processes.start(victim, "worker")
        if not flushed and time.monotonic() >= halfway:
            flushed = True
            redis = Redis.from_url(TEST_REDIS_URL or "")
            try:
                keys = [key async for key in redis.scan_iter(f"{cluster.settings.redis_prefix}*")]
                if keys:
                    await redis.delete(*keys)
            finally:
                await redis.aclose()
    return kills


async def pending(cluster: Cluster) -> int:
    async with session_scope(cluster.runtime) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status != DeliveryStatus.SUCCEEDED)
        )
    return int(count or 0)


async def test_killed_workers_and_a_flushed_broker_lose_no_event_and_mix_up_no_webhook_id(
    cluster: Cluster, flaky: FlakyReceiver
) -> None:
    endpoints: dict[str, str] = {}
    for path, events in (("/all", None), ("/published", ["post.published"])):
        fields: dict[str, Any] = {"url": flaky.base_url + path}
        if events:
            fields["events"] = events
        response = await cluster.api.post("/api/v1/webhooks", json=fields, headers=cluster.headers)
        assert response.status_code == 201, response.text
        endpoints[path] = response.json()["secret"]

    names = [f"worker-{n}" for n in range(WORKERS)]
    for name in names:
        cluster.processes.start(name, "worker")
    for name in names:
        await cluster.processes.ready(name)

    rng = random.Random(flaky.seed)
    until = time.monotonic() + CHAOS_S
    wreaking = asyncio.create_task(wreak(cluster, rng, until))
    recorded = await record_events(cluster, random.Random(flaky.seed + 1), until)
    kills = await wreaking
    deadline = time.monotonic() + SETTLE_LIMIT_S
    while (left := await pending(cluster)) and time.monotonic() < deadline:
        for name in cluster.processes.dead():
            cluster.processes.start(name, "worker")
        await asyncio.sleep(1)
    cluster.processes.kill_all()

    report = (
        f"seed {flaky.seed}: {len(recorded)} events, {kills} workers killed, "
        f"{len(flaky.received)} requests, answers {dict(flaky.answers)}"
    )
    assert left == 0, f"{left} deliveries not delivered.\n{report}\n" + "\n".join(
        cluster.processes.problems()[-30:]
    )
    expected = {
        "/all": {event_id for event_id, _ in recorded},
        "/published": {event_id for event_id, kind in recorded if kind == "post.published"},
    }
    bodies: dict[str, set[bytes]] = defaultdict(set)
    seen: dict[str, set[str]] = defaultdict(set)
    for path, headers, body in flaky.received:
        payload = Webhook(endpoints[path]).verify(body, headers)
        assert payload["id"] == headers["webhook-id"], report
        bodies[headers["webhook-id"]].add(body)
        seen[path].add(headers["webhook-id"])
    for path, wanted in expected.items():
        assert seen[path] == wanted, f"{path}: {len(wanted - seen[path])} missing\n{report}"
    mixed = [webhook_id for webhook_id, sent in bodies.items() if len(sent) != 1]
    assert not mixed, f"webhook-ids sent with different bodies: {mixed[:5]}\n{report}"
    types = dict(recorded)
    for webhook_id, [body] in ((k, list(v)) for k, v in bodies.items()):
        assert json.loads(body)["type"] == types[webhook_id], report
