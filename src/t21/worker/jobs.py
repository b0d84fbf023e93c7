"""Background jobs: how a domain declares one (`@job`) and asks for it to run (`enqueue`).

A job takes plain values (ids as strings, numbers) and opens its own `session_scope()` for
each transaction it needs. Retries that matter are scheduled in the database (a row's due time
picked up by a loop), never by the broker: the broker only carries wake-ups.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, overload

from t21.core.uow import buffer_job

P = ParamSpec("P")


class Job(Generic[P]):
    """A registered job: a name on the wire and the coroutine function that runs it."""

    def __init__(self, name: str, fn: Callable[P, Awaitable[None]]) -> None:
        self.name = name
        self.fn = fn
        self.signature = inspect.signature(fn)

    async def run(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run the job here and now (tests, the CLI)."""
        await self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Job({self.name!r})"


_registry: dict[str, Job[Any]] = {}


def job(name: str) -> Callable[[Callable[P, Awaitable[None]]], Job[P]]:
    """Declare a job under a stable name, `<domain>.<verb>`."""

    def register(fn: Callable[P, Awaitable[None]]) -> Job[P]:
        if name in _registry and _registry[name].fn is not fn:
            raise ValueError(f"job {name!r} is already registered")
        declared = Job(name, fn)
        _registry[name] = declared
        return declared

    return register


def registered_jobs() -> dict[str, Job[Any]]:
    return dict(_registry)


@overload
def enqueue(job: Job[P], /, *args: P.args, **kwargs: P.kwargs) -> None: ...
@overload
def enqueue(job: str, /, **kwargs: Any) -> None: ...
def enqueue(job: Job[Any] | str, /, *args: Any, **kwargs: Any) -> None:
    """Ask for `job` (a `Job` or its registered name) to run after the current unit of work
    commits; it is dropped if the unit of work rolls back."""
    declared = job if isinstance(job, Job) else _registry.get(job)
    if declared is None:
        raise LookupError(f"no job named {job!r} is registered (is its tasks module imported?)")
    bound = declared.signature.bind(*args, **kwargs)
    payload = dict(bound.arguments)
    try:
        json.dumps(payload)
    except TypeError as exc:
        raise TypeError(
            f"arguments of job {declared.name!r} must be plain JSON values: {exc}"
        ) from exc
    buffer_job(declared.name, payload)
