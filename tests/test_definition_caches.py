"""What defining events caches (compiled fields, parsed times) never changes an answer:
events that share a text keep settings of their own, and a bad value raises with the
same message whatever was cached before it."""

from __future__ import annotations

from datetime import time

import pytest

from scheduler import Event, InvalidSchedule, Schedule
from scheduler.frequencies import parse_time


def report() -> None:
    """A job to attach frequencies to."""


NAME = "tests.test_definition_caches.report"


def job() -> Event:
    return Schedule().job(report)


def test_events_with_the_same_text_keep_independent_settings() -> None:
    first, second = job().daily_at("9:00"), job().daily_at("9:00")
    second.weekdays()
    assert first.expression == "0 9 * * *"
    assert first.cron_expression.text == "0 9 * * *"
    assert second.expression == "0 9 * * 1-5"
    assert second.cron_expression.text == "0 9 * * 1-5"
    assert job().expression == "* * * * *"


def test_the_same_fields_reached_by_different_calls_compile_alike() -> None:
    by_cron = job().cron("30 14 * * *")
    by_time = job().daily_at("14:30")
    assert by_time.expression == by_cron.expression
    assert by_time.cron_expression is by_cron.cron_expression


@pytest.mark.parametrize(("valid", "invalid", "message"), [
    (lambda e: e.daily_at("9:00"), lambda e: e.daily_at("25:00"),
     f"job {NAME!r}: daily_at('25:00'): hour 25 is not between 0 and 23"),
    (lambda e: e.daily_at("9:00"), lambda e: e.daily_at(" 9:00x"),
     f"job {NAME!r}: daily_at(' 9:00x'): expected a time such as '9:00', '14:30' or "
     f"'14:30:15'"),
    (lambda e: e.hourly_at(5), lambda e: e.hourly_at(60),
     f"job {NAME!r}: hourly_at(60): minute 60 is not between 0 and 59"),
    (lambda e: e.hourly_at(1), lambda e: e.hourly_at(True),
     f"job {NAME!r}: hourly_at(True): expected minutes between 0 and 59"),
    (lambda e: e.weekly_on(1), lambda e: e.weekly_on(8),
     f"job {NAME!r}: weekly_on(8): day 8 is not between 0 (Sunday) and 6 (Saturday)"),
    (lambda e: e.weekly_on(1), lambda e: e.weekly_on(True),
     f"job {NAME!r}: weekly_on(True): expected a day of the week"),
    (lambda e: e.cron("0 0 30 1 *"), lambda e: e.cron("0 0 30 2 *"),
     f"job {NAME!r}: cron('0 0 30 2 *'): '0 0 30 2 *' can never fire: no month in its "
     f"month field has the day-of-month it names"),
])
def test_an_invalid_value_raises_the_same_message_after_valid_ones_were_cached(
        valid, invalid, message) -> None:
    for _ in range(2):  # the second time, whatever the first one cached is in use
        valid(job())
        event = job().hourly()
        with pytest.raises(InvalidSchedule) as raised:
            invalid(event)
        assert str(raised.value) == message
        assert event.expression == "0 * * * *"  # a failed call changes nothing


def test_an_invalid_expression_raises_every_time() -> None:
    for _ in range(3):
        with pytest.raises(InvalidSchedule, match="the range 5-1 is reversed"):
            job().cron("0 0 * * 5-1")


def test_parsed_times_are_the_same_whether_cached_or_not() -> None:
    assert parse_time("7:05") == parse_time("7:05") == time(7, 5)
    assert parse_time(" 07:05:09 ") == time(7, 5, 9)

    class Text(str):
        """A str subclass is parsed, never looked up among the cached texts."""

    assert parse_time(Text("7:05")) == time(7, 5)
    with pytest.raises(ValueError, match="hour 24 is not between 0 and 23"):
        parse_time("24:00")
    with pytest.raises(ValueError, match="expected a time"):
        parse_time(Text("noon"))
