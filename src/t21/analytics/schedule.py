"""When a published target's numbers are collected: often while a post is young and its numbers
move, rarely once they have settled, never after `analytics_max_age_days`.

Collections fall on a fixed grid of offsets from the publishing time, so a late collection (a
worker that was down, a retry) catches up with the grid instead of shifting every later one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from t21.core.settings import Settings

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_WEEK = timedelta(weeks=1)

# 1 h, 3 h, 6 h, 12 h, then every 12 h until 2 days, daily until a week, weekly afterwards: the
# gaps never shrink.
_EARLY = (1 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR, 24 * _HOUR, 36 * _HOUR, 48 * _HOUR)
_DAILY_UNTIL = _WEEK


def _offset_after(age: timedelta) -> timedelta:
    """The first offset of the grid strictly after `age`."""
    for offset in _EARLY:
        if offset > age:
            return offset
    if age < _DAILY_UNTIL:
        return (age // _DAY + 1) * _DAY
    return (age // _WEEK + 1) * _WEEK


def next_collect_at(published_at: datetime, now: datetime, settings: Settings) -> datetime | None:
    """The next collection of a target published at `published_at`, after one at `now` (pass
    `now == published_at` at publishing); None once that would be past the collection window."""
    next_at = published_at + _offset_after(now - published_at)
    if next_at > published_at + timedelta(days=settings.analytics_max_age_days):
        return None
    return next_at
