"""The slot computation across daylight-saving changes, as properties: in Europe/London and
America/New_York (one hour) and Australia/Lord_Howe (half an hour), around real transitions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from t21.queue.slots import Slot, SlotTime, upcoming, wall_instant

ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe"]
WINDOW = timedelta(days=16)


def transitions(zone: ZoneInfo, years: range) -> list[datetime]:
    """Every instant of `years` where `zone`'s offset changes, found hour by hour then to the
    minute (independently of the code under test)."""
    found = []
    moment = datetime(years.start, 1, 1, tzinfo=UTC)
    end = datetime(years.stop, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    while moment < end:
        if moment.astimezone(zone).utcoffset() != (moment + step).astimezone(zone).utcoffset():
            minute = moment
            while minute.astimezone(zone).utcoffset() == moment.astimezone(zone).utcoffset():
                minute += timedelta(minutes=1)
            found.append(minute)
        moment += step
    return found


CHANGES = {name: transitions(ZoneInfo(name), range(2026, 2029)) for name in ZONES}


def wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def expected_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The definition: the first instant whose wall clock shows `at` on `day`, or, when the
    clock skips it, the first instant whose wall clock shows a later time (the gap's end)."""
    local = datetime.combine(day, at)
    candidates = [local.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)]
    shown = [moment for moment in candidates if wall(moment, zone) == local]
    if shown:
        return min(shown)
    moment = min(candidates)
    while wall(moment, zone) < local:
        moment += timedelta(minutes=1)
    return moment


slot_times = st.builds(
    time,
    # Mostly the hours the changes happen in.
    hour=st.one_of(st.integers(0, 3), st.integers(0, 23)),
    minute=st.one_of(st.sampled_from([0, 15, 30, 45, 59]), st.integers(0, 59)),
)
slot_sets = st.lists(
    st.builds(Slot, weekday=st.integers(0, 6), at=slot_times), min_size=1, max_size=8
)


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[ZoneInfo, datetime, list[Slot]]:
    """A zone, a start up to ten days before one of its changes, and slots, half of them on
    the change's weekday around its wall time (in the gap or the overlap, or just by it)."""
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    change = draw(st.sampled_from(CHANGES[name]))
    before = draw(st.integers(-10 * 24 * 60, 2 * 24 * 60))
    start = change + timedelta(minutes=before, seconds=draw(st.integers(0, 59)))
    around = (change - timedelta(hours=1)).astimezone(zone)
    near = st.builds(
        lambda minutes: Slot(
            around.weekday(),
            (datetime.combine(around.date(), around.time()) + timedelta(minutes=minutes))
            .time()
            .replace(second=0),
        ),
        st.integers(0, 150),
    )
    anywhere = st.builds(Slot, weekday=st.integers(0, 6), at=slot_times)
    slots = draw(st.lists(st.one_of(near, anywhere), min_size=1, max_size=8))
    return zone, start, slots


def window(slots: list[Slot], zone: ZoneInfo, start: datetime) -> list[SlotTime]:
    produced = []
    for happening in upcoming(slots, zone, start):
        if happening.at > start + WINDOW:
            break
        produced.append(happening)
    return produced


def test_each_zone_has_its_changes_in_the_years_tested() -> None:
    for name in ZONES:
        assert len(CHANGES[name]) == 6, name
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    shift = {
        (change.astimezone(lord_howe).utcoffset() or timedelta())
        - ((change - timedelta(minutes=1)).astimezone(lord_howe).utcoffset() or timedelta())
        for change in CHANGES["Australia/Lord_Howe"]
    }
    assert shift == {timedelta(minutes=30), timedelta(minutes=-30)}


@settings(max_examples=300, deadline=None)
@given(case=near_a_change())
def test_slots_across_a_change_happen_once_each_in_order_at_their_wall_time(
    case: tuple[ZoneInfo, datetime, list[Slot]],
) -> None:
    zone, start, slots = case
    produced = window(slots, zone, start)
    instants = [happening.at for happening in produced]
    assert all(earlier < later for earlier, later in pairwise(instants))
    assert all(moment > start for moment in instants)
    seen: set[tuple[date, Slot]] = set()
    for happening in produced:
        for slot in happening.slots:
            assert (happening.day, slot) not in seen, "a local slot happened twice"
            seen.add((happening.day, slot))
            assert slot.weekday == happening.day.weekday()
            local = datetime.combine(happening.day, slot.at)
            shown = wall(happening.at, zone)
            if shown != local:
                # Only a slot the clock skips moves, to the first valid time after the gap.
                assert shown > local
                assert wall(happening.at - timedelta(seconds=1), zone) < local
                assert shown.date() == happening.day
            assert happening.at == expected_instant(happening.day, slot.at, zone)
    # None skipped: every slot of every day whose instant falls in the window is there.
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    wanted = set()
    for offset in range(WINDOW.days + 3):
        day = first_day + timedelta(days=offset)
        for slot in set(slots):
            if slot.weekday != day.weekday():
                continue
            moment = expected_instant(day, slot.at, zone)
            if start < moment <= start + WINDOW:
                wanted.add((day, slot))
    assert seen == wanted


@settings(max_examples=100, deadline=None)
@given(
    slots=slot_sets,
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 1), timezones=st.just(UTC)
    ),
)
def test_slots_anywhere_in_the_year_are_the_weekly_wall_times_in_order(
    slots: list[Slot], zone: ZoneInfo, start: datetime
) -> None:
    produced = window(slots, zone, start)
    distinct = {(slot.weekday, slot.at) for slot in slots}
    # Two weeks and more: each slot at least twice (fewer only if a gap merged it).
    assert sum(len(happening.slots) for happening in produced) >= 2 * len(distinct)
    instants = [happening.at for happening in produced]
    assert instants == sorted(set(instants))


def test_a_nine_oclock_slot_stays_nine_local_across_the_spring_and_autumn_changes() -> None:
    london = ZoneInfo("Europe/London")
    sundays = upcoming([Slot(6, time(9, 0))], london, datetime(2027, 3, 20, tzinfo=UTC))
    spring = [next(sundays).at for _ in range(2)]
    assert spring == [datetime(2027, 3, 21, 9, tzinfo=UTC), datetime(2027, 3, 28, 8, tzinfo=UTC)]
    assert {wall(moment, london).time() for moment in spring} == {time(9, 0)}


def test_a_slot_in_the_gap_moves_to_the_gaps_end_and_one_in_the_overlap_happens_once() -> None:
    new_york = ZoneInfo("America/New_York")
    # 2027-03-14 02:00 EST jumps to 03:00 EDT; 2027-11-07 02:00 EDT falls back to 01:00 EST.
    assert wall_instant(date(2027, 3, 14), time(2, 30), new_york) == datetime(
        2027, 3, 14, 7, tzinfo=UTC
    )
    overlap = upcoming([Slot(6, time(1, 30))], new_york, datetime(2027, 11, 6, tzinfo=UTC))
    assert [next(overlap).at for _ in range(2)] == [
        datetime(2027, 11, 7, 5, 30, tzinfo=UTC),  # 01:30 EDT, the first of the two
        datetime(2027, 11, 14, 6, 30, tzinfo=UTC),
    ]
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    # 2027-10-03 02:00 +10:30 jumps to 02:30 +11:00; 02:00 and 02:15 both land on 02:30.
    gap = upcoming(
        [Slot(6, time(2, 0)), Slot(6, time(2, 15)), Slot(6, time(2, 30))],
        lord_howe,
        datetime(2027, 10, 2, tzinfo=UTC),
    )
    first = next(gap)
    assert first.at == datetime(2027, 10, 2, 15, 30, tzinfo=UTC)
    assert len(first.slots) == 3
    # A week later each is itself again: 02:00 +11:00 first.
    assert [next(gap).at for _ in range(3)] == [
        datetime(2027, 10, 9, 15, minute, tzinfo=UTC) for minute in (0, 15, 30)
    ]


def test_no_slots_give_no_happenings() -> None:
    assert list(upcoming([], ZoneInfo("UTC"), datetime(2027, 1, 1, tzinfo=UTC))) == []
