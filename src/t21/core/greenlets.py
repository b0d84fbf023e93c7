"""SQLAlchemy's `greenlet_spawn` on greenlets kept for reuse: `run_sync`.

SQLAlchemy's asyncio layer runs its synchronous code (a pool's checkout, say) in a greenlet,
whose `await_` hands each awaitable to the caller's coroutine and is resumed with its result.
`greenlet_spawn` makes a new greenlet per call, and on CPython 3.11 a new greenlet's first
frame takes a fresh chunk of the interpreter's data stack, an `mmap` and, when it ends, a
`munmap`: 13–19 µs of CPU a call on the 2-core VMs (2026-12-07, `strace -c`: one pair per
greenlet), the more so in a server whose threads make the kernel's unmapping dearer. A busy
route's pool checkout and checkin (`core.prepared.pooled_driver`) paid it twice a request.

`run_sync(fn, *args)` runs `fn` as `greenlet_spawn` does (its `await_` calls awaited by the
calling coroutine, an exception thrown back in, the caller's context variables seen) in a
greenlet of this thread that ran an earlier call and waits for the next: its data stack is
kept, so no system call. At most `_KEPT` wait per thread; one that broke is dropped.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from greenlet import getcurrent, greenlet

_T = TypeVar("_T")

# Greenlets kept waiting per thread: one per call in flight at once on its event loop, which
# for `pooled_driver` is at most the pool's connections plus its waiting requests.
_KEPT = 64


class _Finished:
    """What a `_Runner` hands back when its call is over (its outcome is on the runner)."""


_FINISHED = _Finished()


class _Runner(greenlet):  # type: ignore[misc]  # greenlet ships no types
    """A greenlet that runs one call after another for `run_sync`, as SQLAlchemy's own
    (`__sqlalchemy_greenlet_provider__`: its `await_` may switch out of it)."""

    __sqlalchemy_greenlet_provider__ = True

    def __init__(self) -> None:
        super().__init__(self._serve)
        self.outcome: tuple[bool, Any] | None = None

    def _serve(self) -> None:
        # Started with no arguments (a greenlet holds those of its start until it ends), then
        # handed each call as `(fn, args)`: nothing of a call is held while waiting for the next.
        work: tuple[Callable[..., Any], tuple[Any, ...]] | None = self.parent.switch(_FINISHED)
        while True:
            assert work is not None
            fn, args = work
            work = None
            try:
                self.outcome = (True, fn(*args))
            except BaseException as error:  # handed to the caller, who raises it
                self.outcome = (False, error)
            del fn, args
            work = self.parent.switch(_FINISHED)


class _Kept(threading.local):
    def __init__(self) -> None:
        self.runners: list[_Runner] = []


_kept = _Kept()


async def run_sync(fn: Callable[..., _T], *args: Any) -> _T:
    """`fn(*args)` in a kept greenlet, awaiting what its `await_` calls hand out (see the
    module): `sqlalchemy.util.greenlet_spawn(fn, *args)` without a new greenlet a call."""
    current = getcurrent()
    runners = _kept.runners
    if runners:
        runner = runners.pop()
        if runner.parent is not current:
            runner.parent = current
    else:
        runner = _Runner()
        runner.switch()  # to its wait for a first call
    runner.gr_context = current.gr_context
    handed = runner.switch((fn, args))
    while handed is not _FINISHED:
        try:
            value = await handed
        except BaseException:
            handed = runner.throw(*sys.exc_info())
        else:
            handed = runner.switch(value)
    outcome, runner.outcome = runner.outcome, None
    runner.gr_context = None
    if len(runners) < _KEPT:
        runners.append(runner)
    assert outcome is not None
    done, result = outcome
    if not done:
        raise result
    return cast(_T, result)
