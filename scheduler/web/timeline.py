"""The timeline's geometry: where each run, planned run, hour line, DST change and
paused stretch falls on a Gantt chart, computed on the server (the template only draws
what is computed here).

The past comes from the run history. The future comes from the tick's own due check
(`Schedule.due_with_wall_times`, cron's DST rules included), asked for every minute of
the next 24 hours: the question each tick will ask, so a planned run falls where the
tick will run it, and where `schedule:list`'s next due puts it. (Asking `next_due` from
instant to instant gives the same instants, but costs a croniter search per run: half a
second a day for one every-minute task; the sweep asks all tasks at once in
milliseconds.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from scheduler.event import Event
from scheduler.history.store import RunRecord
from scheduler.runner import format_duration
from scheduler.schedule import Schedule, floor_minute
from scheduler.web.state import Snapshot, in_zone

WIDTH = 1200  # the SVG's user units; it scales to the page's width
LABEL_WIDTH = 200
ROW_HEIGHT = 30
AXIS_HEIGHT = 34
PLOT_WIDTH = WIDTH - LABEL_WIDTH - 10
MINIMUM_BAR = 3.0  # a run of a second is still seen
MAX_PLANNED_GAP = 2.0  # planned runs closer than this (units) are drawn as one band
AHEAD = timedelta(hours=24)


@dataclass(frozen=True)
class Bar:
    """A recorded run: a bar from its start to its end (or to now, while running)."""

    x: float
    width: float
    status: str
    run_id: int
    title: str


@dataclass(frozen=True)
class Planned:
    """One planned run, or a band of planned runs too close together to tell apart."""

    x: float
    width: float
    count: int
    held: bool  # the pause or maintenance mode will hold it back
    title: str


@dataclass(frozen=True)
class Row:
    name: str
    y: float
    bars: list[Bar]
    planned: list[Planned]


@dataclass(frozen=True)
class Mark:
    """A vertical line across the chart: an hour, now, a DST change."""

    x: float
    label: str


@dataclass(frozen=True)
class Shade:
    """A stretch of the chart under a state: the schedule paused, maintenance mode."""

    x: float
    width: float
    kind: str
    label: str


@dataclass(frozen=True)
class Chart:
    start: datetime
    end: datetime
    now_x: float | None
    rows: list[Row]
    hours: list[Mark]
    dst: list[Mark]
    shades: list[Shade]
    width: int = WIDTH
    label_width: int = LABEL_WIDTH

    @property
    def height(self) -> float:
        return AXIS_HEIGHT + ROW_HEIGHT * max(1, len(self.rows)) + 8

    @property
    def run_count(self) -> int:
        return sum(len(row.bars) for row in self.rows)


class Scale:
    """Instants to x positions on the plot."""

    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.seconds = max(1.0, (end - start).total_seconds())

    def x(self, moment: datetime) -> float:
        fraction = (moment - self.start).total_seconds() / self.seconds
        return round(LABEL_WIDTH + min(1.0, max(0.0, fraction)) * PLOT_WIDTH, 2)

    def width(self, start: datetime, end: datetime) -> float:
        return max(MINIMUM_BAR, round(self.x(end) - self.x(start), 2))


def build(snapshot: Snapshot, runs: Sequence[RunRecord], start: datetime, end: datetime,
          zone: tzinfo) -> Chart:
    """The chart of `runs` in [`start`, `end`), plus, when the window reaches now, the
    next 24 hours of planned runs; times are labelled in `zone`."""
    now = snapshot.now
    planning = end >= now
    chart_end = now + AHEAD if planning else end
    scale = Scale(start, chart_end)
    plans = planned_minutes(snapshot.schedule, now, chart_end,
                            snapshot.settings.app_env) if planning else {}
    rows = []
    for index, task in enumerate(snapshot.tasks):
        event = task.event
        own = [run for run in runs if run.task == task.name]
        planned: list[Planned] = []
        if planning:
            held = ((snapshot.paused is not None and not event.runs_when_paused)
                    or (snapshot.maintenance and not event.runs_in_maintenance))
            planned = _planned(event, plans.get(id(event), []), scale, held, zone)
        rows.append(Row(task.name, AXIS_HEIGHT + index * ROW_HEIGHT,
                        [_bar(run, scale, now, zone) for run in reversed(own)], planned))
    known = {task.name for task in snapshot.tasks}
    for name in sorted({run.task for run in runs} - known):  # tasks since removed
        rows.append(Row(name, AXIS_HEIGHT + len(rows) * ROW_HEIGHT,
                        [_bar(run, scale, now, zone) for run in reversed(runs)
                         if run.task == name], []))
    zones = {zone, *(task.event.timezone_or(snapshot.schedule.default_timezone)
                     for task in snapshot.tasks)}
    shades = []
    if snapshot.paused is not None:
        # Paused "later than now" is another server's clock running ahead: paused now.
        since = max(min(snapshot.paused, now), start)
        shades.append(Shade(scale.x(since), scale.x(chart_end) - scale.x(since), "paused",
                            f"paused since {in_zone(snapshot.paused, zone)}"))
    if snapshot.maintenance and planning:
        shades.append(Shade(scale.x(now), scale.x(chart_end) - scale.x(now), "maintenance",
                            "maintenance mode"))
    return Chart(start, chart_end, scale.x(now) if start <= now <= chart_end else None, rows,
                 _hour_marks(scale, start, chart_end, zone),
                 [Mark(scale.x(moment), label)
                  for moment, label in dst_changes(zones, start, chart_end)], shades)


def placed_at(run: RunRecord) -> datetime:
    """Where a run goes on a time line: its start; a missed run (recorded when it was
    noticed) at the instant it was due."""
    return run.scheduled if run.status == "missed" and run.scheduled else run.started


def _bar(run: RunRecord, scale: Scale, now: datetime, zone: tzinfo) -> Bar:
    begin = placed_at(run)
    finish = run.finished or (now if run.status == "running" else begin)
    if run.status == "missed":
        finish = begin
    duration = "" if run.duration is None else f", {format_duration(run.duration)}"
    why = f" ({run.reason})" if run.reason else ""
    title = f"#{run.id} {run.task}: {run.status}{why}, {in_zone(begin, zone)}{duration}"
    return Bar(scale.x(begin), scale.width(begin, finish), run.status, run.id, title)


def planned_minutes(schedule: Schedule, start: datetime, end: datetime,
                    environment: str) -> dict[int, list[datetime]]:
    """The minutes after `start` and up to `end` at which each event (by id) is due."""
    plans: dict[int, list[datetime]] = {}
    minute = floor_minute(start) + timedelta(minutes=1)
    while minute <= end:
        for event, _wall in schedule.due_with_wall_times(minute, environment,
                                                         in_maintenance=False):
            plans.setdefault(id(event), []).append(minute)
        minute += timedelta(minutes=1)
    return plans


def _planned(event: Event, instants: Sequence[datetime], scale: Scale, held: bool,
             zone: tzinfo) -> list[Planned]:
    marks: list[Planned] = []
    group: list[datetime] = []
    per_minute = 60 // event.repeat_seconds if event.repeat_seconds else 1

    def close_group() -> None:
        first, last = group[0], group[-1]
        x = scale.x(first)
        count = len(group) * per_minute
        title = (f"due {in_zone(first, zone)}" if count == 1 else
                 f"{count} runs due from {in_zone(first, zone)} to {in_zone(last, zone)}")
        if event.repeat_seconds:
            title += f", every {event.repeat_seconds} s"
        marks.append(Planned(x, max(MINIMUM_BAR, scale.x(last) - x), count, held,
                             title + (" (held back)" if held else "")))

    for instant in instants:
        if group and scale.x(instant) - scale.x(group[-1]) > MAX_PLANNED_GAP:
            close_group()
            group = []
        group.append(instant)
    if group:
        close_group()
    return marks


def _hour_marks(scale: Scale, start: datetime, end: datetime, zone: tzinfo) -> list[Mark]:
    """A line every few hours of `zone`'s clock, so that about a dozen are labelled."""
    hours = max(1, int((end - start).total_seconds() // 3600))
    step = next(size for size in (1, 2, 3, 4, 6, 12, 24, 48, 168) if hours / size <= 14)
    local = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    moment = local.astimezone(start.tzinfo) + timedelta(hours=1)
    marks = []
    while moment < end:
        wall = moment.astimezone(zone)
        if wall.hour % step == 0:
            label = f"{wall:%a %H:%M}" if wall.hour == 0 or step >= 24 else f"{wall:%H:%M}"
            marks.append(Mark(scale.x(moment), label))
        moment += timedelta(hours=1)
    return marks


def dst_changes(zones: Iterable[tzinfo], start: datetime,
                end: datetime) -> list[tuple[datetime, str]]:
    """The instants in [`start`, `end`] where one of `zones` changes its UTC offset, each
    with a label (`Europe/Berlin 02:00 → 03:00`), found to the minute."""
    changes = []
    for zone in zones:
        moment = start
        while moment < end:
            following = min(end, moment + timedelta(hours=1))
            if moment.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset():
                low, high = moment, following
                while high - low > timedelta(minutes=1):
                    middle = low + (high - low) / 2
                    if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                        low = middle
                    else:
                        high = middle
                changed = high.replace(second=0, microsecond=0)
                after = changed.astimezone(zone)
                label = (f"{zone} {_wall_before(changed, zone)} → {after:%H:%M} "
                         f"({after.tzname()})")
                changes.append((changed, label))
            moment = following
    return sorted(changes)


def _wall_before(changed: datetime, zone: tzinfo) -> str:
    """The wall clock just before the change, as the clock would have gone on."""
    before = (changed - timedelta(minutes=1)).astimezone(zone) + timedelta(minutes=1)
    return f"{before:%H:%M}"
