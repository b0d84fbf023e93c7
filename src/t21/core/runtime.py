"""What a running T21 process holds: settings, the database, the job queue.

One `Runtime` is installed per process (by `t21.runtime.open_runtime`); code outside a request
(tasks, loops, the CLI) reaches the database and the queue through `get_runtime()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from t21.core.settings import Settings


@dataclass(frozen=True)
class PendingJob:
    """A job waiting for its unit of work to commit: a registered name and plain arguments."""

    name: str
    kwargs: dict[str, Any]


class JobSender(Protocol):
    async def send(self, jobs: Sequence[PendingJob]) -> None:
        """Hand `jobs` to the broker."""

    async def ping(self) -> None:
        """Raise if the broker can't be reached."""


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    jobs: JobSender
    redis: Redis | None = None
    state: dict[str, Any] = field(default_factory=dict)


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
