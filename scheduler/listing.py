"""What `schedule:list` shows, computed once for the table and for `--json`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from scheduler.event import Event
from scheduler.mutex import Holder, MutexUnavailable, backend_for
from scheduler.schedule import Schedule
from scheduler.settings import Settings
from scheduler.tasks import CommandTask


@dataclass(frozen=True)
class EventSummary:
    """One event as `schedule:list` describes it."""

    event: Event
    next_due: datetime | None  # aware, in the display zone
    timezone: str
    problems: tuple[str, ...]
    holder: Holder | None = None
    schedule_paused: bool = False

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
              environment: str | None = None, paused: bool = False) -> list[EventSummary]:
    """Describe every event (only those that run in `environment`, if given); times are
    shown in `display_zone`, else the event's own. `paused`: the schedule is paused."""
    summaries = []
    for event in schedule.events:
        if environment is not None and not event.runs_in_environment(environment):
            continue
        zone = display_zone or event.timezone_or(schedule.default_timezone)
        due = schedule.next_due(event, now)
        problems: tuple[str, ...] = ()
        if (known_commands is not None and isinstance(event.task, CommandTask)
                and event.task.name not in known_commands):
            problems = (f"unknown command {event.task.name!r}",)
        holder = (holders or {}).get(event.mutex_key) if event.overlap_expiration else None
        summaries.append(EventSummary(event, due.astimezone(zone) if due else None,
                                      event.timezone_label(schedule.default_timezone), problems,
                                      holder, paused))
    return summaries


def relative(moment: datetime, now: datetime) -> str:
    """`in 5 minutes`, `in 2 hours`, `in 3 days`."""
    seconds = max(0, int((moment - now).total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"in {count} {unit}{'s' if count != 1 else ''}"
    return "in less than a minute"
