"""Periodic loops: one unit of work per iteration, errors contained, batches drained, clean stop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from t21.core.metrics import REGISTRY
from t21.core.runtime import Runtime
from t21.core.uow import session_scope
from t21.notifications.models import OutboundEmail
from t21.worker.jobs import enqueue
from t21.worker.loops import LoopRunner, PeriodicLoop, registered_loops, run_again_in
from t21.worker.queue import JobQueue
from tests.support.emails import queue_test_email
from tests.support.jobs import chain, observed


@pytest.fixture(autouse=True)
def _reset_observations() -> None:
    observed.seen.clear()
    observed.runs = 0


async def _wait_until(predicate: Any, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout=timeout)


def test_domain_loops_are_registered() -> None:
    import t21.tasks  # noqa: F401  (what every process imports before its queue starts)

    loops = registered_loops()
    for name in (
        "notifications.email_outbox",
        "social.refresh_tokens",
        "publishing.dispatch",
        "publishing.reap",
    ):
        assert name in loops, name


async def test_an_iteration_commits_and_then_sends_its_jobs(
    runtime: Runtime, jobs: JobQueue
) -> None:
    async def iteration(session: AsyncSession) -> int:
        await queue_test_email(session, runtime.settings, to="loop@example.com", dispatch=False)
        enqueue(chain, depth=0)
        return 1

    runner = LoopRunner(
        runtime, {"tests.writer": PeriodicLoop("tests.writer", iteration, lambda s: 60.0)}
    )
    assert await runner.run_once("tests.writer") == 1
    await jobs.drain(timeout=10)
    assert observed.runs == 1
    async with session_scope(runtime) as session:
        assert await session.scalar(select(func.count()).select_from(OutboundEmail)) == 1


async def test_a_failing_iteration_is_counted_and_the_loop_goes_on(runtime: Runtime) -> None:
    calls: list[int] = []

    async def flaky(session: AsyncSession) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database blinked")
        return 0

    before = (
        REGISTRY.get_sample_value(
            "t21_loop_iterations_total", {"loop": "tests.flaky", "outcome": "error"}
        )
        or 0.0
    )
    runner = LoopRunner(
        runtime, {"tests.flaky": PeriodicLoop("tests.flaky", flaky, lambda s: 0.01)}
    )
    runner.start()
    try:
        await _wait_until(lambda: len(calls) >= 2)
    finally:
        await runner.stop()
    after = REGISTRY.get_sample_value(
        "t21_loop_iterations_total", {"loop": "tests.flaky", "outcome": "error"}
    )
    assert after == before + 1
    assert REGISTRY.get_sample_value(
        "t21_loop_last_success_timestamp_seconds", {"loop": "tests.flaky"}
    )


async def test_a_full_batch_runs_again_without_waiting(runtime: Runtime) -> None:
    calls: list[int] = []

    async def backlog(session: AsyncSession) -> int:
        calls.append(1)
        return 10 if len(calls) <= 3 else 0

    # A one-hour interval: only the full batches can explain four iterations.
    runner = LoopRunner(
        runtime,
        {"tests.backlog": PeriodicLoop("tests.backlog", backlog, lambda s: 3600, batch_size=10)},
    )
    runner.start()
    try:
        await _wait_until(lambda: len(calls) >= 4)
    finally:
        await runner.stop()
    assert len(calls) == 4


async def test_an_iteration_asking_to_run_again_soon_runs_before_its_interval(
    runtime: Runtime,
) -> None:
    calls: list[int] = []

    async def soon(session: AsyncSession) -> int:
        calls.append(1)
        if len(calls) <= 2:
            run_again_in(0.05)
        return 0

    # A one-hour interval: only the iterations' requests explain the second and third runs.
    runner = LoopRunner(runtime, {"tests.soon": PeriodicLoop("tests.soon", soon, lambda s: 3600)})
    runner.start()
    try:
        await _wait_until(lambda: len(calls) >= 3)
        await asyncio.sleep(0.3)
    finally:
        await runner.stop()
    assert len(calls) == 3


async def test_asking_to_run_again_later_than_the_interval_keeps_the_interval(
    runtime: Runtime,
) -> None:
    calls: list[int] = []

    async def later(session: AsyncSession) -> int:
        calls.append(1)
        run_again_in(3600)
        return 0

    runner = LoopRunner(
        runtime, {"tests.later": PeriodicLoop("tests.later", later, lambda s: 0.05)}
    )
    runner.start()
    try:
        await _wait_until(lambda: len(calls) >= 3)
    finally:
        await runner.stop()


def test_asking_to_run_again_outside_an_iteration_does_nothing() -> None:
    run_again_in(0.0)


async def test_stop_lets_the_current_iteration_finish(runtime: Runtime) -> None:
    started = asyncio.Event()
    finished: list[bool] = []

    async def slow(session: AsyncSession) -> int:
        started.set()
        await asyncio.sleep(0.3)
        await queue_test_email(session, runtime.settings, to="slow@example.com", dispatch=False)
        finished.append(True)
        return 1

    runner = LoopRunner(runtime, {"tests.slow": PeriodicLoop("tests.slow", slow, lambda s: 3600)})
    runner.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await runner.stop()
    assert finished == [True]
    async with session_scope(runtime) as session:
        assert await session.scalar(select(func.count()).select_from(OutboundEmail)) == 1


async def test_stop_cancels_an_iteration_that_overruns_the_grace(runtime: Runtime) -> None:
    started = asyncio.Event()

    async def stuck(session: AsyncSession) -> int:
        started.set()
        await asyncio.sleep(3600)
        return 0

    runner = LoopRunner(runtime, {"tests.stuck": PeriodicLoop("tests.stuck", stuck, lambda s: 1)})
    runner.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await asyncio.wait_for(runner.stop(timeout=0.2), timeout=10)
