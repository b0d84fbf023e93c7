"""The job queue: taskiq's in-memory broker inside `t21 serve`, Redis Streams when scaled out.

The broker carries wake-ups only; every job re-reads its state from the database. A message
can therefore be lost (the loops re-enqueue what is due) or delivered twice (a job's first
statement is a compare-and-set) without harm. Redis Streams redelivers a message that was
never acknowledged after `T21_BROKER_IDLE_TIMEOUT_S`. A worker's consumer outlives broker
faults (`t21.worker.stream`); while it can't read, `/ready` says so, and `/health` too once
that lasts longer than `T21_BROKER_DOWN_LIMIT_S`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from taskiq import AsyncBroker, InMemoryBroker, TaskiqMessage, TaskiqMiddleware, TaskiqResult
from taskiq.kicker import AsyncKicker
from taskiq.receiver import Receiver

from t21.core import metrics, tracing
from t21.core.ids import uuid7
from t21.core.logging import get_logger
from t21.core.runtime import ConsumerDown, PendingJob
from t21.core.settings import Settings
from t21.worker.jobs import registered_jobs
from t21.worker.stream import ConsumerHealth, HealingStreamBroker

log = get_logger("t21.jobs")

# How long one read of the Redis stream waits for messages (and so the shutdown latency).
READ_BLOCK_S = 1.0
# A broker that doesn't answer within this is treated as down (longer than a blocking read).
BROKER_SOCKET_TIMEOUT_S = READ_BLOCK_S + 4.0
# Pause before a receiver that ended anyway is started again.
RECEIVER_RESTART_S = 1.0


class _Observe(TaskiqMiddleware):
    """Logs, metrics and the in-flight ledger around each job execution."""

    def __init__(self, queue: JobQueue) -> None:
        super().__init__()
        self.queue = queue
        self.started: dict[str, float] = {}
        self.spans: dict[str, object | None] = {}

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        self.spans[message.task_id] = tracing.attach_job_span(
            message.task_name, message.task_id, message.labels
        )
        structlog.contextvars.bind_contextvars(job=message.task_name, job_id=message.task_id)
        self.started[message.task_id] = time.perf_counter()
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        tracing.detach_job_span(
            self.spans.pop(message.task_id, None),
            error=result.error if result.is_err else None,
        )
        elapsed = time.perf_counter() - self.started.pop(message.task_id, time.perf_counter())
        outcome = "error" if result.is_err else "ok"
        metrics.JOB_RUNS.labels(message.task_name, outcome).inc()
        metrics.JOB_DURATION.labels(message.task_name).observe(elapsed)
        if result.is_err:
            log.error(
                "job failed",
                job=message.task_name,
                job_id=message.task_id,
                error=repr(result.error),
                duration_s=round(elapsed, 4),
            )
        structlog.contextvars.unbind_contextvars("job", "job_id")
        self.queue._settle(message.task_id)


class JobQueue:
    """Sends jobs to the broker and, where this process consumes, runs them."""

    def __init__(self, settings: Settings, *, track_jobs: bool = False) -> None:
        self.settings = settings
        self.health = ConsumerHealth()
        # Tracking lets tests wait for every job they caused; only meaningful when the jobs run
        # in this process, so production leaves it off.
        self._tracking = track_jobs
        self.broker = self._build_broker(settings, self.health)
        self.broker.add_middlewares(_Observe(self))
        for name, declared in registered_jobs().items():
            self.broker.register_task(declared.fn, task_name=name)
        self._inflight: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._consumer: asyncio.Task[None] | None = None
        self._finish = asyncio.Event()
        self._started = False

    @staticmethod
    def _build_broker(settings: Settings, health: ConsumerHealth) -> AsyncBroker:
        if settings.redis_url is None:
            return InMemoryBroker(max_async_tasks=settings.worker_concurrency)
        return HealingStreamBroker(
            settings.redis_url,
            health=health,
            retry_max_s=settings.broker_retry_max_s,
            claim_interval_s=settings.broker_claim_interval_s,
            trim_interval_s=settings.broker_trim_interval_s,
            queue_name=f"{settings.redis_prefix}:jobs",
            consumer_group_name=f"{settings.redis_prefix}:workers",
            idle_timeout=settings.broker_idle_timeout_s * 1000,
            xread_block=int(READ_BLOCK_S * 1000),
            socket_timeout=BROKER_SOCKET_TIMEOUT_S,
            socket_connect_timeout=BROKER_SOCKET_TIMEOUT_S,
            # A pooled connection a restarted Redis closed fails once, then reconnects: a send
            # is retried (a wake-up sent twice is harmless) rather than failing the unit of work.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )

    @property
    def kind(self) -> str:
        return "memory" if isinstance(self.broker, InMemoryBroker) else "redis"

    @property
    def consumes_in_process(self) -> bool:
        return isinstance(self.broker, InMemoryBroker) or self._consumer is not None

    async def start(self, *, consume: bool) -> None:
        """Connect; with `consume`, also run jobs from the broker in this process."""
        if self._started:
            return
        self.broker.is_worker_process = consume
        await self.broker.startup()
        self._started = True
        if consume and not isinstance(self.broker, InMemoryBroker):
            self._consumer = asyncio.create_task(self._consume(), name="t21-job-consumer")

    async def _consume(self) -> None:
        """taskiq's receiver, started again should it ever end before shutdown (the broker's
        `listen()` already waits out broker errors; this guards against anything else)."""
        while not self._finish.is_set():
            receiver = Receiver(
                self.broker,
                run_startup=False,
                max_async_tasks=self.settings.worker_concurrency,
                wait_tasks_timeout=self.settings.shutdown_grace_s,
            )
            try:
                await receiver.listen(self._finish)
            except Exception as exc:
                self.health.failed(exc)
                log.exception("job receiver failed; starting it again")
            if not self._finish.is_set():
                await asyncio.sleep(RECEIVER_RESTART_S)

    @property
    def consumer_down_for(self) -> float:
        """Seconds this process's consumer has been unable to read the broker (0 when it reads
        or when this process doesn't consume from Redis)."""
        return self.health.down_for() if self._consumer is not None else 0.0

    @property
    def recovered_at(self) -> datetime | None:
        """When this process's consumer last read the broker again after a fault."""
        return self.health.recovered_at

    def on_recovered(self, listener: Callable[[], None]) -> None:
        """Call `listener` each time the consumer reads the broker again after a fault."""
        self.health.listeners.append(listener)

    async def stop(self) -> None:
        """Stop consuming, let running jobs finish (within the grace period), disconnect."""
        if not self._started:
            return
        self._finish.set()
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            done, _ = await asyncio.wait({consumer}, timeout=0.2)
            if not done and isinstance(self.broker, HealingStreamBroker):
                self.broker.closing = True
                # A blocked stream read sometimes ignores cancellation; closing the pool's
                # own sockets ends it. Running jobs acknowledge through the sending pool.
                await self.broker.read_pool.disconnect(inuse_connections=True)
            # Never wait without bound: a broker connection stuck mid-read must not hang shutdown.
            if not done:
                done, _ = await asyncio.wait({consumer}, timeout=self.settings.shutdown_grace_s + 5)
            if not done:
                consumer.cancel()
                done, _ = await asyncio.wait({consumer}, timeout=2)
            if not done:
                log.warning("job consumer did not stop in time; abandoning it")
            elif not consumer.cancelled() and consumer.exception() is not None:
                log.error("job consumer stopped with an error", error=repr(consumer.exception()))
        if isinstance(self.broker, InMemoryBroker):
            running = list(self.broker._running_tasks)
            if running:
                await asyncio.wait(running, timeout=self.settings.shutdown_grace_s)
        await self.broker.shutdown()
        self._started = False

    async def send(self, jobs: Sequence[PendingJob]) -> None:
        for pending in jobs:
            task_id = uuid7().hex
            if self._tracking:
                self._inflight.add(task_id)
                self._idle.clear()
            try:
                await (
                    AsyncKicker(pending.name, self.broker, tracing.carrier())
                    .with_task_id(task_id)
                    .kiq(**pending.kwargs)
                )
            except BaseException:
                self._settle(task_id)
                raise
            metrics.JOBS_SENT.labels(pending.name).inc()

    async def ping(self) -> None:
        if isinstance(self.broker, HealingStreamBroker):
            from redis.asyncio import Redis

            async with Redis(connection_pool=self.broker.connection_pool) as conn:
                await conn.ping()
        if self._consumer is not None and self._consumer.done():
            raise RuntimeError("the job consumer has stopped")
        if self._consumer is not None and not self.health.up:
            raise ConsumerDown(self.health.error)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every job sent from this process (and those they sent) has run here."""
        if not (self._tracking and self.consumes_in_process):
            raise RuntimeError("drain() needs track_jobs=True and jobs consumed in this process")
        await asyncio.wait_for(self._idle.wait(), timeout=timeout)

    def _settle(self, task_id: str) -> None:
        self._inflight.discard(task_id)
        if not self._inflight:
            self._idle.set()
