"""Free-slot computation, pure: local wall times across DST, gaps, holidays, time off, busy time."""

import uuid
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from carebase.scheduling.slots import ExtraSession, Session, compute_slots

LOC = uuid.uuid4()
LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def session(weekday, start, end, tz, slot=15):
    return Session(weekday, start, end, slot, date(2026, 1, 1), None, LOC, tz)


def slots(sessions, first, last, *, busy=(), time_off=(), holidays=frozenset(), extras=(), duration=15, now=EPOCH):
    return compute_slots(
        sessions=sessions,
        extras=extras,
        time_off=list(time_off),
        busy=list(busy),
        holidays=set(holidays),
        first_day=first,
        last_day=last,
        duration_minutes=duration,
        not_before=now,
    )


def test_london_session_keeps_its_local_time_across_the_spring_change():
    # Europe/London moves to BST on Sunday 29 March 2026.
    before = slots([session(0, time(9), time(9, 30), LONDON)], date(2026, 3, 23), date(2026, 3, 23))
    after = slots([session(0, time(9), time(9, 30), LONDON)], date(2026, 3, 30), date(2026, 3, 30))
    assert [s.starts_at for s in before] == [
        datetime(2026, 3, 23, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 23, 9, 15, tzinfo=UTC),
    ]
    assert [s.starts_at for s in after] == [
        datetime(2026, 3, 30, 8, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 8, 15, tzinfo=UTC),
    ]
    assert all(s.starts_at.astimezone(LONDON).time() in (time(9), time(9, 15)) for s in before + after)


def test_london_autumn_change_and_kolkata_has_no_dst():
    autumn = slots([session(0, time(9), time(9, 15), LONDON)], date(2026, 10, 26), date(2026, 10, 26))
    assert autumn[0].starts_at == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
    india = slots([session(0, time(9), time(9, 15), KOLKATA)], date(2026, 3, 30), date(2026, 3, 30))
    assert india[0].starts_at == datetime(2026, 3, 30, 3, 30, tzinfo=UTC)


def test_wall_times_that_do_not_exist_are_skipped_and_slots_last_real_minutes():
    # 01:00-02:00 does not exist in London on 29 March 2026 (Sunday = weekday 6).
    result = slots(
        [session(6, time(0, 30), time(2, 30), LONDON, slot=30)], date(2026, 3, 29), date(2026, 3, 29), duration=30
    )
    local = [s.starts_at.astimezone(LONDON).strftime("%H:%M") for s in result]
    assert local == ["00:30", "02:00"]
    assert all((s.ends_at - s.starts_at).total_seconds() == 1800 for s in result)


def test_busy_time_off_holidays_extras_and_the_past():
    day = date(2026, 6, 1)  # a Monday
    base = [session(0, time(9), time(10), KOLKATA)]
    all_slots = slots(base, day, day)
    assert len(all_slots) == 4
    first = all_slots[0]
    busy = slots(base, day, day, busy=[(first.starts_at, first.ends_at)])
    assert first not in busy and len(busy) == 3
    off = slots(base, day, day, time_off=[(all_slots[1].starts_at, all_slots[3].ends_at)])
    assert off == [first]
    assert slots(base, day, day, holidays={(day, None)}) == []
    assert slots(base, day, day, holidays={(day, LOC)}) == []
    assert len(slots(base, day, day, holidays={(day, uuid.uuid4())})) == 4  # another location's holiday
    extra = ExtraSession(datetime(2026, 6, 2, 4, 30, tzinfo=UTC), datetime(2026, 6, 2, 5, 0, tzinfo=UTC), 15, LOC)
    assert len(slots(base, day, date(2026, 6, 2), extras=[extra])) == 6
    assert slots(base, day, day, now=all_slots[2].starts_at) == all_slots[2:]


def test_service_longer_than_the_grid_needs_contiguous_time():
    day = date(2026, 6, 1)
    result = slots([session(0, time(9), time(10), KOLKATA)], day, day, duration=30)
    assert [s.starts_at.astimezone(KOLKATA).strftime("%H:%M") for s in result] == ["09:00", "09:15", "09:30"]
