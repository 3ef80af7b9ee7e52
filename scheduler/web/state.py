"""What the status page shows, read once per request: the schedule the kernel defines,
its health (the logic of `schedule:monitor`), the pause and maintenance flags, and the
runs the history holds. The pages, `/health`, `/metrics` and the JSON API all read it,
so they never disagree."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from scheduler import clock
from scheduler.event import Event
from scheduler.history import history_config, open_store
from scheduler.history.lateness import Health, TaskHealth, check
from scheduler.history.store import RunRecord, Store
from scheduler.kernel import load_schedule
from scheduler.listing import EventSummary, running_holders, summarize
from scheduler.maintenance import is_down
from scheduler.mutex import MutexUnavailable, backend_for
from scheduler.pause import paused_since
from scheduler.schedule import Schedule
from scheduler.settings import Settings
from scheduler.zones import UTC

DAY = timedelta(hours=24)
# A task's strip shows at most this many runs (an every-second task makes 86,400 a day:
# the strip shows its latest, and says so).
MAX_STRIP_RUNS = 500
# Loading the kernel starts the process-wide schedule afresh; two requests loading it at
# once (the server answers in threads) must not interleave their declarations.
_kernel_lock = threading.Lock()


class HistoryUnavailable(Exception):
    """The run history is off, misconfigured or cannot be read (the message says which)."""


@dataclass(frozen=True)
class TaskView:
    """One task as the overview shows it."""

    summary: EventSummary
    health: TaskHealth | None
    recent: list[RunRecord]  # its runs of the last 24 hours, newest first (MAX_STRIP_RUNS)

    @property
    def event(self) -> Event:
        return self.summary.event

    @property
    def name(self) -> str:
        return self.summary.event.display_name

    @property
    def described(self) -> str:
        return describe_expression(self.event.expression)

    @property
    def state(self) -> str:
        """`failed`, `late`, `long-running`, `ok`, or `not watched` (another environment)."""
        return self.health.state if self.health is not None else "not watched"

    def as_json(self) -> dict[str, Any]:
        data = self.summary.as_json()
        data["description"] = self.described
        data["state"] = self.state
        data["late_since"] = (None if self.health is None or self.health.late_since is None
                              else self.health.late_since.isoformat())
        return data


@dataclass(frozen=True)
class Banner:
    """A line across the top of every page: the scheduler is down, paused, in maintenance."""

    kind: str  # "down", "paused", "maintenance", "problem"
    text: str


@dataclass
class Snapshot:
    """Everything one request needs, read at `now`."""

    settings: Settings
    schedule: Schedule
    store: Store
    now: datetime
    health: Health
    paused: datetime | None  # since when the schedule is paused
    maintenance: bool
    tasks: list[TaskView] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def banners(self) -> list[Banner]:
        banners = []
        tick = self.health.last_tick
        if tick is None:
            banners.append(Banner("down", "The scheduler has never ticked: no tick is in "
                                          "the run history. Is the crontab line installed?"))
        elif self.health.down:
            minutes = int((self.now - tick.minute).total_seconds() // 60)
            banners.append(Banner("down", f"The scheduler is not ticking: the last tick was "
                                          f"{minutes} minutes ago, on {tick.host}."))
        if self.paused is not None:
            banners.append(Banner("paused", "The schedule is paused: only tasks marked "
                                            "even_when_paused() run."))
        if self.maintenance:
            banners.append(Banner("maintenance", "The application is in maintenance mode: "
                                                 "only tasks marked even_in_maintenance_mode() "
                                                 "run."))
        banners.extend(Banner("problem", problem) for problem in self.problems)
        return banners

    def task(self, name: str) -> TaskView | None:
        return next((task for task in self.tasks if task.name == name), None)

    def close(self) -> None:
        self.store.close()


def read_state(settings: Settings, now: datetime | None = None) -> Snapshot:
    """Load the kernel and read the history, the pause and the maintenance mark.

    Raises KernelError when the kernel cannot be loaded, HistoryUnavailable when the
    history cannot be read.
    """
    from scheduler.history.store import StoreError

    now = now or clock.now()
    schedule = load_kernel(settings)
    try:
        config = history_config(settings)
    except ValueError as error:
        raise HistoryUnavailable(f"Configuration error: {error}") from None
    if not config.enabled:
        raise HistoryUnavailable("The run history is off (SCHEDULER_HISTORY=off): the status "
                                 "page has nothing to show.")
    store = open_store(config)
    problems: list[str] = []
    try:
        store.ensure_schema()
        health = check(schedule, store, now, settings)
        last_runs = store.last_runs()
        recent = {event.display_name: store.runs(
            task=event.display_name, since=now - DAY, until=now + timedelta(minutes=1),
            limit=MAX_STRIP_RUNS) for event in schedule.events}
    except StoreError as error:
        store.close()
        raise HistoryUnavailable(f"Could not read {error}") from None
    paused = None
    try:
        since = paused_since(backend_for(settings))
        paused = None if since is None else _parse_instant(since, now)
    except MutexUnavailable as error:
        problems.append(f"Could not tell whether the schedule is paused: {error}")
    holders, problem = running_holders(schedule, settings)
    if problem:
        problems.append(problem)
    summaries = summarize(schedule, now, None, None, holders, paused=paused is not None,
                          last_runs=last_runs)
    health_by_name = {task.name: task for task in health.tasks}
    snapshot = Snapshot(settings, schedule, store, now, health, paused, is_down(settings),
                        problems=problems)
    for summary in summaries:
        name = summary.event.display_name
        snapshot.tasks.append(TaskView(summary, health_by_name.get(name), recent[name]))
    return snapshot


def load_kernel(settings: Settings) -> Schedule:
    """The schedule the kernel defines (KernelError when it cannot be loaded)."""
    with _kernel_lock:
        return load_schedule(settings)


@lru_cache(maxsize=256)
def describe_expression(expression: str) -> str:
    """The expression in plain English: `0 2 * * 1-5` is "At 02:00, Monday through Friday"."""
    from cron_descriptor import ExpressionDescriptor, Options

    options = Options()
    options.use_24hour_time_format = True
    try:
        return str(ExpressionDescriptor(expression, options).get_description())
    except Exception:  # the library's errors have no common base; the raw expression stays
        return expression


def _parse_instant(text: str, now: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return now
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def in_zone(moment: datetime | None, zone: tzinfo) -> str:
    """`2026-03-08 07:00:00 CET`, in the viewer's zone."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()
