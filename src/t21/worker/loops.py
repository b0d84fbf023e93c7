"""Periodic claim loops: the scheduler of T21 is the database, polled by these.

A loop is a function of one session that claims due rows with an atomic update and acts on
them, returning how many it handled. Each iteration is its own unit of work (commit, then the
jobs it enqueued are sent). Any number of processes may run the same loop at once: the claim
decides who does what, so no distributed lock or single scheduler instance is needed.
An error is logged and counted, never fatal; the loop tries again after its interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from t21.core import metrics
from t21.core.logging import get_logger
from t21.core.runtime import Runtime
from t21.core.settings import Settings
from t21.core.uow import session_scope

log = get_logger("t21.loops")

LoopFn = Callable[[AsyncSession], Awaitable[int]]
MAX_ERROR_BACKOFF_S = 60.0


@dataclass(frozen=True)
class PeriodicLoop:
    name: str
    fn: LoopFn
    interval: Callable[[Settings], float]
    # When an iteration handles this many items there is probably more: go again at once.
    batch_size: int | None = None


_registry: dict[str, PeriodicLoop] = {}
# The soonest the iteration running in this context asked its loop to run again (`run_again_in`).
_again_in: ContextVar[list[float] | None] = ContextVar("t21_loop_again_in", default=None)


def run_again_in(seconds: float) -> None:
    """Ask the loop running this iteration to run again after `seconds` if that is sooner than
    its interval (the dispatcher, when a target falls due before its next poll). Outside a
    loop's iteration, nothing."""
    asked = _again_in.get()
    if asked is not None:
        asked.append(max(0.0, seconds))


def periodic(
    name: str,
    *,
    interval: Callable[[Settings], float],
    batch_size: int | None = None,
) -> Callable[[LoopFn], LoopFn]:
    """Register `fn(session) -> handled` to run every `interval(settings)` seconds."""

    def register(fn: LoopFn) -> LoopFn:
        if name in _registry and _registry[name].fn is not fn:
            raise ValueError(f"loop {name!r} is already registered")
        _registry[name] = PeriodicLoop(name, fn, interval, batch_size)
        return fn

    return register


def registered_loops() -> dict[str, PeriodicLoop]:
    return dict(_registry)


class LoopRunner:
    """Runs the registered loops as tasks of this process until `stop()`."""

    def __init__(self, runtime: Runtime, loops: dict[str, PeriodicLoop] | None = None) -> None:
        self.runtime = runtime
        self.loops = loops if loops is not None else registered_loops()
        self._stop = asyncio.Event()
        self._wake = {name: asyncio.Event() for name in self.loops}
        self._tasks: list[asyncio.Task[None]] = []

    async def run_once(self, name: str) -> int:
        """One iteration of loop `name`, in its own unit of work; errors propagate."""
        handled, _again = await self._iterate(name)
        return handled

    async def _iterate(self, name: str) -> tuple[int, float | None]:
        """One iteration of loop `name`, and how soon it asked to run again (`run_again_in`)."""
        loop = self.loops[name]
        started = time.perf_counter()
        asked: list[float] = []
        token = _again_in.set(asked)
        try:
            async with session_scope(self.runtime) as session:
                handled = await loop.fn(session)
        finally:
            _again_in.reset(token)
        metrics.LOOP_DURATION.labels(name).observe(time.perf_counter() - started)
        metrics.LOOP_ITERATIONS.labels(name, "ok").inc()
        metrics.LOOP_LAST_SUCCESS.labels(name).set(time.time())
        if handled:
            metrics.LOOP_ITEMS.labels(name).inc(handled)
        return handled, min(asked) if asked else None

    def start(self) -> None:
        for loop in self.loops.values():
            self._tasks.append(asyncio.create_task(self._run(loop), name=f"t21-loop-{loop.name}"))
        if self.loops:
            log.info("loops started", loops=sorted(self.loops))

    def wake(self) -> None:
        """Run every loop again now rather than after its interval (or its error backoff):
        after the job consumer recovers, what the fault held up is picked up at once."""
        for event in self._wake.values():
            event.set()

    async def stop(self, timeout: float | None = None) -> None:
        """Let each loop finish its current iteration, then return."""
        self._stop.set()
        self.wake()
        if not self._tasks:
            return
        grace = self.runtime.settings.shutdown_grace_s if timeout is None else timeout
        _done, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
            log.warning("loops cancelled at shutdown", loops=[t.get_name() for t in pending])
        self._tasks.clear()

    async def _run(self, loop: PeriodicLoop) -> None:
        failures = 0
        wake = self._wake[loop.name]
        while not self._stop.is_set():
            wake.clear()
            delay = self._interval(loop)
            try:
                handled, again = await self._iterate(loop.name)
            except Exception:
                failures += 1
                metrics.LOOP_ITERATIONS.labels(loop.name, "error").inc()
                log.exception("loop iteration failed", loop=loop.name, failures=failures)
                delay = min(MAX_ERROR_BACKOFF_S, delay * 2 ** min(failures, 6))
            else:
                failures = 0
                if loop.batch_size is not None and handled >= loop.batch_size:
                    delay = 0.0
                elif again is not None:
                    delay = min(delay, again)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=delay)
            else:
                await asyncio.sleep(0)

    def _interval(self, loop: PeriodicLoop) -> float:
        base = loop.interval(self.runtime.settings)
        # A little jitter keeps many processes from polling in lockstep.
        return base * (0.9 + 0.2 * random.random())  # noqa: S311
