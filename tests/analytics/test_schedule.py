"""The collection schedule: dense while a post is young, sparse later, none past the window."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from t21.analytics.schedule import next_collect_at
from t21.core.settings import Settings, load_settings

PUBLISHED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@cache
def settings(max_age_days: int = 30) -> Settings:
    return load_settings(_env_file=None, env="test", analytics_max_age_days=max_age_days)


DEFAULT = settings()
published_times = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
ages = st.timedeltas(min_value=-DAY, max_value=timedelta(days=400))
max_ages = st.integers(min_value=1, max_value=400)


def chain(published: datetime, config: Settings) -> list[datetime]:
    """Every collection time from publishing on, each at the time the previous one gave."""
    times = [published]
    while (following := next_collect_at(published, times[-1], config)) is not None:
        times.append(following)
    return times


def test_the_schedule_is_dense_in_the_first_days_and_weekly_after_a_week() -> None:
    offsets = [moment - PUBLISHED for moment in chain(PUBLISHED, DEFAULT)]

    assert offsets[:8] == [
        timedelta(0),
        1 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        24 * HOUR,
        36 * HOUR,
        48 * HOUR,
    ]
    assert offsets[8:13] == [3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY, 7 * DAY]
    assert offsets[13:] == [14 * DAY, 21 * DAY, 28 * DAY]


def test_publishing_gives_the_first_collection_an_hour_later() -> None:
    assert next_collect_at(PUBLISHED, PUBLISHED, DEFAULT) == PUBLISHED + HOUR


def test_a_late_collection_catches_up_with_the_grid_instead_of_shifting_it() -> None:
    late = PUBLISHED + 4 * DAY + 7 * HOUR
    assert next_collect_at(PUBLISHED, late, DEFAULT) == PUBLISHED + 5 * DAY


def test_there_is_no_collection_past_the_window() -> None:
    assert next_collect_at(PUBLISHED, PUBLISHED + 28 * DAY, DEFAULT) is None
    assert next_collect_at(PUBLISHED, PUBLISHED + 90 * DAY, DEFAULT) is None
    assert next_collect_at(PUBLISHED, PUBLISHED + 6 * DAY, settings(6)) is None
    assert next_collect_at(PUBLISHED, PUBLISHED, settings(1)) == PUBLISHED + HOUR


@given(published=published_times, age=ages, max_age=max_ages)
def test_the_next_collection_is_after_now_and_within_the_window(
    published: datetime, age: timedelta, max_age: int
) -> None:
    now = published + age
    following = next_collect_at(published, now, settings(max_age))

    if following is not None:
        assert following > now
        assert following <= published + timedelta(days=max_age)
    else:
        # Only after publishing (the first collection always fits), and for good.
        assert now > published
        assert next_collect_at(published, now + DAY, settings(max_age)) is None


@given(published=published_times, max_age=max_ages)
def test_the_gaps_between_collections_never_shrink(published: datetime, max_age: int) -> None:
    times = chain(published, settings(max_age))
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]

    assert gaps == sorted(gaps)
    assert times[-1] <= published + timedelta(days=max_age)
    # Never more than a week between two collections, and never past the window.
    assert all(gap <= timedelta(weeks=1) for gap in gaps)


@given(published=published_times, first=ages, second=ages)
def test_a_later_collection_is_never_scheduled_earlier(
    published: datetime, first: timedelta, second: timedelta
) -> None:
    earlier, later = sorted([first, second])
    a = next_collect_at(published, published + earlier, DEFAULT)
    b = next_collect_at(published, published + later, DEFAULT)

    if a is None:
        assert b is None
    elif b is not None:
        assert a <= b
