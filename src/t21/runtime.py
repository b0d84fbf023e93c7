"""Assembling a running process: database, job queue, Redis, loops; and taking it apart again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from t21.core import tracing
from t21.core.db import create_engine, create_read_sessionmaker, create_sessionmaker
from t21.core.pipelined import PipelinedRedis
from t21.core.runtime import Runtime, install_runtime
from t21.core.settings import Settings
from t21.events.hub import close_hub
from t21.platforms.http import close_clients, install_clients
from t21.worker.loops import LoopRunner
from t21.worker.queue import JobQueue

REDIS_TIMEOUT_S = 5.0


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    consume_jobs: bool,
    run_loops: bool,
    track_jobs: bool = False,
    role: str = "api",
    span_processor: Any = None,
) -> AsyncIterator[Runtime]:
    """Start what this process needs and install it as the process's runtime.

    `consume_jobs`: run jobs from the broker here (the in-memory broker always does).
    `run_loops`: run the periodic loops here.
    `role` names the process in its traces; `span_processor` turns tracing on with it as the
    spans' only destination (tests), else `T21_OTEL_ENDPOINT` decides (`core.tracing`).
    """
    import t21.tasks  # noqa: F401  (registers every job and loop)

    engine = create_engine(settings)
    queue = JobQueue(settings, track_jobs=track_jobs)
    redis = (
        Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            health_check_interval=30,
        )
        if settings.redis_url
        else None
    )
    runtime = Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=create_sessionmaker(engine),
        jobs=queue,
        redis=redis,
        pipelined=PipelinedRedis(redis) if redis is not None else None,
        read_sessionmaker=create_read_sessionmaker(engine),
    )
    install_clients(runtime)
    runner = LoopRunner(runtime)
    runtime.state["loops"] = runner
    if run_loops:
        # Once the consumer reads the broker again, the reaper re-sends at once what the fault
        # may have swallowed, and a dispatcher backing off from send errors goes again.
        queue.on_recovered(runner.wake)
    previous = install_runtime(runtime)
    traced = ExitStack()
    try:
        traced.enter_context(
            tracing.open_tracing(settings, engine, role=role, processor=span_processor)
        )
        await queue.start(consume=consume_jobs)
        if run_loops:
            runner.start()
        yield runtime
    finally:
        try:
            await runner.stop()
            await queue.stop()
            await close_hub(runtime)
        finally:
            await close_clients(runtime)
            if runtime.pipelined is not None:
                await runtime.pipelined.close()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()
            traced.close()
            install_runtime(previous)
