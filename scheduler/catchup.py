"""Catching up on minutes no tick ran: the host was down, cron was late, a tick took
longer than a minute.

As cron (cronie) does after a short clock jump: a fixed-time event (`daily_at("02:00")`,
`weekly_on(...)`: neither its minute nor its hour field starts with `*`) whose time fell
in the gap runs once, late, at the next tick; wildcard events (`every_five_minutes()`,
`hourly()`) are not replayed, as their next run comes soon anyway. The gap is measured
from the last minute this host processed (a file in `storage/framework/catch-up`), or for
`on_one_server` events, the last minute any server processed (a flag in the shared
mutex store), so that a run another server made is not made again.

Only minutes within the catch-up window count: `SCHEDULER_CATCH_UP` (default three
hours, cron's own limit; `0` turns catching up off), or an event's `catch_up(minutes)`
/ `without_catch_up()`. The last minute processed only ever moves forward, so a tick
for an earlier minute (`--at` going backwards) catches nothing up, and a missed run is
made up once: by the first tick after the gap, which claims it per event and instant
as an on-time run is claimed (scheduler.claims), so a tick for that minute finds it
started.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from datetime import datetime, timedelta

from scheduler.event import Event
from scheduler.schedule import Schedule
from scheduler.settings import Settings
from scheduler.storage import Folder
from scheduler.typing_names import TYPE_CHECKING
from scheduler.zones import UTC

if TYPE_CHECKING:
    from scheduler.mutex.base import MutexBackend

DEFAULT_CATCH_UP = timedelta(hours=3)
# The flag, in the shared mutex store, that holds the last minute any server processed.
SHARED_LAST_MINUTE = "last-minute"

# Compiled on first use (`re` keeps it): only a tick with SCHEDULER_CATCH_UP set needs it.
_DURATION = r"^(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m?)?$"


def catch_up_window(settings: Settings) -> timedelta:
    """`SCHEDULER_CATCH_UP`: `90` or `90m` (minutes), `3h`, `1h30m`; `0` for none.
    ValueError naming the value when it is not a duration."""
    raw = settings.get("SCHEDULER_CATCH_UP").strip().lower()
    if not raw:
        return DEFAULT_CATCH_UP
    match = re.match(_DURATION, raw)
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"SCHEDULER_CATCH_UP {raw!r} is not a duration such as 90m, 3h or "
                         f"1h30m (0 turns catching up off)")
    return timedelta(hours=int(match["hours"] or 0), minutes=int(match["minutes"] or 0))


def advance_host_minute(settings: Settings, name: str, minute: datetime) -> datetime | None:
    """Record `minute` as processed by this host (never moving the record backwards);
    return the minute recorded before, None the first time.

    Raises OSError (UnsafeStorage for a planted link) or ValueError (a name that is not
    a safe file name) when the record cannot be kept."""
    with Folder.open(settings.storage / "framework" / "catch-up",
                     base=settings.storage) as records:
        guard = records.open_file(f"{name}.lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(guard, fcntl.LOCK_EX)  # ticks of two minutes at once take turns
            previous = _parse_minute((records.read(f"{name}.last-minute") or b"").decode(
                "ascii", "replace"))
            if previous is None or minute > previous:
                # Whole or not at all: a full disk leaves the old record, never an empty one.
                records.write_atomically(f"{name}.last-minute",
                                         minute.astimezone(UTC).isoformat().encode())
            return previous
        finally:
            os.close(guard)


def advance_shared_minute(store: MutexBackend, minute: datetime) -> datetime | None:
    """Like `advance_host_minute`, for the last minute any server sharing `store`
    processed. (Not atomic: two servers racing may leave the earlier of their minutes,
    which only makes the next tick look at a gap whose runs are claimed already.)"""
    previous = _parse_minute(store.get_flag(SHARED_LAST_MINUTE) or "")
    if previous is None or minute > previous:
        store.set_flag(SHARED_LAST_MINUTE, minute.astimezone(UTC).isoformat())
    return previous


def _parse_minute(text: str) -> datetime | None:
    with contextlib.suppress(ValueError):
        moment = datetime.fromisoformat(text.strip())
        if moment.tzinfo is not None:
            return moment
    return None


def window_of(event: Event, default: timedelta) -> timedelta:
    if event.catch_up_minutes is not None:
        return timedelta(minutes=event.catch_up_minutes)
    return default


def catches_up(event: Event, default: timedelta) -> bool:
    """Whether a missed run of `event` may be made up at all."""
    return (event.cron_expression.fixed_time and not event.repeat_seconds
            and window_of(event, default) > timedelta(0))


def missed_runs(schedule: Schedule, events: list[Event], minute: datetime,
                since: datetime | None, default: timedelta, environment: str,
                in_maintenance: bool) -> list[tuple[Event, datetime]]:
    """Each of `events` that was due in a minute after `since` and before `minute`, within
    its window, with the latest such minute; in declaration order."""
    candidates = [event for event in events if catches_up(event, default)]
    if since is None or not candidates:
        return []
    longest = max(window_of(event, default) for event in candidates)
    first = max(since + timedelta(minutes=1), minute - longest)
    only_these = Schedule(schedule.default_timezone)
    only_these.events = candidates
    latest: dict[int, datetime] = {}
    gap_minute = first
    while gap_minute < minute:
        for event, _wall in only_these.due_with_wall_times(gap_minute, environment,
                                                           in_maintenance):
            if gap_minute >= minute - window_of(event, default):
                latest[id(event)] = gap_minute
        gap_minute += timedelta(minutes=1)
    return [(event, latest[id(event)]) for event in candidates if id(event) in latest]
