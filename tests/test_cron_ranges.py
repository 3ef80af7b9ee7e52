"""Cron fields read as cron (cronie) reads them: single-value ranges, `#` in lists, and
the catch-up limit after a spring-forward jump."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

import pytest

from scheduler import Schedule
from scheduler.cron import ZoneMinute, compile_expression

UTC = timezone.utc
ALL_MINUTES = frozenset(range(60))


def job() -> None:
    """The scheduled job; never called."""


def due_minutes(expression: str, day: datetime) -> list[str]:
    """The UTC minutes of `day` at which an event with `expression` is due."""
    schedule = Schedule(timezone="UTC")
    schedule.job(job).cron(expression)
    due = []
    for minute in range(24 * 60):
        at = day + timedelta(minutes=minute)
        if schedule.due_events(at, environment="production", in_maintenance=False):
            due.append(at.strftime("%H:%M"))
    return due


# (expression, field, the values cron allows in it)
SINGLE_VALUE_RANGES = [
    ("5-5 * * * *", "minutes", {5}),
    ("0-0,30 * * * *", "minutes", {0, 30}),
    ("7-7/5 * * * *", "minutes", {7}),
    ("0 2-2 * * *", "hours", {2}),
    ("0 1-1/2 * * *", "hours", {1}),
    ("0 0,3-3,9 * * *", "hours", {0, 3, 9}),
    ("0 0 3-3 * *", "days", {3}),
    ("0 0 1-1,15 * *", "days", {1, 15}),
    ("0 0 * 4-4 *", "months", {4}),
    ("0 0 * JAN-JAN *", "months", {1}),
    ("0 0 * jan-jan/3 *", "months", {1}),
    ("0 0 * 1-1/3 *", "months", {1}),
    ("0 0 * * 1-1", "weekdays", {1}),
    ("0 0 * * MON-MON", "weekdays", {1}),
    ("0 0 * * sun-sun", "weekdays", {0}),
    ("0 0 * * 7-7", "weekdays", {0}),
    ("0 0 * * 0-0", "weekdays", {0}),
    ("0 0 * * 5-5,1", "weekdays", {1, 5}),
    # ranges that are not single values keep their meaning
    ("0 0 * * 1-3", "weekdays", {1, 2, 3}),
    ("0 1-5/2 * * *", "hours", {1, 3, 5}),
    ("0-59 * * * *", "minutes", set(ALL_MINUTES)),
]


@pytest.mark.parametrize(("expression", "field", "values"), SINGLE_VALUE_RANGES)
def test_a_range_whose_ends_are_equal_is_that_one_value(expression, field, values):
    assert set(getattr(compile_expression(expression), field)) == values


def test_an_hour_range_of_one_hour_runs_once_a_day():
    assert due_minutes("0 2-2 * * *", datetime(2026, 6, 1, tzinfo=UTC)) == ["02:00"]


def test_a_minute_list_with_a_single_value_range_runs_twice_an_hour():
    due = due_minutes("0-0,30 * * * *", datetime(2026, 6, 1, tzinfo=UTC))
    assert len(due) == 48 and due[:3] == ["00:00", "00:30", "01:00"]


def test_a_stepped_single_value_range_runs_at_that_value_only():
    assert due_minutes("0 1-1/2 * * *", datetime(2026, 6, 1, tzinfo=UTC)) == ["01:00"]


@pytest.mark.parametrize("expression", ["0 0 * JAN-JAN *", "0 0 * 1-1 *"])
def test_a_month_range_of_one_month_runs_only_in_that_month(expression):
    assert due_minutes(expression, datetime(2026, 1, 5, tzinfo=UTC)) == ["00:00"]
    assert due_minutes(expression, datetime(2026, 2, 5, tzinfo=UTC)) == []


@pytest.mark.parametrize("expression", ["0 0 * * MON-MON", "0 0 * * 1-1"])
def test_a_weekday_range_of_one_day_runs_only_on_that_day(expression):
    monday, tuesday = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC)
    assert due_minutes(expression, monday) == ["00:00"]
    assert due_minutes(expression, tuesday) == []


def test_seven_to_seven_is_sunday_only():
    sunday, monday = datetime(2026, 6, 7, tzinfo=UTC), datetime(2026, 6, 8, tzinfo=UTC)
    assert due_minutes("0 0 * * 7-7", sunday) == ["00:00"]
    assert due_minutes("0 0 * * 7-7", monday) == []


def test_a_single_day_of_month_range_runs_on_that_day_only():
    assert due_minutes("0 0 3-3 * *", datetime(2026, 6, 3, tzinfo=UTC)) == ["00:00"]
    assert due_minutes("0 0 3-3 * *", datetime(2026, 6, 4, tzinfo=UTC)) == []


# June 2026: Mondays are the 1st, 8th, 15th, 22nd and 29th.
MONDAYS_OF_JUNE_2026 = [1, 8, 15, 22, 29]


def mondays_due(expression: str) -> list[int]:
    return [day for day in MONDAYS_OF_JUNE_2026
            if due_minutes(expression, datetime(2026, 6, day, tzinfo=UTC)) == ["09:00"]]


@pytest.mark.parametrize(("expression", "mondays"), [
    ("0 9 * * 1#2", [8]),
    ("0 9 * * 1#2,1#4", [8, 22]),
    # a list is a union: every Monday, of which the second is one
    ("0 9 * * 1#2,1", MONDAYS_OF_JUNE_2026),
    ("0 9 * * 1,1#2", MONDAYS_OF_JUNE_2026),
    ("0 9 * * 1-5,1#2", MONDAYS_OF_JUNE_2026),
    # the `#` part of another weekday stays as it is
    ("0 9 * * 2#2,1", MONDAYS_OF_JUNE_2026),
])
def test_a_weekday_listed_plainly_and_with_hash_runs_on_every_such_day(expression, mondays):
    assert mondays_due(expression) == mondays


def test_the_hash_part_of_another_weekday_keeps_its_week():
    compiled = compile_expression("0 9 * * 2#2,1")
    assert compiled.weekdays == {1, 2}
    assert compiled.nth_weekdays == ((2, frozenset({2})),)
    # Tuesday 9 June 2026 is the second Tuesday; the 16th is the third
    assert due_minutes("0 9 * * 2#2,1", datetime(2026, 6, 9, tzinfo=UTC)) == ["09:00"]
    assert due_minutes("0 9 * * 2#2,1", datetime(2026, 6, 16, tzinfo=UTC)) == []


class JumpZone(tzinfo):
    """A zone whose clocks jump forward by `jump` at 2026-06-01 02:00 local time."""

    def __init__(self, jump: timedelta) -> None:
        self.jump = jump
        self.change = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 02:00 at offset 0

    def utcoffset(self, moment: datetime | None) -> timedelta:
        # Local wall times: before the gap the old offset, after it the new one; inside
        # it, as zoneinfo does, fold=0 reads the old offset and fold=1 the new.
        assert moment is not None
        wall, gap_start = moment.replace(tzinfo=None), self.change.replace(tzinfo=None)
        if wall < gap_start:
            return timedelta(0)
        if wall >= gap_start + self.jump:
            return self.jump
        return self.jump if moment.fold else timedelta(0)

    def fromutc(self, moment: datetime) -> datetime:
        naive = moment.replace(tzinfo=None)
        offset = self.jump if naive >= self.change.replace(tzinfo=None) else timedelta(0)
        return (naive + offset).replace(tzinfo=self)

    def dst(self, moment: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, moment: datetime | None) -> str:
        return "JUMP"


@pytest.mark.parametrize(("hours", "caught_up"), [
    (1, True), (2, True), (timedelta(hours=2, minutes=59), True),
    # cron(8): "less than three hours"; a jump of three is a change of standard offset
    (3, False), (4, False),
])
def test_catch_up_after_a_jump_only_when_it_is_less_than_three_hours(hours, caught_up):
    jump = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
    zone = JumpZone(jump)
    first_minute_after = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    now = ZoneMinute.at(first_minute_after, zone)
    assert now.wall == datetime(2026, 6, 1, 2, 0) + jump
    expression = compile_expression("30 2 * * *")  # 02:30, inside every gap above
    assert (expression.due_wall_time(now) is not None) is caught_up
    after = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    next_run = expression.next_due(after, zone)
    if caught_up:
        assert next_run == first_minute_after
    else:
        assert next_run == datetime(2026, 6, 2, 2, 30, tzinfo=UTC) - jump
