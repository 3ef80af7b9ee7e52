"""Time-of-day windows for `between` and `unless_between`."""

from __future__ import annotations

from datetime import datetime, time

from scheduler.typing_names import NamedTuple


class TimeWindow(NamedTuple):
    """A daily window of wall-clock time, both ends included; it may wrap past midnight.

    `inside=False` inverts it (`unless_between`). Checked against the wall time an
    event is scheduled for in its own zone, so a task caught up after a DST jump is
    judged by the time it was meant for.
    """

    start: time
    end: time
    inside: bool = True

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            within = self.start <= moment <= self.end
        else:  # e.g. 22:00-06:00
            within = moment >= self.start or moment <= self.end
        return within

    def allows(self, wall: datetime) -> bool:
        """Whether a run scheduled for the naive wall time `wall` passes this window."""
        return self.contains(wall.time()) == self.inside

    def describe(self) -> str:
        word = "between" if self.inside else "unless between"
        return f"{word} {self.start:%H:%M}-{self.end:%H:%M}"
