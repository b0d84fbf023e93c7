"""The one source of the current time: timezone-aware UTC, replaceable in tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The current time in UTC (aware)."""
    return _source()


@contextmanager
def frozen(at: datetime | Callable[[], datetime]) -> Iterator[None]:
    """Make `now()` return `at` (or call it) inside the block; for tests and replays."""
    global _source
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise ValueError("frozen time must be timezone-aware")
        fixed = at.astimezone(UTC)
        source: Callable[[], datetime] = lambda: fixed  # noqa: E731
    else:
        source = at
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous
