"""Wall-clock times a person types, turned into the UTC instants T21 stores.

A time without an offset is read in a named IANA zone. A time that zone skips (the hour lost
when clocks go forward) or repeats (the hour when they go back) is refused rather than guessed:
the request names the rule (`nonexistent_local_time`, `ambiguous_local_time`) so the caller can
ask the person, or send an offset. A plain date stands for that whole day in the zone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

NONEXISTENT = "nonexistent_local_time"
AMBIGUOUS = "ambiguous_local_time"
UNKNOWN_ZONE = "unknown_timezone"
NEEDS_ZONE = "offset_or_timezone_required"


def _plain_date(value: Any) -> Any:
    # Pydantic would read "2030-01-01T00:00:00" as a date too; a date here is only YYYY-MM-DD.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a plain date is written YYYY-MM-DD")
    return value


# A calendar date, written YYYY-MM-DD and nothing else.
PlainDate = Annotated[date, BeforeValidator(_plain_date)]


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name`; an unknown one is a validation error with rule `unknown_timezone`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "local_time",
            "{name!r} is not an IANA time zone name (e.g. Europe/London).",
            {"rule": UNKNOWN_ZONE, "name": name},
        ) from None


def to_utc(moment: datetime, zone_name: str | None) -> datetime:
    """`moment` in UTC: as given when it has an offset, else read as a wall time in `zone_name`."""
    if moment.tzinfo is not None and moment.utcoffset() is not None:
        return moment.astimezone(UTC)
    if zone_name is None:
        raise PydanticCustomError(
            "local_time",
            "A time without an offset needs `timezone` (an IANA name) in the same request.",
            {"rule": NEEDS_ZONE},
        )
    zone = zone_named(zone_name)
    first = moment.replace(tzinfo=zone, fold=0)
    second = moment.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
        raise PydanticCustomError(
            "local_time",
            "{time} does not exist in {zone}: the clocks skip it (daylight saving time starts).",
            {"rule": NONEXISTENT, "time": moment.isoformat(), "zone": zone_name},
        )
    if first.utcoffset() != second.utcoffset():
        raise PydanticCustomError(
            "local_time",
            "{time} happens twice in {zone} (daylight saving time ends); send it with an offset.",
            {"rule": AMBIGUOUS, "time": moment.isoformat(), "zone": zone_name},
        )
    return first.astimezone(UTC)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) of `day` in `zone` (midnight, or the end of a gap at midnight)."""
    midnight = datetime.combine(day, datetime.min.time())
    for minutes in range(0, 24 * 60, 15):
        local = midnight + timedelta(minutes=minutes)
        aware = local.replace(tzinfo=zone)
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local:
            return aware.astimezone(UTC)
    return midnight.replace(tzinfo=zone).astimezone(UTC)  # pragma: no cover (no such zone)
