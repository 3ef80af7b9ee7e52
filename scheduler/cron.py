"""A compiled five-field cron expression, evaluated the way cron does it across DST.

croniter parses and expands the fields; matching is done here on plain sets, so that a
tick with thousands of events costs a few set look-ups per event, and so that the
daylight-saving rules of Debian's cron (cronie/Vixie) can be applied per time zone:

* An expression is *fixed-time* when neither its minute nor its hour field starts with
  `*`; otherwise it is *wildcard*.
* Spring forward: a fixed-time expression whose wall time falls in the skipped interval
  runs once, at the first real minute after the jump; wildcard expressions follow real
  time (wall times inside the gap do not exist).
* Fall back: a fixed-time expression runs once, in the first pass of the repeated
  interval; wildcard expressions run in both passes.
* Day fields follow the Vixie rule: when both day-of-month and day-of-week are
  restricted (neither starts with `*`), either may match; otherwise both must.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from scheduler.typing_names import NamedTuple

MINUTE = timedelta(minutes=1)
UTC = timezone.utc
FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
FULL_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
DAY_NAMES = {name[:3]: number for number, name in enumerate(FULL_DAY_NAMES)}
MONTH_NAMES = {name: number + 1 for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}
# Longest day-of-month each month can have (February in a leap year).
LONGEST_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# How far a zone's offset can change at one transition (modern tzdata: at most 2 hours).
DST_MARGIN = timedelta(hours=3)
# How far ahead `next_due` looks before it concludes an expression never fires again.
HORIZON_DAYS = 366 * 8 + 2
# cron(8) catches up on fixed-time jobs only after a jump of less than three hours; a
# longer one is a zone changing its standard offset (or crossing the date line).
LONGEST_CATCH_UP = timedelta(hours=3)

Acceptor = Callable[[datetime], bool]


class CronError(ValueError):
    """A cron expression that cannot be parsed or can never fire."""


class ZoneMinute(NamedTuple):
    """One real minute as the wall clocks of one time zone show it.

    `wall` is the naive local time; `repeated` is true in the second pass of a repeated
    (fall-back) interval; `skipped_from` is the first wall minute of a spring-forward gap
    that ended right at this minute (the gap is `[skipped_from, wall)`), else None.
    """

    wall: datetime
    repeated: bool
    skipped_from: datetime | None

    @classmethod
    def at(cls, minute: datetime, zone: tzinfo) -> ZoneMinute:
        """Describe the real minute `minute` (aware) on the clocks of `zone`."""
        local = minute.astimezone(zone)
        offset = local.utcoffset()
        previous_offset = (minute - MINUTE).astimezone(zone).utcoffset()
        skipped_from = None
        if offset is not None and previous_offset is not None and offset > previous_offset:
            jump = offset - previous_offset
            if jump < LONGEST_CATCH_UP:
                skipped_from = local.replace(tzinfo=None) - jump
        return cls(local.replace(tzinfo=None), bool(local.fold), skipped_from)


class CronExpression(NamedTuple):
    """A parsed cron expression: the set of values each field allows."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    last_day: bool
    months: frozenset[int]
    weekdays: frozenset[int]
    nth_weekdays: tuple[tuple[int, frozenset[int]], ...]
    days_either: bool
    fixed_time: bool

    def matches_date(self, day: date) -> bool:
        """Whether the day fields (and the month) allow the local date `day`."""
        if day.month not in self.months:
            return False
        on_day = day.day in self.days or (
            self.last_day and day.day == _last_day_of_month(day.year, day.month))
        weekday = day.isoweekday() % 7
        on_weekday = weekday in self.weekdays and self._nth_weekday_allows(weekday, day.day)
        return (on_day or on_weekday) if self.days_either else (on_day and on_weekday)

    def _nth_weekday_allows(self, weekday: int, day_of_month: int) -> bool:
        for nth_weekday, nths in self.nth_weekdays:
            if nth_weekday == weekday:
                return (day_of_month - 1) // 7 + 1 in nths
        return True

    def matches(self, wall: datetime) -> bool:
        """Whether the naive wall time `wall` satisfies every field."""
        return (wall.minute in self.minutes and wall.hour in self.hours
                and self.matches_date(wall.date()))

    def due_wall_time(self, now: ZoneMinute, accept: Acceptor | None = None) -> datetime | None:
        """The wall time this expression names that is due at the real minute `now`.

        Returns None when nothing is due. Usually the answer is `now.wall`; right after
        a spring-forward jump a fixed-time expression answers with the skipped wall time
        it is catching up on. `accept` can veto wall times (the `between` windows).
        """
        if self.fixed_time and now.repeated:
            return None
        if self.matches(now.wall) and (accept is None or accept(now.wall)):
            return now.wall
        if self.fixed_time and now.skipped_from is not None:
            wall = now.skipped_from
            while wall < now.wall:
                if self.matches(wall) and (accept is None or accept(wall)):
                    return wall
                wall += MINUTE
        return None

    def run_instants(self, wall: datetime, zone: tzinfo) -> list[datetime]:
        """The real minutes (UTC) at which the wall time `wall` in `zone` makes this run."""
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if first == second:
            return [first]
        if first < second:  # a repeated wall time: fold=0 is its first pass
            return [first] if self.fixed_time else [first, second]
        # A wall time inside a gap: fold=1 reads it with the new offset (before the jump),
        # fold=0 with the old one (after the jump).
        if not self.fixed_time:
            return []
        if first - second >= LONGEST_CATCH_UP:
            return []
        after_jump = first.astimezone(zone).utcoffset()
        low, high = second, first  # the jump happens in (low, high]
        while high - low > MINUTE:
            middle = low + (high - low) // 2
            middle -= timedelta(seconds=middle.second, microseconds=middle.microsecond)
            if middle.astimezone(zone).utcoffset() == after_jump:
                high = middle
            else:
                low = middle
        return [high]

    def next_due(self, after: datetime, zone: tzinfo,
                 accept: Acceptor | None = None) -> datetime | None:
        """The first real minute (UTC) strictly after `after` at which this runs.

        Walks wall times forward from `after` in `zone` and maps each to the real
        minutes it runs at, by the same DST rules as `due_wall_time`. Returns None if
        the expression does not fire within the horizon (some eight years).
        """
        after = after.astimezone(UTC)
        local = after.astimezone(zone)
        start = local.replace(tzinfo=None, second=0, microsecond=0)
        if _transition_near(after, zone):
            start -= DST_MARGIN
        best: datetime | None = None
        for wall in self._walls_from(start):
            if accept is not None and not accept(wall):
                continue
            instants = self.run_instants(wall, zone)
            if not instants:
                continue
            # The earliest run of each wall time grows with the wall time, so once it
            # passes the best run found, no later wall time can do better.
            if best is not None and instants[0] >= best:
                break
            for instant in instants:
                if instant > after and (best is None or instant < best):
                    best = instant
        return best

    def _walls_from(self, start: datetime) -> Iterator[datetime]:
        hours = sorted(self.hours)
        minutes = sorted(self.minutes)
        day = start.date()
        for _ in range(HORIZON_DAYS):
            if self.matches_date(day):
                for hour in hours:
                    for minute in minutes:
                        wall = datetime(day.year, day.month, day.day, hour, minute)
                        if wall >= start:
                            yield wall
            day += timedelta(days=1)


def _last_day_of_month(year: int, month: int) -> int:
    """`calendar.monthrange(year, month)[1]` (calendar's import costs a tick time)."""
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (following - timedelta(days=1)).day


def _transition_near(instant: datetime, zone: tzinfo) -> bool:
    offset = instant.astimezone(zone).utcoffset()
    return any((instant + shift).astimezone(zone).utcoffset() != offset
               for shift in (-DST_MARGIN, DST_MARGIN))


# Compiled on first use (`re` keeps it): only croniter's compilations need it.
_RANGE = r"([0-9a-zA-Z]+)-([0-9a-zA-Z]+)"


# `* * * * *`, every event's expression until a frequency is set: built here, not by
# croniter, so that defining events imports croniter only for expressions not known.
EVERY_MINUTE = CronExpression(
    text="* * * * *", minutes=frozenset(range(60)), hours=frozenset(range(24)),
    days=frozenset(range(1, 32)), last_day=False, months=frozenset(range(1, 13)),
    weekdays=frozenset(range(7)), nth_weekdays=(), days_either=False, fixed_time=False)

# Expressions compiled by an earlier process, loaded from storage by
# `expression_cache`, so that a tick whose expressions are all known never imports
# croniter (with dateutil, the dearest import of a tick); and the expressions croniter
# compiled in this process, for the cache to keep.
known_expressions: dict[str, CronExpression] = {}
compiled_here: dict[str, CronExpression] = {}


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> CronExpression:
    """Parse and validate a five-field cron expression; each distinct text is parsed once."""
    known = known_expressions.get(text)
    if known is not None:
        return known
    expression = _compile_with_croniter(text)
    compiled_here[text] = expression
    return expression


def _compile_with_croniter(text: str) -> CronExpression:
    from croniter import croniter
    from croniter.croniter import CroniterError

    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"expected 5 fields (minute hour day-of-month month day-of-week), "
                        f"got {len(fields)}")
    for position, field in enumerate(fields):
        _reject_unsupported(position, field)
    parsed = [_single_value_ranges(position, field) for position, field in enumerate(fields)]
    weekday_field, plain_weekdays = _split_nth_weekdays(parsed[4])
    try:
        expanded, nth = croniter.expand(" ".join([*parsed[:4], weekday_field]))
        if plain_weekdays is not None:
            plain = croniter.expand(f"* * * * {plain_weekdays}")[0][4]
    except (CroniterError, ValueError) as error:
        raise CronError(str(error).replace("[", "'").replace("]", "'")) from None
    sets = [_as_set(position, values) for position, values in enumerate(expanded)]
    weekdays = {v % 7 for v in sets[4]}
    # A weekday listed plainly as well as with `#` ("1#2,1") runs on every such day:
    # a list is the union of its parts.
    plainly = {v % 7 for v in _as_set(4, plain)} if plain_weekdays is not None else set()
    day_values = expanded[2]
    expression = CronExpression(
        text=" ".join(fields),
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        last_day="l" in day_values,
        months=sets[3],
        weekdays=frozenset(weekdays | plainly),
        nth_weekdays=tuple((weekday % 7, frozenset(n for n in nths if isinstance(n, int)))
                           for weekday, nths in nth.items() if weekday % 7 not in plainly),
        days_either=_restricted(fields[2]) and _restricted(fields[4]),
        fixed_time=_restricted(fields[0]) and _restricted(fields[1]),
    )
    if not expression.days_either and not any(
            expression.last_day or any(day <= LONGEST_MONTH[month] for day in expression.days)
            for month in expression.months):
        raise CronError(f"{expression.text!r} can never fire: no month in its month field "
                        f"has the day-of-month it names")
    return expression


def _restricted(field: str) -> bool:
    return not field.startswith(("*", "?"))


_SINGLE_RANGE = r"^([0-9a-zA-Z]+)-([0-9a-zA-Z]+)(?:/\d+)?$"


def _single_value_ranges(position: int, field: str) -> str:
    """`field` with each range whose two ends are equal (`2-2`, `1-1/2`, `MON-MON`)
    written as its one value, as cron reads it.

    croniter expands such a range to `*`, the whole field; cronie sets only that value.
    """
    names = MONTH_NAMES if position == 3 else DAY_NAMES if position == 4 else {}
    parts = field.split(",")
    for index, part in enumerate(parts):
        match = re.match(_SINGLE_RANGE, part)
        if match is None:
            continue
        low, high = (_field_number(end, names) for end in match.groups())
        if low is not None and low == high:
            parts[index] = match.group(1)
    return ",".join(parts)


def _split_nth_weekdays(field: str) -> tuple[str, str | None]:
    """The day-of-week field's `#` parts (`1#2`), and its plain parts or None.

    croniter refuses some lists that mix the two forms and misreads others, so the
    plain parts are expanded on their own and joined to the `#` ones as a union.
    """
    parts = field.split(",")
    nth_parts = [part for part in parts if "#" in part]
    if not nth_parts or len(nth_parts) == len(parts):
        return field, None
    return ",".join(nth_parts), ",".join(part for part in parts if "#" not in part)


def _as_set(position: int, values: Sequence[int | str]) -> frozenset[int]:
    low, high = FIELD_RANGES[position]
    if values == ["*"]:
        return frozenset(range(low, high + 1))
    return frozenset(v for v in values if isinstance(v, int))


def _reject_unsupported(position: int, field: str) -> None:
    name = FIELD_NAMES[position]
    if "w" in field.lower() and position == 2:
        raise CronError(f"{name} field {field!r}: 'W' (nearest weekday) is not supported")
    names = MONTH_NAMES if position == 3 else DAY_NAMES if position == 4 else {}
    for low, high in re.findall(_RANGE, field):
        first, last = (_field_number(part, names) for part in (low, high))
        if first is not None and last is not None and first > last:
            raise CronError(f"{name} field {field!r}: the range {low}-{high} is reversed "
                            f"(write it as two ranges, or as a list)")


def _field_number(token: str, names: dict[str, int]) -> int | None:
    if token.isdigit():
        return int(token)
    return names.get(token.lower()[:3])
