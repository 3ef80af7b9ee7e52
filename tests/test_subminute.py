"""Sub-minute events: the loop's arithmetic on a fake clock, then the real thing."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from scheduler import Event, Schedule
from scheduler.subminute import SubMinuteLoop
from tests.conftest import Project


def task() -> None:
    """A job."""


class FakeClock:
    def __init__(self, start: float) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        assert 0 < seconds <= 0.5  # never sleeps past an interrupt check
        self.time += seconds


def run_loop(events: list[Event], start_second: float,
             interrupt_at: float | None = None) -> list[tuple[float, str]]:
    clock = FakeClock(1_000_020.0 - 20 + start_second)  # a minute starts at 1_000_000
    started: list[tuple[float, str]] = []
    loop = SubMinuteLoop(
        events, 1_000_000.0,
        lambda event, at: started.append((round(at - 1_000_000.0, 3), event.display_name)),
        interrupted=lambda: interrupt_at is not None and clock.time >= 1_000_000 + interrupt_at,
        now=clock.now, sleep=clock.sleep)
    loop.run()
    return started


def test_each_offset_of_each_event_gets_one_run() -> None:
    s = Schedule()
    events = [s.job(task).every(15).name("quarter"), s.job(task).every(20).name("third")]
    assert run_loop(events, 0.2) == [
        (0, "quarter"), (0, "third"), (15, "quarter"), (20, "third"), (30, "quarter"),
        (40, "third"), (45, "quarter")]


def test_a_late_start_runs_the_current_offset_late_and_skips_the_missed_ones() -> None:
    s = Schedule()
    events = [s.job(task).every(5).name("five"), s.job(task).every(30).name("thirty")]
    # At second 12: offsets 0 and 5 of "five" are missed, 10 runs late (its next offset,
    # 15, has not come yet); "thirty" runs its offset 0 late, twelve seconds in.
    assert run_loop(events, 12) == [
        (0, "thirty"), (10, "five"), (15, "five"), (20, "five"), (25, "five"), (30, "five"),
        (30, "thirty"), (35, "five"), (40, "five"), (45, "five"), (50, "five"), (55, "five")]


def test_an_interrupt_ends_the_loop_within_half_a_second() -> None:
    s = Schedule()
    started = run_loop([s.job(task).every(1).name("each")], 0, interrupt_at=10.2)
    assert started[-1] == (10, "each") and len(started) == 11


KERNEL = """
import json, os, time
from pathlib import Path
from scheduler import schedule
from scheduler.settings import current

def record(name):
    with open(current().storage / "times.jsonl", "a") as handle:
        handle.write(json.dumps([name, time.time()]) + "\\n")

def slow():
    record("slow-start")
    time.sleep(6)
    record("slow-end")

def paused():
    return (current().storage / "pause").exists()

def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    schedule().job(slow).name("slow")
    schedule().job(record, "two").every(2)
    schedule().job(record, "five").every_five_seconds().skip(paused)
    # Asked at the instant its run is for, not when the run is prepared a moment before.
    schedule().job(record, "even").every_second().when(lambda: int(time.time()) % 2 == 0)
"""


def times(project: Project) -> list[tuple[str, float]]:
    path = project.storage / "times.jsonl"
    return [(str(name), float(at)) for name, at in
            (json.loads(line) for line in path.read_text().splitlines())]


def test_sub_minute_runs_start_on_time_whatever_the_foreground_does(project: Project) -> None:
    project.kernel(KERNEL)
    # Start in the last quarter of a real minute (waiting for it if need be), so that
    # the tick, which lives until its minute ends, takes at most about 15 seconds.
    second = time.time() % 60
    if not 44 <= second <= 50:
        time.sleep((44 - second) % 60)
    tick = subprocess.Popen([sys.executable, str(project.root / "artisan"), "schedule:run"],
                            env=project.env, stdout=subprocess.PIPE, text=True)
    started = time.time()
    minute_start = started // 60 * 60
    # Halfway through, skip() starts to say no: it is asked again at every offset.
    time.sleep(max(0.0, minute_start + 51.5 - time.time()))
    (project.storage / "pause").touch()
    time.sleep(max(0.0, minute_start + 56.2 - time.time()))
    interrupt = subprocess.run([sys.executable, str(project.root / "artisan"),
                                "schedule:interrupt"], env=project.env, capture_output=True,
                               text=True)
    output, _ = tick.communicate(timeout=30)
    ended = time.time()
    assert interrupt.stdout.strip() == "Broadcasting schedule interrupt signal."
    assert tick.returncode == 0, output
    assert "Sub-minute loop interrupted" in output
    recorded = times(project)
    offsets = {name: [round(at - minute_start, 3) for n, at in recorded if n == name]
               for name in ("two", "five", "slow-start", "even")}
    # The offset the tick started in runs at once, late; every later offset runs on
    # time, within 100 ms, while "slow" keeps the foreground busy.
    late, *on_time = offsets["two"]
    assert late - (started - minute_start) < 1.5
    assert [round(o) for o in on_time] == [o for o in range(0, 60, 2) if late < o <= 56.2]
    assert all(abs(offset - round(offset)) < 0.1 for offset in on_time)
    assert offsets["slow-start"][0] < on_time[0] < offsets["slow-start"][0] + 6
    assert [round(o) for o in offsets["five"] if round(o) >= 50] == [50]
    assert 55 not in [round(o) for o in offsets["five"]]  # skipped: the pause file
    # The when() of "even" saw the second of its own instant: it ran at even seconds
    # only, every one of them the loop reached.
    evens = [int(o) for o in offsets["even"]]
    assert evens and all(second % 2 == 0 for second in evens), offsets["even"]
    assert evens[1:] == [round(o) for o in on_time if round(o) > evens[0]]
    # The interrupt at 56.2 ended the loop within a second: no run at 58, no waiting
    # for the minute's end.
    assert 58 not in [round(o) for o in offsets["two"]]
    assert ended - minute_start < 59.5
    assert "Running slow" in output


def test_runs_are_started_the_lead_time_early_for_their_own_instant() -> None:
    s = Schedule()
    clock = FakeClock(1_000_000.0)
    calls: list[tuple[float, float]] = []
    loop = SubMinuteLoop([s.job(task).every(30)], 1_000_000.0,
                         lambda event, at: calls.append((clock.time, at)),
                         lead=0.05, now=clock.now, sleep=clock.sleep)
    loop.run()
    assert [(round(called - 1_000_000, 2), at - 1_000_000) for called, at in calls] == [
        (0.0, 0.0), (29.95, 30.0)]
