"""The job queue: jobs run (in memory or through Redis Streams), failures are contained, and a
job whose worker vanished before acknowledging it is delivered again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from t21.core.metrics import REGISTRY
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.worker.jobs import enqueue
from t21.worker.queue import JobQueue
from tests.support.jobs import chain, fail, observed


@pytest.fixture(autouse=True)
def _reset_observations() -> None:
    observed.seen.clear()
    observed.runs = 0


def _metric(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


async def test_jobs_enqueued_by_jobs_are_drained_too(runtime: Runtime, jobs: JobQueue) -> None:
    async with session_scope(runtime):
        enqueue(chain, depth=4)
    await jobs.drain(timeout=10)
    assert observed.runs == 5


async def test_a_failing_job_is_counted_and_the_queue_keeps_working(
    runtime: Runtime, jobs: JobQueue
) -> None:
    before = _metric("t21_job_runs_total", job="tests.fail", outcome="error")
    async with session_scope(runtime):
        enqueue(fail, reason="boom")
        enqueue(chain, depth=0)
    await jobs.drain(timeout=10)
    assert observed.runs == 2
    assert _metric("t21_job_runs_total", job="tests.fail", outcome="error") == before + 1
    assert _metric("t21_job_runs_total", job="tests.chain", outcome="ok") >= 1


async def test_drain_refuses_when_jobs_run_elsewhere(settings_factory: Any) -> None:
    queue = JobQueue(settings_factory())
    with pytest.raises(RuntimeError, match="track_jobs"):
        await queue.drain(timeout=1)


async def _wait_until(predicate: Any, timeout: float = 15.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout=timeout)


@pytest.mark.redis
async def test_a_worker_process_runs_jobs_sent_by_an_api_process(settings_factory: Any) -> None:
    from t21.runtime import open_runtime

    settings = settings_factory()
    async with open_runtime(settings, consume_jobs=False, run_loops=False) as api:
        async with session_scope(api):
            enqueue(chain, depth=2)
        assert observed.runs == 0, "an API-only process ran a job itself"
        async with open_runtime(settings, consume_jobs=True, run_loops=False):
            await _wait_until(lambda: observed.runs == 3)


@pytest.mark.redis
async def test_an_unacknowledged_job_is_delivered_again_after_the_idle_timeout(
    settings_factory: Any,
) -> None:
    """taskiq-redis reclaims idle messages when a read brings new ones, so the lost job comes
    back with the next traffic; the database loops re-enqueue due work regardless."""
    from redis.asyncio import Redis

    from t21.runtime import open_runtime

    settings = settings_factory(broker_idle_timeout_s=1)
    stream, group = f"{settings.redis_prefix}:jobs", f"{settings.redis_prefix}:workers"
    async with open_runtime(settings, consume_jobs=False, run_loops=False) as api:
        async with session_scope(api):
            enqueue(chain, depth=0)
        # A worker takes the message and dies before acknowledging it.
        assert settings.redis_url is not None
        redis = Redis.from_url(settings.redis_url)
        try:
            taken = await redis.xreadgroup(group, "worker-that-died", {stream: ">"}, count=1)
            assert len(taken) == 1
        finally:
            await redis.aclose()
        await asyncio.sleep(settings.broker_idle_timeout_s + 0.2)
        async with open_runtime(settings, consume_jobs=True, run_loops=False):
            async with session_scope(api):
                enqueue(chain, depth=0)
            await _wait_until(lambda: observed.runs == 2)
