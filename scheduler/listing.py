"""What `schedule:list` shows, computed once for the table and for `--json`: each event's
next due time and its expression in the display zone, and the widths that fit the table
to the terminal."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from scheduler.event import Event
from scheduler.mutex import Holder, MutexUnavailable, backend_for
from scheduler.schedule import Schedule
from scheduler.settings import Settings
from scheduler.tasks import CommandTask
from scheduler.zones import zone_label


@dataclass(frozen=True)
class EventSummary:
    """One event as `schedule:list` describes it."""

    event: Event
    next_due: datetime | None  # aware, in the display zone
    timezone: str
    problems: tuple[str, ...]
    holder: Holder | None = None
    schedule_paused: bool = False
    # The expression as it reads in `display_timezone`: the event's own when it cannot
    # be rewritten for the display zone (then `display_timezone` is the event's zone).
    display_expressions: tuple[str, ...] = ()
    display_timezone: str = ""

    @property
    def held_by_pause(self) -> bool:
        """Whether the schedule's pause holds this event back now."""
        return self.schedule_paused and not self.event.runs_when_paused

    def flags(self) -> list[str]:
        event = self.event
        flags = []
        if event.repeat_seconds:
            flags.append(f"every {event.repeat_seconds}s")
        if event.overlap_expiration is not None:
            flags.append("without overlapping")
        if event.one_server:
            flags.append("on one server")
        if event.background:
            flags.append("background")
        if event.environment_names:
            flags.append("env: " + ",".join(event.environment_names))
        if event.runs_in_maintenance:
            flags.append("even in maintenance")
        if event.runs_when_paused:
            flags.append("even when paused")
        elif self.schedule_paused:
            flags.append("paused")
        if event.run_as is not None:
            flags.append(f"as user {event.run_as}")
        flags.extend(window.describe() for window in event.windows)
        if event.conditions:
            flags.append("conditional")
        if self.holder is not None:
            flags.append(f"running ({self.holder.describe()})")
        flags.extend(self.problems)
        return flags

    def as_json(self) -> dict[str, Any]:
        event = self.event
        return {
            "name": event.display_name,
            "kind": event.task.kind,
            "task": event.task.identity,
            "expression": event.expression,
            "timezone": self.timezone,
            "display_expressions": list(self.display_expressions),
            "display_timezone": self.display_timezone,
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "repeat_seconds": event.repeat_seconds,
            "without_overlapping": event.overlap_expiration is not None,
            "overlap_expiration_minutes": event.overlap_expiration,
            "on_one_server": event.one_server,
            "background": event.background,
            "environments": list(event.environment_names),
            "even_in_maintenance_mode": event.runs_in_maintenance,
            "even_when_paused": event.runs_when_paused,
            "paused": self.held_by_pause,
            "user": event.run_as,
            "windows": [window.describe() for window in event.windows],
            "conditional": bool(event.conditions),
            "problems": list(self.problems),
            "attributes": event.attributes,
            "running": None if self.holder is None else {
                "pid": self.holder.pid, "host": self.holder.host,
                "since": self.holder.started.isoformat()},
        }


def running_holders(schedule: Schedule,
                    settings: Settings) -> tuple[dict[str, Holder], str | None]:
    """Which events' overlap locks are held now; a problem reaching the store, if any."""
    keys = [event.mutex_key for event in schedule.events
            if event.overlap_expiration is not None]
    if not keys:
        return {}, None
    try:
        return backend_for(settings).holders(keys), None
    except MutexUnavailable as error:
        return {}, str(error)


def summarize(schedule: Schedule, now: datetime, display_zone: tzinfo | None,
              known_commands: Collection[str] | None,
              holders: Mapping[str, Holder] | None = None, *,
              environments: Collection[str] = (), paused: bool = False,
              by_next_due: bool = False) -> list[EventSummary]:
    """Describe every event (only those that run in one of `environments`, if any are
    given), in declaration order or, with `by_next_due`, soonest first. Times and
    expressions are shown in `display_zone`, else in each event's own zone.
    `paused`: the schedule is paused."""
    summaries = []
    for event in schedule.events:
        if environments and not any(event.runs_in_environment(name)
                                    for name in environments):
            continue
        own_zone = event.timezone_or(schedule.default_timezone)
        zone = display_zone or own_zone
        due = schedule.next_due(event, now)
        problems: tuple[str, ...] = ()
        if (known_commands is not None and isinstance(event.task, CommandTask)
                and event.task.name not in known_commands):
            problems = (f"unknown command {event.task.name!r}",)
        holder = (holders or {}).get(event.mutex_key) if event.overlap_expiration else None
        # As Laravel does: the offset between the two zones at the time shown.
        shown_at = due or now
        offset_change = _utc_offset(shown_at, zone) - _utc_offset(shown_at, own_zone)
        converted = expressions_in_zone(event.expression, offset_change)
        summaries.append(EventSummary(
            event, due.astimezone(zone) if due else None,
            event.timezone_label(schedule.default_timezone), problems, holder, paused,
            display_expressions=converted or (event.expression,),
            display_timezone=zone_label(zone if converted else own_zone)))
    if by_next_due:  # a stable sort: ties keep their declaration order; "never" last
        summaries.sort(key=lambda summary: (summary.next_due is None,
                                            summary.next_due or now))
    return summaries


def _utc_offset(moment: datetime, zone: tzinfo) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta(0)


# -- an expression in another zone ------------------------------------------------------
_NUMBERS = re.compile(r"\d+(?:,\d+)*")
_NUMBERS_AND_RANGES = re.compile(r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*")
_LAST_SAFE_MONTH_DAY = 28  # every month has days 1-28; a day past it is not in them all


def expressions_in_zone(expression: str, offset_change: timedelta) -> tuple[str, ...] | None:
    """`expression` rewritten for a zone whose UTC offset is `offset_change` ahead of the
    zone it is written in, as Laravel's `schedule:list` does: the hours move by the
    offset, and hours that move into the previous or next day get an expression of
    their own with the day fields moved too. None when it cannot be rewritten exactly:
    an hour field that is not a plain list of numbers (`*` moves only when the days are
    `*` too), a minute field other than one number when the offset has minutes, a day
    of the month that may not exist in every month, a weekday with names or steps, or a
    weekday or every-day shift in restricted months."""
    shift_minutes = int(offset_change.total_seconds()) // 60
    if shift_minutes == 0:
        return (expression,)
    minute, hour, month_day, month, weekday = expression.split()
    hour_shift, minute_shift = divmod(shift_minutes, 60)
    if minute_shift:
        if not minute.isdigit():
            return None
        carry, new_minute = divmod(int(minute) + minute_shift, 60)
        minute, hour_shift = str(new_minute), hour_shift + carry
    if hour == "*":
        every_day = (month_day, month, weekday) == ("*", "*", "*")
        return (f"{minute} * * * *",) if every_day else None
    if not _NUMBERS.fullmatch(hour):
        return None
    hours_by_days: dict[tuple[str, str, str], list[int]] = {}
    for day_shift, new_hour in sorted(divmod(int(value) + hour_shift, 24)
                                      for value in hour.split(",")):
        days = _days_moved(month_day, month, weekday, day_shift)
        if days is None:
            return None
        hours_by_days.setdefault(days, []).append(new_hour)
    return tuple(f"{minute} {','.join(str(value) for value in sorted(set(hours)))} "
                 + " ".join(days) for days, hours in hours_by_days.items())


def _days_moved(month_day: str, month: str, weekday: str,
                day_shift: int) -> tuple[str, str, str] | None:
    """The day fields (day of month, month, weekday) `day_shift` days later."""
    if day_shift == 0 or (month_day, month, weekday) == ("*", "*", "*"):
        return month_day, month, weekday
    if (weekday != "*" and month != "*") or (month_day, weekday) == ("*", "*"):
        return None  # the moved days may cross into a month the expression leaves out
    if month_day != "*":
        if not _NUMBERS.fullmatch(month_day):
            return None
        days = [int(value) + day_shift for value in month_day.split(",")]
        if any(not 1 <= value - day_shift <= _LAST_SAFE_MONTH_DAY
               or not 1 <= value <= _LAST_SAFE_MONTH_DAY for value in days):
            return None
        month_day = _compact(days)
    if weekday != "*":
        if not _NUMBERS_AND_RANGES.fullmatch(weekday):
            return None
        weekdays: list[int] = []
        for part in weekday.split(","):
            first, _, last = part.partition("-")
            weekdays += range(int(first), int(last or first) + 1)
        if not weekdays or any(value > 7 for value in weekdays):
            return None
        weekday = _compact([(value + day_shift) % 7 for value in weekdays])
    return month_day, month, weekday


def _compact(values: Sequence[int]) -> str:
    """Sorted numbers as a cron list, three or more in a row as a range: `0-4,6`."""
    ordered = sorted(set(values))
    parts, start = [], 0
    for index, value in enumerate(ordered):
        if index + 1 < len(ordered) and ordered[index + 1] == value + 1:
            continue
        run = ordered[start:index + 1]
        parts.append(f"{run[0]}-{run[-1]}" if len(run) >= 3 else
                     ",".join(str(item) for item in run))
        start = index + 1
    return ",".join(parts)


# -- fitting the table to the terminal ----------------------------------------------------
COLUMN_GAP = 2  # cells between two columns of the table
TASK_CELLS_KEPT = 24  # the task column gives way to the flags only down to this


def column_widths(natural: Sequence[int], terminal: int | None) -> list[int]:
    """The widths of the table's columns (Expression, Task, Time zone, Next due, Flags),
    given at their `natural` widths, so that a row fits in `terminal` cells (None: no
    limit). The expression, the zone and the next due time are kept whole; the task and
    the flags share what they leave, the task keeping up to TASK_CELLS_KEPT cells before
    the flags give way; each is cut with an ellipsis."""
    expression, task, zone, next_due, flags = natural
    if terminal is None:
        return list(natural)
    left = max(0, terminal - expression - zone - next_due - 4 * COLUMN_GAP)
    if task + flags <= left:
        return list(natural)
    task_width = min(task, left, max(left - flags, TASK_CELLS_KEPT))
    return [expression, task_width, zone, next_due, left - task_width]


def relative(moment: datetime, now: datetime) -> str:
    """`in 5 minutes`, `in 2 hours`, `in 3 days`."""
    seconds = max(0, int((moment - now).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"in {count} {unit}{'s' if count != 1 else ''}"
    return "in less than a minute"
