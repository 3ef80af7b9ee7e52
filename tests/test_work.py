"""`artisan schedule:work`: the loop on a fake clock, then the real command with signals."""

from __future__ import annotations

import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from scheduler.worker import POLL_SECONDS, Worker
from scheduler.zones import UTC
from tests.conftest import Project
from tests.kernels import alive, processes_in, processes_started_in

T = 1_800_000_000  # a minute boundary: 2027-01-15 08:00:00 UTC


def minute(offset: int) -> datetime:
    return datetime.fromtimestamp(T + offset, UTC)


class FakeClock:
    """Time that moves only when the worker sleeps; `after_sleep` may bend it further."""

    def __init__(self, start: float) -> None:
        self.time = start
        self.sleeps: list[float] = []
        self.after_sleep: Callable[[FakeClock], None] = lambda clock: None

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.time += seconds
        self.after_sleep(self)


class FakeTick:
    """A tick that ends `runs_for` seconds after it starts (never, if infinite)."""

    def __init__(self, clock: FakeClock, runs_for: float, dies_on_term: bool) -> None:
        self.clock = clock
        self.pid = 0
        self.ends_at = clock.time + runs_for
        self.code = 0
        self.dies_on_term = dies_on_term
        self.signals: list[tuple[str, float]] = []

    def poll(self) -> int | None:
        return self.code if self.clock.time >= self.ends_at else None

    def terminate(self) -> None:
        self.signals.append(("TERM", self.clock.time))
        if self.dies_on_term:
            self.ends_at, self.code = self.clock.time, -signal.SIGTERM

    def kill(self) -> None:
        self.signals.append(("KILL", self.clock.time))
        self.ends_at, self.code = min(self.ends_at, self.clock.time), -signal.SIGKILL


class Harness:
    """A worker on a fake clock, recording what it starts and what it says."""

    def __init__(self, start: float, *, interval: int = 60, grace: float = 60,
                 runs_for: float = 0, dies_on_term: bool = True) -> None:
        self.clock = FakeClock(start)
        self.lines: list[str] = []
        self.started: list[tuple[float, datetime]] = []  # (when, --at)
        self.ticks: list[FakeTick] = []
        self.runs_for = runs_for
        self.dies_on_term = dies_on_term
        self.worker = Worker(self.launch, interval=interval, grace=grace, kill_after=5,
                             now=self.clock.now, sleep=self.clock.sleep,
                             echo=self.lines.append)

    def launch(self, at: datetime) -> FakeTick:
        self.started.append((self.clock.time, at))
        tick = FakeTick(self.clock, self.runs_for, self.dies_on_term)
        self.ticks.append(tick)
        return tick

    def also_after_sleep(self, hook: Callable[[FakeClock], None]) -> None:
        """Run `hook` after every sleep, after the hooks already set."""
        previous = self.clock.after_sleep

        def both(clock: FakeClock) -> None:
            previous(clock)
            hook(clock)

        self.clock.after_sleep = both

    def stop_after(self, starts: int) -> None:
        """Ask the worker to stop once it has started `starts` ticks."""

        def check(clock: FakeClock) -> None:
            if len(self.started) >= starts and not self.worker.stop_requests:
                self.worker.request_stop()

        self.also_after_sleep(check)


def test_ticks_start_on_each_minute_boundary_with_that_minute() -> None:
    harness = Harness(T + 30.5)
    harness.stop_after(3)
    assert harness.worker.run() == 0
    assert harness.started == [(T + 60, minute(60)), (T + 120, minute(120)),
                               (T + 180, minute(180))]
    # It never sleeps past a boundary, and never so long that a stop waits.
    assert max(harness.clock.sleeps) <= POLL_SECONDS
    assert "2027-01-15 08:01:00  Running schedule:run" in harness.lines


def test_a_late_wake_up_runs_the_minute_once_with_its_own_minute() -> None:
    harness = Harness(T + 50)

    def oversleep(clock: FakeClock) -> None:
        if T + 60 <= clock.time < T + 61:  # the wake-up for 08:01 comes 20 s late
            clock.time += 20

    harness.clock.after_sleep = oversleep
    harness.stop_after(2)
    harness.worker.run()
    assert [at for _, at in harness.started] == [minute(60), minute(120)]
    assert harness.started[0][0] >= T + 80
    assert not any("Missed" in line for line in harness.lines)


def test_a_clock_set_back_does_not_run_a_minute_again() -> None:
    harness = Harness(T + 50)
    jumped: list[float] = []

    def set_back(clock: FakeClock) -> None:
        if harness.started and not jumped:  # just after 08:01 started: back to 08:00:30
            jumped.append(clock.time)
            clock.time = T + 30

    harness.clock.after_sleep = set_back
    harness.stop_after(2)
    harness.worker.run()
    assert [at for _, at in harness.started] == [minute(60), minute(120)]
    assert harness.started[1][0] == T + 120


def test_a_wake_up_minutes_late_starts_only_the_current_minute_and_says_so() -> None:
    harness = Harness(T + 50)

    def stall(clock: FakeClock) -> None:
        if len(harness.started) == 1 and clock.time < T + 120:  # stalled until 08:04:20
            clock.time = T + 260

    harness.clock.after_sleep = stall
    harness.stop_after(2)
    harness.worker.run()
    assert [at for _, at in harness.started] == [minute(60), minute(240)]
    [missed] = [line for line in harness.lines if "Missed" in line]
    assert missed.startswith("Missed 2 tick(s) from 2027-01-15 08:02:00")
    assert "starting only 2027-01-15 08:04:00" in missed


def test_a_short_interval_tracks_boundaries_not_minutes() -> None:
    harness = Harness(T + 57, interval=2)
    harness.stop_after(3)
    harness.worker.run()
    # Two boundaries in one minute both run, each told the minute it falls in.
    assert harness.started == [(T + 58, minute(0)), (T + 60, minute(60)),
                               (T + 62, minute(60))]


def test_a_stop_request_ends_the_loop_and_waits_for_running_ticks() -> None:
    harness = Harness(T + 50, runs_for=12)
    harness.stop_after(1)
    assert harness.worker.run() == 0
    assert len(harness.started) == 1
    [tick] = harness.ticks
    assert tick.signals == []
    assert T + 72 <= harness.clock.time < T + 72 + 2 * POLL_SECONDS  # no longer than needed
    assert harness.lines[-1] == "Stopped."


def test_a_stop_request_before_any_tick_returns_at_once() -> None:
    harness = Harness(T + 10)
    harness.clock.after_sleep = lambda clock: harness.worker.request_stop()
    assert harness.worker.run() == 0
    assert harness.started == []
    assert harness.clock.time <= T + 10 + POLL_SECONDS


def test_after_the_grace_period_ticks_get_sigterm_then_sigkill() -> None:
    harness = Harness(T + 50, grace=30, runs_for=math.inf, dies_on_term=False)
    harness.stop_after(1)
    assert harness.worker.run() == 1
    [tick] = harness.ticks
    stopped_at = T + 60 + POLL_SECONDS
    assert [name for name, _ in tick.signals] == ["TERM", "KILL"]
    assert tick.signals[0][1] == pytest.approx(stopped_at + 30, abs=POLL_SECONDS)
    assert tick.signals[1][1] == pytest.approx(stopped_at + 35, abs=POLL_SECONDS)
    assert tick.poll() is not None  # reaped before the worker returned


def test_a_tick_that_ends_on_sigterm_is_not_waited_for_further() -> None:
    harness = Harness(T + 50, grace=30, runs_for=math.inf, dies_on_term=True)
    harness.stop_after(1)
    assert harness.worker.run() == 1
    [tick] = harness.ticks
    # SIGKILL still goes out at once, for any task the tick left behind.
    assert [name for name, _ in tick.signals] == ["TERM", "KILL"]
    assert tick.signals[1][1] - tick.signals[0][1] < POLL_SECONDS


def test_a_second_stop_request_ends_the_grace_period() -> None:
    harness = Harness(T + 50, grace=600, runs_for=math.inf)
    harness.stop_after(1)
    requested_at: list[float] = []

    def second_signal(clock: FakeClock) -> None:
        if harness.worker.stop_requests == 1 and not requested_at:
            requested_at.append(clock.time)
        elif requested_at and clock.time >= requested_at[0] + 3:
            harness.worker.request_stop()

    harness.also_after_sleep(second_signal)
    assert harness.worker.run() == 1
    [tick] = harness.ticks
    assert tick.signals[0][0] == "TERM"
    assert tick.signals[0][1] < requested_at[0] + 4


def test_a_tick_killed_by_a_signal_is_reported() -> None:
    harness = Harness(T + 50, runs_for=1)

    def crash(clock: FakeClock) -> None:
        if harness.ticks:
            harness.ticks[0].code = -signal.SIGKILL

    harness.also_after_sleep(crash)
    harness.stop_after(1)
    harness.worker.run()
    assert "schedule:run of 2027-01-15 08:01:00 was killed by SIGKILL." in harness.lines


# The real command: `artisan schedule:work --interval-seconds 2`, stopped by a signal.

KERNEL = """
import os, time
from scheduler import schedule
from scheduler.settings import current

def record(*words):
    folder = current().storage
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ran.txt", "a") as handle:
        handle.write(" ".join(str(word) for word in words) + "\\n")

def started_at():
    # The --at of the tick that forked this job, from the tick's command line.
    argv = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
    return argv[argv.index(b"--at") + 1].decode()

def work(seconds):
    record("start", os.getpid(), os.getppid(), time.time(), started_at())
    time.sleep(seconds)
    record("end", os.getpid(), os.getppid(), time.time(), started_at())

def schedule_tasks():
    # Every tick loads the kernel, so each one leaves a line, run or not.
    argv = open(f"/proc/{os.getpid()}/cmdline", "rb").read().split(b"\\0")
    record("tick", os.getpid(), os.getpid(), time.time(),
           argv[argv.index(b"--at") + 1].decode())
    schedule().job(work, SECONDS).every_minute()
"""


def records(project: Project, kind: str) -> list[list[str]]:
    """The `kind` ("start" or "end") lines: [pid, tick pid, time, --at] each."""
    path = project.storage / "ran.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.split()[1:] for line in lines if line.split()[0] == kind]


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def project_processes(project: Project) -> list[int]:
    """Every live process of the project: the worker, its ticks, their tasks."""
    return processes_in(project.root)


@pytest.fixture
def workers(project: Project) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `schedule:work` for the project; whatever a failed test leaves is killed."""
    with processes_started_in(project.root, project.env) as start:
        yield lambda *args: start([sys.executable, str(project.root / "artisan"),
                                   "schedule:work", "--interval-seconds", "2", *args])


def test_it_starts_a_tick_per_boundary_and_exits_0_on_sigterm(
        project: Project, workers: Callable[..., subprocess.Popen[str]]) -> None:
    project.kernel(KERNEL.replace("SECONDS", "0"))
    worker = workers()
    assert wait_until(lambda: len(records(project, "tick")) >= 3, 15)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=5)
    assert worker.returncode == 0, output
    ticks = records(project, "tick")
    assert len({pid for pid, *_ in ticks}) == len(ticks)  # a process of its own each
    for _, _, when, at in ticks:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00Z", at)
        boundary_minute = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        assert 0 <= float(when) - boundary_minute < 62
    # Ticks come every 2 seconds, but the job runs once per minute: the later ticks
    # of a minute find it claimed by the first (the per-host double-tick guard).
    minutes = {at for *_, at in ticks}
    assert sorted(at for *_, at in records(project, "end")) == sorted(minutes)
    assert output.count("A tick already ran for") == len(ticks) - len(minutes)
    assert output.count("  Running schedule:run") >= 3
    assert output.count("Running console.kernel.work(0)") == len(minutes)
    assert output.rstrip().endswith("Stopped.")
    assert not any(alive(int(tick)) for tick, *_ in ticks)
    assert project_processes(project) == []


def test_on_sigterm_it_waits_for_running_ticks_which_overlap(
        project: Project, workers: Callable[..., subprocess.Popen[str]]) -> None:
    project.kernel(KERNEL.replace("SECONDS", "3"))
    worker = workers()
    assert wait_until(lambda: len(records(project, "start")) >= 1, 15)
    [job_start] = records(project, "start")
    assert wait_until(lambda: any(float(when) > float(job_start[2])
                                  for _, _, when, _ in records(project, "tick")), 5)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=10)
    assert worker.returncode == 0, output
    # The worker waited for the tick whose job was running: the job finished.
    [job_end] = records(project, "end")
    assert job_end[0] == job_start[0]
    # A later tick started while that job still ran.
    assert any(float(job_start[2]) < float(when) < float(job_end[2])
               for _, _, when, _ in records(project, "tick"))
    assert "Stopping: waiting up to 60s" in output
    assert project_processes(project) == []


def test_after_the_grace_period_the_tick_and_its_job_are_killed(
        project: Project, workers: Callable[..., subprocess.Popen[str]]) -> None:
    project.kernel(KERNEL.replace("SECONDS", "30"))
    worker = workers("--grace", "1")
    assert wait_until(lambda: len(records(project, "start")) >= 1, 15)
    [job, tick, _, _] = records(project, "start")[0]
    signalled = time.monotonic()
    worker.send_signal(signal.SIGINT)
    output, _ = worker.communicate(timeout=10)
    took = time.monotonic() - signalled
    assert worker.returncode == 1, output
    assert 1 <= took < 5
    assert re.search(r"Stopping \d+ schedule:run still running, and their tasks", output)
    assert records(project, "end") == []
    # The job ran in a session of its own, yet it went with its tick.
    assert wait_until(lambda: not alive(int(job)) and not alive(int(tick)), 2)
    assert wait_until(lambda: project_processes(project) == [], 2)
