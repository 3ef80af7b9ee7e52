"""The frequency DSL: each method edits one or more fields of the event's cron expression.

Every method builds exactly the expression Laravel's `ManagesFrequencies` builds for the
same call (snake_case names, `weeklyOn` -> `weekly_on`); the last call on a field wins,
so `weekdays().hourly()` is `0 * * * 1-5`. Two deliberate differences: day arguments
also take English names ("monday", "Mon"), and `last_day_of_month` writes `L`, which is
resolved in the event's time zone when it runs, instead of the day number of the month
in which the schedule happened to be defined.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import time

from scheduler.cron import DAY_NAMES, FULL_DAY_NAMES
from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import NoReturn, TypeVar
    Self = TypeVar("Self", bound="ManagesFrequencies")

Minutes = int | str | Iterable[int]
Day = int | str

# The sub-minute repeat intervals Laravel offers; each divides a minute evenly.
SECOND_DIVISORS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)
# A pattern, compiled on first use (`re` keeps it): most kernels never need it.
_CRON_DAYS = r"^[0-7*](?:-[0-7])?(?:/\d+)?(?:,[0-7](?:-[0-7])?(?:/\d+)?)*$"
# The text of the numbers a field can hold, so that common values need no str().
_NUMBER_TEXT = tuple(str(number) for number in range(60))
# How many distinct texts `_parsed_times` keeps; others are parsed each time.
PARSED_TIMES_SIZE = 4096
# The times of day parsed so far, by their text: a schedule names the same few times
# over and over. Only valid texts are stored, so an invalid one raises every time.
_parsed_times: dict[str, time] = {}


def parse_time(text: str) -> time:
    """Parse "H", "H:MM", "HH:MM" or "HH:MM:SS" into a time; raise ValueError saying what
    is wrong. Seconds are checked and kept, but a cron expression has no seconds field:
    `daily_at("13:08:10")` runs at 13:08, as in Laravel."""
    # Exactly str: a subclass could compare equal to a text it does not spell.
    exact_text = type(text) is str
    if exact_text:
        parsed = _parsed_times.get(text)
        if parsed is not None:
            return parsed
    fields = _split_time(text) if isinstance(text, str) else None
    if fields is None:
        raise ValueError("expected a time such as '9:00', '14:30' or '14:30:15'")
    hour, minute, second = fields
    if hour > 23:
        raise ValueError(f"hour {hour} is not between 0 and 23")
    if minute > 59:
        raise ValueError(f"minute {minute} is not between 0 and 59")
    if second > 59:
        raise ValueError(f"second {second} is not between 0 and 59")
    parsed = time(hour, minute, second)
    if exact_text and len(_parsed_times) < PARSED_TIMES_SIZE:
        _parsed_times[text] = parsed  # a time is immutable: safe to share
    return parsed


def _split_time(text: str) -> tuple[int, int, int] | None:
    """The hour, minute and second of "H", "H:MM" or "H:MM:SS" (each field one or two
    decimal digits; whitespace around the whole allowed), or None. (By hand, not by a
    pattern: compiling one would cost every tick whose kernel names a time.)"""
    parts = text.strip().split(":")
    if len(parts) > 3 or not all(0 < len(part) <= 2 and part.isdecimal() for part in parts):
        return None
    hour, minute, second = (*(int(part) for part in parts), 0, 0)[:3]
    return hour, minute, second


def weekday_number(day: Day) -> int:
    """0 = Sunday ... 6 = Saturday, from an int (7 is Sunday too) or an English name."""
    if isinstance(day, bool):
        raise ValueError("expected a day of the week")
    if isinstance(day, int):
        if 0 <= day <= 7:
            return day % 7
        raise ValueError(f"day {day} is not between 0 (Sunday) and 6 (Saturday)")
    if isinstance(day, str):
        key = day.strip().lower()
        if key.isdigit():
            return weekday_number(int(key))
        if key in FULL_DAY_NAMES:
            return FULL_DAY_NAMES.index(key)
        if key in DAY_NAMES:
            return DAY_NAMES[key]
    raise ValueError("expected a day of the week such as 'monday', 'Mon' or 1")


class ManagesFrequencies:
    """Frequency methods; the class using it keeps the five fields and reports bad input."""

    _fields: tuple[str, ...]
    repeat_seconds: int | None

    def _set_fields(self: Self, method: str, argument: object, minute: str | None = None,
                    hour: str | None = None, day: str | None = None, month: str | None = None,
                    weekday: str | None = None) -> Self:
        """Replace the fields given (those left None are kept), then validate."""
        raise NotImplementedError

    def _invalid(self, method: str, argument: object, reason: str) -> NoReturn:
        raise NotImplementedError

    # -- the raw expression -------------------------------------------------------------
    def cron(self: Self, expression: str) -> Self:
        """Use a five-field cron expression as it is: `cron("0 9 * * 1-5")`."""
        if not isinstance(expression, str):
            self._invalid("cron", expression, "expected a string of five cron fields")
        fields = expression.split()
        if len(fields) != 5:
            self._invalid("cron", expression, "expected 5 fields (minute hour day-of-month "
                                              f"month day-of-week), got {len(fields)}")
        minute, hour, day, month, weekday = fields
        return self._set_fields("cron", expression, minute=minute, hour=hour, day=day,
                                month=month, weekday=weekday)

    # -- seconds and minutes ------------------------------------------------------------
    def every(self: Self, seconds: int) -> Self:
        """Run every `seconds` seconds: a divisor of 60, or a whole number of minutes.

        `every(30)` runs at second 0 and 30 of every minute; `every(300)` is
        `every_five_minutes()`; `every(7200)` is `every_two_hours()`.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
            self._invalid("every", seconds, "expected a positive number of seconds")
        if seconds < 60:
            return self._repeat_every("every", seconds)
        minutes, rest = divmod(seconds, 60)
        if rest == 0 and minutes < 60 and 60 % minutes == 0:
            self.repeat_seconds = None
            return self._set_fields("every", seconds,
                                    minute="*" if minutes == 1 else f"*/{minutes}")
        hours, rest = divmod(minutes, 60)
        if rest == 0 and 24 % hours == 0:
            self.repeat_seconds = None
            return self._set_fields("every", seconds, minute="0",
                                    hour="*" if hours == 1 else f"*/{hours}")
        self._invalid("every", seconds, "expected a divisor of 60 seconds "
                      f"({', '.join(map(str, SECOND_DIVISORS))}), or a number of minutes "
                      "or hours that divides an hour or a day evenly")

    def _repeat_every(self: Self, method: str, seconds: int) -> Self:
        if seconds not in SECOND_DIVISORS:
            self._invalid(method, seconds, "the seconds do not divide a minute evenly "
                          f"(use one of {', '.join(map(str, SECOND_DIVISORS))})")
        self.repeat_seconds = seconds
        return self._set_fields(method, seconds, minute="*")

    def every_second(self: Self) -> Self:
        """Run every second."""
        return self._repeat_every("every_second", 1)

    def every_two_seconds(self: Self) -> Self:
        """Run every two seconds."""
        return self._repeat_every("every_two_seconds", 2)

    def every_five_seconds(self: Self) -> Self:
        """Run every five seconds."""
        return self._repeat_every("every_five_seconds", 5)

    def every_ten_seconds(self: Self) -> Self:
        """Run every ten seconds."""
        return self._repeat_every("every_ten_seconds", 10)

    def every_fifteen_seconds(self: Self) -> Self:
        """Run every fifteen seconds."""
        return self._repeat_every("every_fifteen_seconds", 15)

    def every_twenty_seconds(self: Self) -> Self:
        """Run every twenty seconds."""
        return self._repeat_every("every_twenty_seconds", 20)

    def every_thirty_seconds(self: Self) -> Self:
        """Run every thirty seconds."""
        return self._repeat_every("every_thirty_seconds", 30)

    def every_minute(self: Self) -> Self:
        """Run every minute: `* * * * *`."""
        return self._set_fields("every_minute", None, minute="*")

    def every_two_minutes(self: Self) -> Self:
        """Run every two minutes: `*/2 * * * *`."""
        return self._set_fields("every_two_minutes", None, minute="*/2")

    def every_three_minutes(self: Self) -> Self:
        """Run every three minutes: `*/3 * * * *`."""
        return self._set_fields("every_three_minutes", None, minute="*/3")

    def every_four_minutes(self: Self) -> Self:
        """Run every four minutes: `*/4 * * * *`."""
        return self._set_fields("every_four_minutes", None, minute="*/4")

    def every_five_minutes(self: Self) -> Self:
        """Run every five minutes: `*/5 * * * *`."""
        return self._set_fields("every_five_minutes", None, minute="*/5")

    def every_ten_minutes(self: Self) -> Self:
        """Run every ten minutes: `*/10 * * * *`."""
        return self._set_fields("every_ten_minutes", None, minute="*/10")

    def every_fifteen_minutes(self: Self) -> Self:
        """Run every fifteen minutes: `*/15 * * * *`."""
        return self._set_fields("every_fifteen_minutes", None, minute="*/15")

    def every_thirty_minutes(self: Self) -> Self:
        """Run every thirty minutes: `*/30 * * * *`."""
        return self._set_fields("every_thirty_minutes", None, minute="*/30")

    # -- hours ----------------------------------------------------------------------------
    def hourly(self: Self) -> Self:
        """Run at the start of every hour: `0 * * * *`."""
        return self._set_fields("hourly", None, minute="0")

    def hourly_at(self: Self, minutes: Minutes) -> Self:
        """Run every hour at the given minute(s): `hourly_at(30)`, `hourly_at([0, 30])`."""
        return self._hour_based("hourly_at", minutes, "*")

    def every_odd_hour(self: Self, minutes: Minutes = 0) -> Self:
        """Run at 1:00, 3:00 ... 23:00 (at `minutes` past)."""
        return self._hour_based("every_odd_hour", minutes, "1-23/2")

    def every_even_hour(self: Self, minutes: Minutes = 0) -> Self:
        """Run at 0:00, 2:00 ... 22:00 (at `minutes` past)."""
        return self._hour_based("every_even_hour", minutes, "0-22/2")

    def every_two_hours(self: Self, minutes: Minutes = 0) -> Self:
        """Run every two hours (at `minutes` past): `0 */2 * * *`."""
        return self._hour_based("every_two_hours", minutes, "*/2")

    def every_three_hours(self: Self, minutes: Minutes = 0) -> Self:
        """Run every three hours (at `minutes` past): `0 */3 * * *`."""
        return self._hour_based("every_three_hours", minutes, "*/3")

    def every_four_hours(self: Self, minutes: Minutes = 0) -> Self:
        """Run every four hours (at `minutes` past): `0 */4 * * *`."""
        return self._hour_based("every_four_hours", minutes, "*/4")

    def every_six_hours(self: Self, minutes: Minutes = 0) -> Self:
        """Run every six hours (at `minutes` past): `0 */6 * * *`."""
        return self._hour_based("every_six_hours", minutes, "*/6")

    def _hour_based(self: Self, method: str, minutes: Minutes, hours: str) -> Self:
        return self._set_fields(method, minutes, minute=self._minute_field(method, minutes),
                                hour=hours)

    def _minute_field(self, method: str, minutes: Minutes) -> str:
        if type(minutes) is int and 0 <= minutes <= 59:  # the common case (not a bool)
            return _NUMBER_TEXT[minutes]
        values: list[object] = [minutes] if isinstance(minutes, (int, str)) else list(minutes)
        if not values:
            self._invalid(method, minutes, "expected at least one minute")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                self._invalid(method, minutes, "expected minutes between 0 and 59")
            if isinstance(value, int) and not 0 <= value <= 59:
                self._invalid(method, minutes, f"minute {value} is not between 0 and 59")
        return ",".join(str(value) for value in values)

    # -- days -----------------------------------------------------------------------------
    def daily(self: Self) -> Self:
        """Run every day at midnight: `0 0 * * *`."""
        return self._set_fields("daily", None, minute="0", hour="0")

    def daily_at(self: Self, time_of_day: str) -> Self:
        """Run every day at a time such as "9:00" or "14:30": `30 14 * * *`."""
        return self._at_time("daily_at", time_of_day)

    def at(self: Self, time_of_day: str) -> Self:
        """Alias of `daily_at`."""
        return self._at_time("at", time_of_day)

    def _at_time(self: Self, method: str, time_of_day: str) -> Self:
        minute, hour = self._time_fields(method, time_of_day)
        return self._set_fields(method, time_of_day, minute=minute, hour=hour)

    def _time_fields(self, method: str, time_of_day: str) -> tuple[str, str]:
        """The minute and hour fields for a time of day such as "9:30"."""
        try:
            moment = parse_time(time_of_day)
        except ValueError as error:
            self._invalid(method, time_of_day, str(error))
        return _NUMBER_TEXT[moment.minute], _NUMBER_TEXT[moment.hour]

    def twice_daily(self: Self, first: int = 1, second: int = 13) -> Self:
        """Run every day at two hours: `twice_daily(1, 13)` is `0 1,13 * * *`."""
        return self.twice_daily_at(first, second, 0)

    def twice_daily_at(self: Self, first: int = 1, second: int = 13, minute: int = 0) -> Self:
        """Run every day at two hours, at `minute` past each."""
        for hour in (first, second):
            if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
                self._invalid("twice_daily", hour, "hour is not between 0 and 23")
        return self._hour_based("twice_daily_at", minute, f"{first},{second}")

    def weekdays(self: Self) -> Self:
        """Only Monday to Friday: day-of-week `1-5`."""
        return self._set_fields("weekdays", None, weekday="1-5")

    def weekends(self: Self) -> Self:
        """Only Saturday and Sunday: day-of-week `6,0`."""
        return self._set_fields("weekends", None, weekday="6,0")

    def mondays(self: Self) -> Self:
        """Only on Mondays."""
        return self.days(1)

    def tuesdays(self: Self) -> Self:
        """Only on Tuesdays."""
        return self.days(2)

    def wednesdays(self: Self) -> Self:
        """Only on Wednesdays."""
        return self.days(3)

    def thursdays(self: Self) -> Self:
        """Only on Thursdays."""
        return self.days(4)

    def fridays(self: Self) -> Self:
        """Only on Fridays."""
        return self.days(5)

    def saturdays(self: Self) -> Self:
        """Only on Saturdays."""
        return self.days(6)

    def sundays(self: Self) -> Self:
        """Only on Sundays."""
        return self.days(0)

    def days(self: Self, *days: Day | Iterable[Day]) -> Self:
        """Only on these days of the week: `days("monday", "wed")`, `days([1, 3])`, `days(0)`."""
        return self._set_fields("days", days, weekday=self._weekday_field("days", days))

    def _weekday_field(self, method: str, days: tuple[Day | Iterable[Day], ...]) -> str:
        if len(days) == 1:  # the common case: one day given as a number (not a bool)
            day = days[0]
            if type(day) is int and 0 <= day <= 7:
                return _NUMBER_TEXT[day % 7]
        flat: list[object] = []
        for day in days:
            if isinstance(day, (list, tuple, set, frozenset)):
                flat.extend(day)
            else:
                flat.append(day)
        if not flat:
            self._invalid(method, days, "expected at least one day of the week")
        parts = []
        for item in flat:
            if isinstance(item, str) and re.match(_CRON_DAYS, item.strip()):
                parts.append(item.strip())  # a cron fragment such as "1-5", validated later
                continue
            try:
                parts.append(str(weekday_number(item)))  # type: ignore[arg-type]
            except ValueError as error:
                self._invalid(method, item, str(error))
        return ",".join(parts)

    def weekly(self: Self) -> Self:
        """Run every Sunday at midnight: `0 0 * * 0`."""
        return self._set_fields("weekly", None, minute="0", hour="0", weekday="0")

    def weekly_on(self: Self, day: Day | Iterable[Day], time_of_day: str = "0:0") -> Self:
        """Run every week on `day` at `time_of_day`: `weekly_on("monday", "9:00")`."""
        minute, hour = self._time_fields("weekly_on", time_of_day)
        return self._set_fields("weekly_on", day, minute=minute, hour=hour,
                                weekday=self._weekday_field("weekly_on", (day,)))

    # -- months, quarters, years --------------------------------------------------------
    def monthly(self: Self) -> Self:
        """Run on the first of every month at midnight: `0 0 1 * *`."""
        return self._set_fields("monthly", None, minute="0", hour="0", day="1")

    def monthly_on(self: Self, day: int = 1, time_of_day: str = "0:0") -> Self:
        """Run every month on `day` (1-31) at `time_of_day`: `monthly_on(15, "9:00")`."""
        minute, hour = self._time_fields("monthly_on", time_of_day)
        return self._set_fields("monthly_on", day, minute=minute, hour=hour,
                                day=self._day_of_month("monthly_on", day))

    def twice_monthly(self: Self, first: int = 1, second: int = 16,
                      time_of_day: str = "0:0") -> Self:
        """Run on two days of every month: `twice_monthly(1, 16)` is `0 0 1,16 * *`."""
        days = ",".join(self._day_of_month("twice_monthly", day) for day in (first, second))
        minute, hour = self._time_fields("twice_monthly", time_of_day)
        return self._set_fields("twice_monthly", (first, second), minute=minute, hour=hour,
                                day=days)

    def last_day_of_month(self: Self, time_of_day: str = "0:0") -> Self:
        """Run on the last day of every month (`L`, in the event's zone when it runs)."""
        minute, hour = self._time_fields("last_day_of_month", time_of_day)
        return self._set_fields("last_day_of_month", time_of_day, minute=minute, hour=hour,
                                day="L")

    def days_of_month(self: Self, *days: int | Iterable[int]) -> Self:
        """Run at midnight on these days of the month: `days_of_month(1, 15)` is
        `0 0 1,15 * *`."""
        flat: list[int] = []
        for day in days:
            flat.extend(day if isinstance(day, (list, tuple, set, frozenset)) else [day])  # type: ignore[list-item]
        if not flat:
            self._invalid("days_of_month", days, "expected at least one day of the month")
        fields = ",".join(self._day_of_month("days_of_month", day) for day in flat)
        return self._set_fields("days_of_month", days, minute="0", hour="0", day=fields)

    def _day_of_month(self, method: str, day: object) -> str:
        if isinstance(day, str) and day.strip().upper() == "L":
            return "L"
        if method == "yearly_on" and day == "*":
            return "*"  # Laravel's yearlyOn(7, '*'): every day of that month
        if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 31:
            self._invalid(method, day, "day of the month is not between 1 and 31")
        return str(day)

    def quarterly(self: Self) -> Self:
        """Run on the first day of every quarter at midnight: `0 0 1 1-12/3 *`."""
        return self._set_fields("quarterly", None, minute="0", hour="0", day="1",
                                month="1-12/3")

    def quarterly_on(self: Self, day: int = 1, time_of_day: str = "0:0") -> Self:
        """Run every quarter on `day` of its first month, at `time_of_day`."""
        day_field = self._day_of_month("quarterly_on", day)
        minute, hour = self._time_fields("quarterly_on", time_of_day)
        return self._set_fields("quarterly_on", day, minute=minute, hour=hour, day=day_field,
                                month="1-12/3")

    def yearly(self: Self) -> Self:
        """Run on January 1st at midnight: `0 0 1 1 *`."""
        return self._set_fields("yearly", None, minute="0", hour="0", day="1", month="1")

    def yearly_on(self: Self, month: int = 1, day: int | str = 1,
                  time_of_day: str = "0:0") -> Self:
        """Run every year on `month` (1-12) and `day` at `time_of_day`; `day="*"` runs on
        every day of that month: `yearly_on(7, "*", "09:01")` is `1 9 * 7 *`."""
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            self._invalid("yearly_on", month, "month is not between 1 and 12")
        day_field = self._day_of_month("yearly_on", day)
        minute, hour = self._time_fields("yearly_on", time_of_day)
        return self._set_fields("yearly_on", (month, day), minute=minute, hour=hour,
                                day=day_field, month=str(month))
