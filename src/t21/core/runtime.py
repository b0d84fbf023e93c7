"""What a running T21 process holds: settings, the database, the job queue.

One `Runtime` is installed per process (by `t21.runtime.open_runtime`); code outside a request
(tasks, loops, the CLI) reaches the database and the queue through `get_runtime()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from t21.core.pipelined import PipelinedRedis
    from t21.core.settings import Settings


@dataclass(frozen=True)
class PendingJob:
    """A job waiting for its unit of work to commit: a registered name and plain arguments."""

    name: str
    kwargs: dict[str, Any]


class ConsumerDown(Exception):
    """The job consumer can't read the broker (yet); the message names the error's class."""


class JobSender(Protocol):
    async def send(self, jobs: Sequence[PendingJob]) -> None:
        """Hand `jobs` to the broker."""

    async def ping(self) -> None:
        """Raise if the broker can't be reached."""

    @property
    def consumer_down_for(self) -> float:
        """Seconds this process's job consumer has been unable to read the broker (0 if it reads,
        or if this process doesn't consume)."""

    @property
    def recovered_at(self) -> datetime | None:
        """When this process's job consumer last read the broker again after a fault."""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    jobs: JobSender
    redis: Redis | None = None
    # Commands of the request path on a Redis connection of their own (`core.pipelined`).
    pipelined: PipelinedRedis | None = None
    state: dict[str, Any] = field(default_factory=dict)
    # Sessions for requests that only read (`core.uow.read_scope`, `core.db.
    # create_read_sessionmaker`); None where reads keep the ordinary unit of work.
    read_sessionmaker: async_sessionmaker[AsyncSession] | None = None


_current: Runtime | None = None


def get_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("no T21 runtime is running in this process")
    return _current


def install_runtime(runtime: Runtime | None) -> Runtime | None:
    """Make `runtime` the process's runtime; returns the one it replaces."""
    global _current
    previous, _current = _current, runtime
    return previous
