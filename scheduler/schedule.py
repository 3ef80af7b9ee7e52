"""Schedule: the registry of events, and which of them are due in a given minute.

Any frequency or modifier called on the schedule itself starts a group of events that
share it (`scheduler/groups.py`): `with schedule().daily().group() as nightly: ...`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any

from scheduler import settings
from scheduler.cron import ZoneMinute
from scheduler.event import Event, InvalidSchedule
from scheduler.groups import GroupTemplate, SharesSettings
from scheduler.maintenance import is_down
from scheduler.tasks import CommandTask, JobTask, ShellTask
from scheduler.zones import UTC, zone_named


def floor_minute(moment: datetime) -> datetime:
    """The start of the minute containing the aware instant `moment`, in UTC."""
    if moment.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got the naive {moment.isoformat()}")
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class Schedule(SharesSettings):
    """The events of one application, in the order they were declared.

    `schedule()` returns the process-wide instance the kernel fills; build a fresh
    `Schedule()` where you want one of your own (tests do). Its frequency and modifier
    methods (`daily()`, `timezone(...)`, ...) start a group, as in Laravel.
    """

    def __init__(self, timezone: str | tzinfo | None = None) -> None:
        self.events: list[Event] = []
        self._timezone = zone_named(timezone) if isinstance(timezone, str) else timezone

    @property
    def default_timezone(self) -> tzinfo:
        """The zone of events that set none: this schedule's, else `APP_TIMEZONE`/local.

        (`timezone(...)` is the modifier that starts a group, as on an event.)
        """
        return self._timezone or settings.current().timezone

    def _template(self) -> GroupTemplate:
        return GroupTemplate(self)

    # -- defining events ------------------------------------------------------------------
    def job(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Event:
        """Run the Python callable `function(*args, **kwargs)` in a forked child."""
        if not callable(function):
            raise InvalidSchedule(f"job({function!r}): expected a callable")
        return self._add(Event(JobTask(function, args, kwargs)))

    def command(self, name: str, *args: Any) -> Event:
        """Run the artisan command `name` with `args` (a list, never through a shell).

        `command("emails:send --force")` splits the string as a shell would.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidSchedule(f"command({name!r}): expected an artisan command name")
        # shlex only where quoting needs it: a plain line splits on spaces, faster.
        words = shlex.split(name) if any(c in name for c in "'\"\\") else name.split()
        return self._add(Event(CommandTask(words[0], (*words[1:], *map(str, args)))))

    def exec(self, line: str) -> Event:
        """Run `line` with `/bin/sh -c`, exactly as written."""
        if not isinstance(line, str) or not line.strip():
            raise InvalidSchedule(f"exec({line!r}): expected a shell command line")
        return self._add(Event(ShellTask(line)))

    def _add(self, event: Event) -> Event:
        self.events.append(event)
        return event

    # -- asking what is due -----------------------------------------------------------------
    def due_events(self, at: datetime, *, environment: str | None = None,
                   in_maintenance: bool | None = None) -> list[Event]:
        """The events due in the minute containing `at` (aware), in declaration order.

        An event is due when its expression matches that minute in its own zone (by
        cron's DST rules), its `between` windows allow it, its environments include
        `environment` (default `APP_ENV`) and maintenance mode allows it. `when`/`skip`
        conditions are user code and are checked by the runner, just before running.
        """
        current = settings.current()
        environment = current.app_env if environment is None else environment
        if in_maintenance is None:
            in_maintenance = is_down(current)
        return [event for event, _ in self.due_with_wall_times(at, environment, in_maintenance)]

    def due_with_wall_times(self, at: datetime, environment: str,
                            in_maintenance: bool) -> list[tuple[Event, datetime]]:
        """Like `due_events`, with the wall time each event is due for in its zone."""
        minute = floor_minute(at)
        default_zone = self.default_timezone
        zone_minutes: dict[tzinfo, ZoneMinute] = {}
        due = []
        for event in self.events:
            if in_maintenance and not event.runs_in_maintenance:
                continue
            if not event.runs_in_environment(environment):
                continue
            zone = event.timezone_or(default_zone)
            now = zone_minutes.get(zone)
            if now is None:
                now = zone_minutes[zone] = ZoneMinute.at(minute, zone)
            wall = event.scheduled_wall_time(now)
            if wall is not None:
                due.append((event, wall))
        return due

    def next_due(self, event: Event, after: datetime) -> datetime | None:
        """When `event` is next due after `after` (UTC), by frequency and windows.

        For an event that repeats within its minutes, this is the next offset second:
        later in this minute if the minute is one of its own, else the next such minute.
        """
        minute = floor_minute(after)
        if event.repeat_seconds:
            next_second = (after.second // event.repeat_seconds + 1) * event.repeat_seconds
            zone = event.timezone_or(self.default_timezone)
            if next_second < 60 and event.scheduled_wall_time(ZoneMinute.at(minute, zone)):
                return minute + timedelta(seconds=next_second)
        return event.next_due(minute + timedelta(seconds=59), self.default_timezone)


_process_schedule = Schedule()


def schedule() -> Schedule:
    """The process-wide schedule that `console/kernel.py` fills."""
    return _process_schedule


def reset_schedule() -> Schedule:
    """Start the process-wide schedule afresh (the kernel loader does, before each load)."""
    global _process_schedule
    _process_schedule = Schedule()
    return _process_schedule
