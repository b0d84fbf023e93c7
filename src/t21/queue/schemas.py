"""What the queue endpoints take and give."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from t21.queue.slots import Day

MAX_SLOTS = 7 * 48  # every half hour of the week; a queue is a plan, not a firehose


def _wall_time(value: str) -> str:
    hours, colon, minutes = value.partition(":")
    if (
        not colon
        or len(hours) != 2
        or len(minutes) != 2
        or not (hours.isdigit() and minutes.isdigit())
        or int(hours) > 23
        or int(minutes) > 59
    ):
        raise ValueError(f"{value!r} is not a 24-hour time HH:MM (e.g. 09:30)")
    return value


WallTime = Annotated[str, AfterValidator(_wall_time)]


class SlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: Day
    time: WallTime = Field(description="Local wall time in the brand's timezone, HH:MM.")


def _distinct(slots: list[SlotIn]) -> list[SlotIn]:
    seen: set[tuple[str, str]] = set()
    for slot in slots:
        if (slot.day, slot.time) in seen:
            raise ValueError(f"the slot {slot.day} {slot.time} is listed twice")
        seen.add((slot.day, slot.time))
    return slots


class QueueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slots: Annotated[list[SlotIn], Field(max_length=MAX_SLOTS), AfterValidator(_distinct)]


class QueueOut(BaseModel):
    timezone: str = Field(description="The brand's timezone, the slots' wall times are in.")
    slots: list[SlotIn] = Field(description="In weekly order, Monday first.")


class NextSlot(BaseModel):
    at: datetime = Field(description="The slot's instant in UTC.")
    at_local: str = Field(description="The same instant with the brand's offset (RFC 3339).")


class NextSlots(BaseModel):
    items: list[NextSlot]
