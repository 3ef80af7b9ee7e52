"""The sub-minute loop: events that repeat every N seconds within their due minute.

An event with `every(15)` is due at the offsets 0, 15, 30 and 45 of each minute its
expression allows. Each offset gets at most one run. A run starts at its offset, or
late if the loop got there late, but never once the next offset of that event has
come (then that offset is missed, not run twice as fast). The loop ends with the
minute, or within a second of `schedule:interrupt`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.event import Event

# How often a sleeping loop looks for an interrupt: the upper bound of its reaction.
INTERRUPT_CHECK_SECONDS = 0.5


def offsets_of(event: Event) -> range:
    """The seconds of the minute at which a repeating event runs."""
    assert event.repeat_seconds
    return range(0, 60, event.repeat_seconds)


@dataclass
class SubMinuteLoop:
    """Starts each repeating event at each of its offsets in one minute.

    `minute_start` is the real minute's start (epoch seconds); `start_run(event, at)`
    starts one run for the offset instant `at` and must not block; it is called `lead`
    seconds early, so that a run can be prepared (its process forked) before its
    instant and begin right on it. `interrupted()` is checked at least every
    INTERRUPT_CHECK_SECONDS. The clock is injectable.
    """

    events: list[Event]
    minute_start: float
    start_run: Callable[[Event, float], None]
    interrupted: Callable[[], bool] = lambda: False
    lead: float = 0.0
    now: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    started: list[tuple[float, Event]] = field(default_factory=list)

    def schedule(self) -> list[tuple[int, list[Event]]]:
        """The offsets of the minute, in order, each with the events due at it."""
        by_offset: dict[int, list[Event]] = {}
        for event in self.events:
            for offset in offsets_of(event):
                by_offset.setdefault(offset, []).append(event)
        return sorted(by_offset.items())

    def run(self) -> bool:
        """Run the minute's offsets; False if it was interrupted."""
        for offset, events in self.schedule():
            target = self.minute_start + offset
            if not self._wait_until(target - self.lead):
                return False
            lateness = self.now() - target
            for event in events:
                assert event.repeat_seconds
                if lateness < event.repeat_seconds:  # else its next offset is due already
                    self.started.append((target, event))
                    self.start_run(event, target)
        return True

    def _wait_until(self, target: float) -> bool:
        while True:
            if self.interrupted():
                return False
            remaining = target - self.now()
            if remaining <= 0:
                return True
            self.sleep(min(remaining, INTERRUPT_CHECK_SECONDS))
