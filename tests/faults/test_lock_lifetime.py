"""A run's lock and timeout live exactly as long as its task: SIGKILL of the tick or of a
background supervisor, at random moments, never leaves an orphaned task running unlocked,
never lets two runs overlap, and loses no later run; a timeout stops every process the
task started, even in sessions of its own."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.conftest import Project
from tests.kernels import alive, history, parent_of, start_tick, wait_for

ITERATIONS = 30

# `guarded` proves overlaps by a lock of its own: a second copy running at the same time
# cannot take it and says "overlap".
KERNEL = """
import fcntl, os, time
from scheduler import schedule
from scheduler.settings import current

def note(line):
    with open(current().storage / "runs.txt", "a") as handle:
        handle.write(line + "\\n")

def guarded():
    current().storage.mkdir(parents=True, exist_ok=True)
    inside = os.open(current().storage / "inside.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(inside, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        note(f"overlap {os.getpid()}")
    note(f"start {os.getpid()}")
    time.sleep(float(os.environ.get("TASK_SECONDS", "0.6")))
    note(f"end {os.getpid()}")

def schedule_tasks():
    event = schedule().job(guarded).name("guarded").without_overlapping().timeout(30)
    if os.environ.get("BACKGROUND"):
        event.run_in_background()
"""


def runs(project: Project) -> list[tuple[str, int]]:
    path = project.storage / "runs.txt"
    if not path.exists():
        return []
    return [(word, int(pid)) for word, pid in
            (line.split() for line in path.read_text().splitlines())]


def started_pids(project: Project) -> list[int]:
    return [pid for word, pid in runs(project) if word == "start"]


def minute(index: int) -> str:
    return f"2026-03-08T{index // 60:02d}:{index % 60:02d}:00Z"


def assert_no_orphans_and_no_overlap(project: Project) -> None:
    wait_for(lambda: not any(alive(pid) for pid in started_pids(project)), timeout=10)
    assert not [pid for word, pid in runs(project) if word == "overlap"]


def assert_each_run_recorded_once(project: Project) -> None:
    """No run stays `running` in the history once every task has ended: the record a
    killed supervisor wrote is the one its keeper completed (one record per run)."""
    wait_for(lambda: not [record for record in history(project, ended_only=False)
                          if record["status"] == "running"], timeout=10)
    started = {record["started"] for record in history(project)}
    assert len(started) == len(history(project))


@pytest.mark.slow
def test_a_tick_killed_at_random_moments_takes_its_task_with_it(project: Project) -> None:
    project.kernel(KERNEL)
    chance = random.Random(1201)
    killed_mid_run = 0
    for index in range(ITERATIONS):
        before = len(started_pids(project))
        tick = start_tick(project, "--at", minute(2 * index))
        time.sleep(chance.uniform(0.0, 1.0))
        tick.send_signal(signal.SIGKILL)
        tick.wait(timeout=10)
        if len(started_pids(project)) > before and runs(project)[-1][0] == "start":
            killed_mid_run += 1  # it started and never ended
        # The next minute's tick runs the task as soon as the killed run's task is gone
        # (its keeper stops it within milliseconds; a tick that comes sooner is right to
        # skip it, and a skipped run is left to a retry of the minute), and the task
        # never runs on beside the new one.
        def next_minute_runs() -> bool:
            again = project.artisan("schedule:run", "--at", minute(2 * index + 1),  # noqa: B023
                                    env={"TASK_SECONDS": "0"})
            return "Running guarded" in again.stdout and "DONE" in again.stdout

        wait_for(next_minute_runs, timeout=10)
        assert_no_orphans_and_no_overlap(project)
    assert killed_mid_run >= 5  # the random moments did hit running tasks
    assert_each_run_recorded_once(project)


@pytest.mark.slow
def test_a_background_supervisor_killed_at_random_moments_takes_its_task_with_it(
        project: Project) -> None:
    project.kernel(KERNEL)
    chance = random.Random(1202)
    env = {"BACKGROUND": "1", "TASK_SECONDS": "60"}
    for index in range(ITERATIONS):
        before = len(started_pids(project))
        project.artisan("schedule:run", "--at", minute(2 * index), env=env)
        wait_for(lambda: len(started_pids(project)) > before)  # noqa: B023
        job = started_pids(project)[-1]
        keeper = parent_of(job)
        supervisor = parent_of(keeper)
        time.sleep(chance.uniform(0.0, 0.3))
        os.kill(supervisor, signal.SIGKILL)
        # The task does not outlive its supervisor (nor run on past its timeout)...
        wait_for(lambda: not alive(job), timeout=10)  # noqa: B023
        # ...and once its keeper has let go (a moment after the task), the next minute
        # starts it again.
        def next_minute_starts() -> bool:
            again = project.artisan("schedule:run", "--at", minute(2 * index + 1),  # noqa: B023
                                    env={**env, "TASK_SECONDS": "0"})
            return "guarded in the background" in again.stdout

        wait_for(next_minute_starts, timeout=10)
        wait_for(lambda: runs(project)[-1][0] == "end")
        assert_no_orphans_and_no_overlap(project)
    # ...and every killed run is in the run history, as a failure that says why.
    killed = [record for record in history(project)
              if "supervisor was killed" in (record["message"] or "")]
    assert len(killed) == ITERATIONS
    assert {record["status"] for record in killed} == {"failure"}
    assert_each_run_recorded_once(project)


def test_a_timeout_stops_processes_in_sessions_of_their_own(project: Project) -> None:
    project.kernel("""
import subprocess
from scheduler import schedule
from scheduler.settings import current

def spawner():
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    (current().storage / "popen.pid").write_text(str(child.pid))
    child.wait()

def schedule_tasks():
    schedule().exec("setsid sleep 60 & echo $! > storage/setsid.pid; sleep 60") \\
        .name("shell").timeout(1)
    schedule().job(spawner).name("spawner").timeout(1)
    schedule().exec("echo after >> storage/after.txt").name("after")
""")
    project.storage.mkdir()
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", timeout=60)
    assert result.stdout.count("timed out after 1s and was stopped") == 2, result.stdout
    pids = [int((project.storage / name).read_text()) for name in ("setsid.pid", "popen.pid")]
    assert [alive(pid) for pid in pids] == [False, False]
    assert (project.storage / "after.txt").read_text() == "after\n"


def test_a_task_that_ends_leaves_its_daemons_alone(project: Project) -> None:
    project.kernel("""
from scheduler import schedule

def schedule_tasks():
    schedule().exec("setsid sleep 30 & echo $! > storage/daemon.pid").name("starter")
""")
    project.storage.mkdir()
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert "DONE" in result.stdout, result.stdout
    daemon = int((project.storage / "daemon.pid").read_text())
    try:
        assert alive(daemon)
    finally:
        os.kill(daemon, signal.SIGKILL)


def test_the_lock_outlives_the_supervisor_until_the_task_is_gone(project: Project) -> None:
    # A task that takes its time to stop (it ignores SIGTERM) keeps the lock through its
    # keeper after the tick is killed, until the keeper's SIGKILL ends it.
    project.kernel("""
import os, signal, time
from scheduler import schedule
from scheduler.settings import current

def stubborn():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    (current().storage / "stubborn.pid").write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("TASK_SECONDS", "60")))

def schedule_tasks():
    schedule().job(stubborn).name("stubborn").without_overlapping()
""")
    project.storage.mkdir()
    pid_file = project.storage / "stubborn.pid"
    tick = start_tick(project, "--at", "2026-03-08T07:00:00Z")
    wait_for(pid_file.exists)
    job = int(pid_file.read_text())
    keeper = parent_of(job)
    tick.kill()
    tick.wait(timeout=10)
    pid_file.unlink()
    blocked = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                              env={"TASK_SECONDS": "0"})
    assert alive(job) and not pid_file.exists()
    assert "Skipping stubborn: the previous run is still running" in blocked.stdout
    wait_for(lambda: not alive(keeper), timeout=10)
    assert not alive(job)
    freed = project.artisan("schedule:run", "--at", "2026-03-08T07:02:00Z",
                            env={"TASK_SECONDS": "0"})
    assert "Running stubborn" in freed.stdout, freed.stdout

