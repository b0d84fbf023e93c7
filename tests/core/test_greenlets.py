"""`run_sync` runs synchronous code as SQLAlchemy's `greenlet_spawn` does (its `await_` calls
awaited by the caller, failures and cancellations carried across, the caller's context
variables seen) on greenlets it keeps for the next call (`core.greenlets`)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from typing import Any

import pytest
from greenlet import getcurrent
from sqlalchemy.util import await_

from t21.core import greenlets
from t21.core.greenlets import run_sync

_request: contextvars.ContextVar[str] = contextvars.ContextVar("_request", default="none")


@pytest.fixture(autouse=True)
def _no_kept_runners() -> None:
    greenlets._kept.runners.clear()


async def _echo(value: Any, delay: float = 0) -> Any:
    await asyncio.sleep(delay)
    return value


def _sum_awaited(count: int) -> int:
    return sum(await_(_echo(n)) for n in range(count))


async def test_a_call_awaits_what_it_hands_out_and_the_next_call_takes_the_same_greenlet() -> None:
    seen: list[Any] = []

    def work(count: int) -> int:
        seen.append(getcurrent())
        return _sum_awaited(count)

    assert await run_sync(work, 5) == 10
    assert await run_sync(work, 3) == 3
    assert seen[0] is seen[1]
    assert greenlets._kept.runners == [seen[0]]


async def test_a_failure_reaches_the_caller_and_the_greenlet_serves_the_next_call() -> None:
    def failing() -> None:
        await_(_echo(None))
        raise LookupError("no such row")

    with pytest.raises(LookupError, match="no such row"):
        await run_sync(failing)
    assert await run_sync(_sum_awaited, 4) == 6
    assert len(greenlets._kept.runners) == 1


async def test_an_awaited_failure_is_raised_inside_the_call_which_may_handle_it() -> None:
    async def refused() -> None:
        raise ConnectionResetError("gone")

    def handling() -> str:
        try:
            await_(refused())
        except ConnectionResetError as error:
            return f"handled {error}"
        return "not raised"

    assert await run_sync(handling) == "handled gone"


async def test_a_cancelled_caller_cancels_the_call_inside_and_its_cleanup_runs() -> None:
    cleaned: list[str] = []
    started = asyncio.Event()

    async def waiting() -> None:
        started.set()
        await asyncio.sleep(30)

    def holding() -> None:
        try:
            await_(waiting())
        finally:
            cleaned.append("released")

    task = asyncio.ensure_future(run_sync(holding))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["released"]
    assert await run_sync(_sum_awaited, 2) == 1


async def test_calls_at_once_run_on_their_own_greenlets_each_in_its_callers_context() -> None:
    def reading(delay: float) -> tuple[str, Any]:
        before = _request.get()
        await_(_echo(None, delay))
        return before + "/" + _request.get(), getcurrent()

    async def caller(name: str, delay: float) -> tuple[str, Any]:
        _request.set(name)
        return await run_sync(reading, delay)

    (first, one), (second, other) = await asyncio.gather(caller("a", 0.02), caller("b", 0.01))
    assert (first, second) == ("a/a", "b/b")
    assert one is not other
    assert _request.get() == "none"


async def test_a_kept_greenlet_holds_nothing_of_its_last_call() -> None:
    class Row:
        pass

    row = Row()
    gone = weakref.ref(row)

    def reading(held: Row) -> Row:
        await_(_echo(None))
        return held

    assert await run_sync(reading, row) is row
    del row
    gc.collect()
    assert gone() is None
    assert len(greenlets._kept.runners) == 1


async def test_no_more_greenlets_are_kept_than_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(greenlets, "_KEPT", 3)
    assert await asyncio.gather(*(run_sync(_sum_awaited, 2) for _ in range(8))) == [1] * 8
    assert len(greenlets._kept.runners) == 3
