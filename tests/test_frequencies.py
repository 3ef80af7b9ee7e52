"""Every frequency method builds the expression Laravel builds for the same calls."""

import re
from collections.abc import Callable
from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler import Event, Schedule
from scheduler.frequencies import parse_time


def task() -> None:
    """A job to attach frequencies to."""


def event() -> Event:
    return Schedule().job(task)


# (calls, expected expression) — the cases of Laravel's FrequencyTest, snake_cased, and
# one row for every method.
CASES: list[tuple[Callable[[Event], Event], str]] = [
    (lambda e: e, "* * * * *"),
    (lambda e: e.every_minute(), "* * * * *"),
    (lambda e: e.every_two_minutes(), "*/2 * * * *"),
    (lambda e: e.every_three_minutes(), "*/3 * * * *"),
    (lambda e: e.every_four_minutes(), "*/4 * * * *"),
    (lambda e: e.every_five_minutes(), "*/5 * * * *"),
    (lambda e: e.every_ten_minutes(), "*/10 * * * *"),
    (lambda e: e.every_fifteen_minutes(), "*/15 * * * *"),
    (lambda e: e.every_thirty_minutes(), "*/30 * * * *"),
    (lambda e: e.hourly(), "0 * * * *"),
    (lambda e: e.hourly_at(30), "30 * * * *"),
    (lambda e: e.hourly_at([15, 30, 45]), "15,30,45 * * * *"),
    (lambda e: e.every_odd_hour(), "0 1-23/2 * * *"),
    (lambda e: e.every_odd_hour(15), "15 1-23/2 * * *"),
    (lambda e: e.every_even_hour(), "0 0-22/2 * * *"),
    (lambda e: e.every_two_hours(), "0 */2 * * *"),
    (lambda e: e.every_two_hours(15), "15 */2 * * *"),
    (lambda e: e.every_two_hours([15, 30]), "15,30 */2 * * *"),
    (lambda e: e.every_three_hours(), "0 */3 * * *"),
    (lambda e: e.every_three_hours(15), "15 */3 * * *"),
    (lambda e: e.every_four_hours(), "0 */4 * * *"),
    (lambda e: e.every_four_hours(15), "15 */4 * * *"),
    (lambda e: e.every_six_hours(), "0 */6 * * *"),
    (lambda e: e.every_six_hours(15), "15 */6 * * *"),
    (lambda e: e.daily(), "0 0 * * *"),
    (lambda e: e.daily_at("09:00"), "0 9 * * *"),
    (lambda e: e.daily_at("14:30"), "30 14 * * *"),
    (lambda e: e.daily_at("2:05"), "5 2 * * *"),
    (lambda e: e.daily_at("13"), "0 13 * * *"),
    # seconds are accepted and, as in Laravel, not part of the expression
    (lambda e: e.daily_at("13:08:10"), "8 13 * * *"),
    (lambda e: e.at("00:00:59"), "0 0 * * *"),
    (lambda e: e.at("10:15"), "15 10 * * *"),
    (lambda e: e.twice_daily(), "0 1,13 * * *"),
    (lambda e: e.twice_daily(1, 13), "0 1,13 * * *"),
    (lambda e: e.twice_daily(3, 15), "0 3,15 * * *"),
    (lambda e: e.twice_daily_at(3, 15, 5), "5 3,15 * * *"),
    (lambda e: e.weekdays(), "* * * * 1-5"),
    (lambda e: e.weekends(), "* * * * 6,0"),
    (lambda e: e.mondays(), "* * * * 1"),
    (lambda e: e.tuesdays(), "* * * * 2"),
    (lambda e: e.wednesdays(), "* * * * 3"),
    (lambda e: e.thursdays(), "* * * * 4"),
    (lambda e: e.fridays(), "* * * * 5"),
    (lambda e: e.saturdays(), "* * * * 6"),
    (lambda e: e.sundays(), "* * * * 0"),
    (lambda e: e.days(1, 3, 5), "* * * * 1,3,5"),
    (lambda e: e.days([1, 3]), "* * * * 1,3"),
    (lambda e: e.days("monday", "Wed", "FRIDAY"), "* * * * 1,3,5"),
    (lambda e: e.days("1-5"), "* * * * 1-5"),
    (lambda e: e.weekly(), "0 0 * * 0"),
    (lambda e: e.weekly_on(2), "0 0 * * 2"),
    (lambda e: e.weekly_on("monday", "09:00"), "0 9 * * 1"),
    (lambda e: e.weekly_on("friday", "17:00"), "0 17 * * 5"),
    (lambda e: e.weekly_on([1, 5], "8:30"), "30 8 * * 1,5"),
    (lambda e: e.weekly_on("sun", "02:00"), "0 2 * * 0"),
    (lambda e: e.monthly(), "0 0 1 * *"),
    (lambda e: e.monthly_on(), "0 0 1 * *"),
    (lambda e: e.monthly_on(15, "09:00"), "0 9 15 * *"),
    (lambda e: e.monthly_on(4, "15:00"), "0 15 4 * *"),
    (lambda e: e.twice_monthly(), "0 0 1,16 * *"),
    (lambda e: e.twice_monthly(1, 16, "13:00"), "0 13 1,16 * *"),
    (lambda e: e.last_day_of_month(), "0 0 L * *"),
    (lambda e: e.last_day_of_month("23:30"), "30 23 L * *"),
    (lambda e: e.days_of_month(1, 10, 20), "0 0 1,10,20 * *"),
    (lambda e: e.days_of_month([5, 25]), "0 0 5,25 * *"),
    (lambda e: e.days_of_month(1, 15), "0 0 1,15 * *"),
    (lambda e: e.days_of_month(1, 15).at("9:30"), "30 9 1,15 * *"),
    (lambda e: e.quarterly(), "0 0 1 1-12/3 *"),
    (lambda e: e.quarterly_on(), "0 0 1 1-12/3 *"),
    (lambda e: e.quarterly_on(4, "14:00"), "0 14 4 1-12/3 *"),
    (lambda e: e.yearly(), "0 0 1 1 *"),
    (lambda e: e.yearly_on(), "0 0 1 1 *"),
    (lambda e: e.yearly_on(6, 15, "10:30"), "30 10 15 6 *"),
    (lambda e: e.yearly_on(7, "*", "09:01"), "1 9 * 7 *"),
    (lambda e: e.cron("0 0 * * *"), "0 0 * * *"),
    (lambda e: e.cron("0 */6 * * *"), "0 */6 * * *"),
    (lambda e: e.cron("0 9 * * 1-5"), "0 9 * * 1-5"),
    (lambda e: e.every(60), "* * * * *"),
    (lambda e: e.every(120), "*/2 * * * *"),
    (lambda e: e.every(900), "*/15 * * * *"),
    (lambda e: e.every(3600), "0 * * * *"),
    (lambda e: e.every(7200), "0 */2 * * *"),
    (lambda e: e.every(30), "* * * * *"),
    (lambda e: e.every_thirty_seconds(), "* * * * *"),
    # Calls edit single fields; the last call on a field wins.
    (lambda e: e.weekdays().hourly(), "0 * * * 1-5"),
    (lambda e: e.weekdays().daily(), "0 0 * * 1-5"),
    (lambda e: e.weekdays().hourly().mondays(), "0 * * * 1"),
    (lambda e: e.mondays().weekdays(), "* * * * 1-5"),
    (lambda e: e.every_five_minutes().daily_at("10:00"), "0 10 * * *"),
    (lambda e: e.daily_at("10:00").every_five_minutes(), "*/5 10 * * *"),
    (lambda e: e.daily().every_minute(), "* 0 * * *"),
    (lambda e: e.hourly().weekends(), "0 * * * 6,0"),
    (lambda e: e.weekly().fridays(), "0 0 * * 5"),
    (lambda e: e.monthly().weekdays(), "0 0 1 * 1-5"),
    (lambda e: e.quarterly().mondays(), "0 0 1 1-12/3 1"),
    (lambda e: e.yearly().twice_daily(), "0 1,13 1 1 *"),
    (lambda e: e.monthly_on(15).at("6:00"), "0 6 15 * *"),
    (lambda e: e.cron("0 0 1 1 *").every_two_hours(), "0 */2 1 1 *"),
]


@pytest.mark.parametrize(("calls", "expected"), CASES,
                         ids=[expected + f" #{number}" for number, (_, expected)
                              in enumerate(CASES)])
def test_frequency_builds_laravels_expression(calls: Callable[[Event], Event],
                                              expected: str) -> None:
    assert calls(event()).expression == expected


def test_every_modifier_returns_the_event_so_calls_chain() -> None:
    built = event()
    assert built.daily_at("02:00").timezone("UTC").without_overlapping().on_one_server() is built
    assert built.name("x").when(True).skip(False).before(task).after(task) is built


@pytest.mark.parametrize(("method", "seconds"), [
    ("every_second", 1), ("every_two_seconds", 2), ("every_five_seconds", 5),
    ("every_ten_seconds", 10), ("every_fifteen_seconds", 15),
    ("every_twenty_seconds", 20), ("every_thirty_seconds", 30)])
def test_sub_minute_methods_set_the_repeat_interval(method: str, seconds: int) -> None:
    built = getattr(event(), method)()
    assert (built.expression, built.repeat_seconds) == ("* * * * *", seconds)


@pytest.mark.parametrize("seconds", [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30])
def test_every_accepts_each_divisor_of_a_minute(seconds: int) -> None:
    assert event().every(seconds).repeat_seconds == seconds


def test_every_whole_minutes_clears_a_sub_minute_repeat() -> None:
    assert event().every(30).every(120).repeat_seconds is None


# The times of day are read by hand (a pattern would be compiled by every tick whose
# kernel names a time): the same texts as the pattern the docs describe, no more.
TIME_PATTERN = r"^\s*(\d{1,2})(?::(\d{1,2})(?::(\d{1,2}))?)?\s*$"


@given(st.text(alphabet="0123459: \t\n\u0663\u00b2\u2003a-", max_size=10))
@settings(max_examples=3000, deadline=None)
def test_times_of_day_are_read_as_the_pattern_reads_them(text: str) -> None:
    match = re.match(TIME_PATTERN, text)
    try:
        parsed: time | None = parse_time(text)
    except ValueError:
        parsed = None
    if match is None:
        assert parsed is None
        return
    hour, minute, second = (int(match.group(1)), int(match.group(2) or 0),
                            int(match.group(3) or 0))
    if hour > 23 or minute > 59 or second > 59:
        assert parsed is None
    else:
        assert parsed == time(hour, minute, second)
