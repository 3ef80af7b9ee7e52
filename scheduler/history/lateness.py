"""Lateness: which due instants passed with no run, and the health of the schedule.

* A due instant of a minute that had no tick at all is recorded as `missed`, once, by
  whoever notices first: the next tick (for the minutes between the previous tick and
  itself) or `schedule:monitor` (for the minutes since the last tick).
* A task is *late* when one of its due instants is more than its grace
  (`grace(minutes)`, default DEFAULT_GRACE_MINUTES) in the past and nothing was recorded
  for it or since: no run, no skip (a `missed` record does not count as a run). A run
  for a later instant ends the lateness; the gap stays in the history as `missed`.
* A run is *long-running* while it has run for longer than the task's
  `expected_runtime(minutes)`.
* The scheduler is *down* when no tick has been recorded for more than DEAD_AFTER.

Only instants since the first recorded tick, and at most LOOKBACK ago, are considered:
before the history began nothing is known, and a task with an older gap is reported
by its `missed` records, not as late forever. Sub-minute tasks (`every(30)`) are
watched through their runs, not their instants: they are never late.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scheduler.event import Event
from scheduler.history.store import RunRecord, Store, TickRecord
from scheduler.schedule import Schedule, floor_minute
from scheduler.settings import Settings
from scheduler.zones import UTC

DEFAULT_GRACE_MINUTES = 5.0
LOOKBACK = timedelta(days=1)
DEAD_AFTER = timedelta(minutes=2)
MINUTE = timedelta(minutes=1)


def watched(event: Event, environment: str) -> bool:
    """Whether lateness applies to `event`: a per-minute (or slower) task of this
    environment."""
    return not event.repeat_seconds and event.runs_in_environment(environment)


def due_instants(schedule: Schedule, event: Event, start: datetime,
                 end: datetime) -> Iterator[datetime]:
    """The instants in [`start`, `end`] at which `event` is due, by its frequency."""
    moment = schedule.next_due(event, floor_minute(start) - MINUTE)
    while moment is not None and moment <= end:
        if moment >= start:
            yield moment
        moment = schedule.next_due(event, moment)


def record_missed(store: Store, schedule: Schedule, previous: datetime, until: datetime,
                  settings: Settings) -> int:
    """Record as `missed` the due instants of the minutes after the tick of `previous`
    and before `until` (none of which had a tick); return how many were new."""
    start = max(previous + MINUTE, until - LOOKBACK)
    end = until - MINUTE
    recorded = 0
    if start > end:
        return 0
    # Stamped when it is noticed, as every record is when it is written (retention
    # counts from it); the instant it was due for is its `scheduled_at`.
    noticed = datetime.now(UTC)
    from scheduler import catchup  # only after a gap

    try:
        default_window = catchup.catch_up_window(settings)
    except ValueError:
        default_window = catchup.DEFAULT_CATCH_UP
    for event in schedule.events:
        if not watched(event, settings.app_env):
            continue
        instants = list(due_instants(schedule, event, start, end))
        if instants and catchup.catches_up(event, default_window) \
                and instants[-1] >= until - catchup.window_of(event, default_window):
            instants.pop()  # this tick runs it late (catch-up): a run, not a miss
        for instant in instants:
            recorded += store.insert_once({
                "task": event.display_name, "expression": event.expression,
                "scheduled_at": instant, "host": settings.host, "pid": os.getpid(),
                "started_at": noticed, "finished_at": noticed, "status": "missed",
                "message": "no tick ran at this instant", "attributes": event.attributes})
    return recorded


@dataclass(frozen=True)
class TaskHealth:
    """How one task is doing, as `schedule:monitor` reports it."""

    event: Event
    last_run: RunRecord | None  # the last run that ended
    late_since: datetime | None  # the oldest due instant past its grace with no record
    long_running: RunRecord | None  # a run going on for longer than expected
    grace_minutes: float

    @property
    def name(self) -> str:
        return self.event.display_name

    @property
    def failed(self) -> bool:
        return self.last_run is not None and self.last_run.status in ("failure", "timeout")

    @property
    def state(self) -> str:
        """`failed`, `late`, `long-running` or `ok` (the first that applies)."""
        if self.failed:
            return "failed"
        if self.late_since is not None:
            return "late"
        if self.long_running is not None:
            return "long-running"
        return "ok"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state,
                "late_since": None if self.late_since is None else self.late_since.isoformat(),
                "grace_minutes": self.grace_minutes,
                "expected_runtime_minutes": self.event.expected_runtime_minutes,
                "last_run": None if self.last_run is None else self.last_run.as_json(),
                "long_running": None if self.long_running is None
                else self.long_running.as_json()}


@dataclass(frozen=True)
class Health:
    """The health of the whole schedule at `now`."""

    now: datetime
    last_tick: TickRecord | None
    tasks: list[TaskHealth]

    @property
    def down(self) -> bool:
        """No tick was recorded for more than DEAD_AFTER (or none ever was)."""
        return self.last_tick is None or self.now - self.last_tick.minute > DEAD_AFTER

    @property
    def exit_code(self) -> int:
        """0: all is well; 1: a task failed its last run, is late or runs too long;
        2: the scheduler itself has stopped ticking."""
        if self.down:
            return 2
        return 1 if any(task.state != "ok" for task in self.tasks) else 0

    def as_json(self) -> dict[str, Any]:
        tick = self.last_tick
        return {"status": ("down" if self.down else "failing" if self.exit_code else "ok"),
                "exit_code": self.exit_code, "now": self.now.isoformat(),
                "last_tick": None if tick is None else {
                    "minute": tick.minute.isoformat(), "host": tick.host,
                    "started": tick.started.isoformat()},
                "tasks": [task.as_json() for task in self.tasks]}


def check(schedule: Schedule, store: Store, now: datetime, settings: Settings) -> Health:
    """The health of `schedule` at `now`, from `store`; the instants of the minutes
    since the last tick (but the one just passed, whose tick may be starting) are
    recorded as missed on the way."""
    last_tick = store.last_tick()
    first_tick = store.first_tick()
    if last_tick is not None:
        record_missed(store, schedule, last_tick.minute, floor_minute(now) - MINUTE, settings)
    last_runs = store.last_ended_runs()
    running: dict[str, RunRecord] = {}
    for record in store.running():
        running.setdefault(record.task, record)  # the newest of each task
    tasks = []
    for event in schedule.events:
        if not event.runs_in_environment(settings.app_env):
            continue
        grace = event.grace_minutes or DEFAULT_GRACE_MINUTES
        late_since = None
        if first_tick is not None and watched(event, settings.app_env):
            late_since = _late_since(schedule, store, event, first_tick.minute, now, grace)
        tasks.append(TaskHealth(event, last_runs.get(event.display_name), late_since,
                                _too_long(event, running.get(event.display_name), now),
                                grace))
    return Health(now, last_tick, tasks)


def _late_since(schedule: Schedule, store: Store, event: Event, history_start: datetime,
                now: datetime, grace: float) -> datetime | None:
    end = now - timedelta(minutes=grace)
    start = max(history_start, now - LOOKBACK)
    if start > end:
        return None
    latest = store.latest_instant(event.display_name)
    if latest is not None and latest >= start:
        start = latest + timedelta(seconds=1)  # a later run makes up for earlier gaps
    return next(due_instants(schedule, event, start, end), None)


def _too_long(event: Event, run: RunRecord | None, now: datetime) -> RunRecord | None:
    limit = event.expected_runtime_minutes
    if run is None or limit is None:
        return None
    return run if now - run.started > timedelta(minutes=limit) else None
