"""A brand's weekly queue slots turned into instants, exactly across daylight-saving changes.

A slot is a weekday and a local wall time in the brand's IANA zone. Each week it happens at that
wall time; a wall time that doesn't exist that day (inside a spring-forward gap) moves to the
first valid time after the gap, and one that happens twice (inside a fall-back overlap) happens
once, at its first occurrence (PEP 495 `fold=0`). Slots that land on the same instant (several
inside one gap) are one slot that day: a post takes an instant, never a wall time twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, order=True)
class Slot:
    """A weekly slot: `weekday` 0 (Monday) to 6 (Sunday) at `at`, local wall time."""

    weekday: int
    at: time


@dataclass(frozen=True)
class SlotTime:
    """One happening of one or more slots: the instant (UTC), the local date it belongs to and
    the slots it stands for (more than one only when a gap moved several onto the same time)."""

    at: datetime
    day: date
    slots: tuple[Slot, ...]


def wall_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `at` on `day` in `zone`: its first occurrence, or the
    first valid time after the gap it falls in."""
    local = datetime.combine(day, at)
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    valid = [
        moment
        for moment in (first, second)
        if moment.astimezone(zone).replace(tzinfo=None) == local
    ]
    if valid:
        return min(valid)
    return _transition(min(first, second), max(first, second), zone)


def _transition(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The instant in (before, after] where `zone`'s offset changes: the end of a gap. Zone
    transitions fall on whole seconds, so a binary search on seconds finds it exactly."""
    offset = before.astimezone(zone).utcoffset()
    low, high = 0, int((after - before).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if (before + timedelta(seconds=middle)).astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return before + timedelta(seconds=high)


def upcoming(slots: Iterable[Slot], zone: ZoneInfo, after: datetime) -> Iterator[SlotTime]:
    """Every happening of `slots` strictly after `after`, in order, without end (empty when
    there are no slots)."""
    by_weekday: dict[int, list[Slot]] = {}
    for slot in sorted(set(slots)):
        by_weekday.setdefault(slot.weekday, []).append(slot)
    if not by_weekday:
        return
    # A day early: a slot late on the previous local day may still be ahead of `after`.
    day = after.astimezone(zone).date() - timedelta(days=1)
    last: datetime | None = None
    while True:
        grouped: dict[datetime, list[Slot]] = {}
        for slot in by_weekday.get(day.weekday(), []):
            grouped.setdefault(wall_instant(day, slot.at, zone), []).append(slot)
        for at in sorted(grouped):
            if at > after and (last is None or at > last):
                last = at
                yield SlotTime(at=at, day=day, slots=tuple(grouped[at]))
        day += timedelta(days=1)
