"""A tick killed before it started some of its due tasks: a retry of the minute runs
what never started and nothing that did (claims per event and instant, "started"
recorded just before each task starts)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from scheduler import Schedule
from scheduler.mutex import Acquired
from scheduler.mutex.files import FileMutexBackend
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, ran, wait_for

AT = "2026-03-08T07:00:00Z"

KERNEL = RECORDING_KERNEL + """
def step(word, seconds):
    record(word)
    time.sleep(seconds)

def schedule_tasks():
    for word in WORDS:
        schedule().job(step, word, SECONDS)
"""
WORDS = ["one", "two", "three", "four", "five"]


def start_tick(project: Project, at: str = AT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(project.root / "artisan"), "schedule:run", "--at", at],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=project.env,
        cwd=project.root, stdin=subprocess.DEVNULL)


def kill_tick(tick: subprocess.Popen[str]) -> None:
    """SIGKILL the tick (its running job lives on in its own session and ends soon)."""
    tick.send_signal(signal.SIGKILL)
    tick.wait(timeout=10)


def write_kernel(project: Project, seconds: float) -> None:
    project.kernel(KERNEL.replace("WORDS", repr(WORDS)).replace("SECONDS", repr(seconds)))


def test_a_retry_after_a_killed_tick_runs_only_what_never_started(project: Project) -> None:
    write_kernel(project, 0.5)
    tick = start_tick(project)
    wait_for(lambda: ran(project) == ["one", "two"])
    kill_tick(tick)
    retry = project.artisan("schedule:run", "--at", AT, timeout=60)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert sorted(ran(project)) == sorted(WORDS)  # each once: none lost, none twice
    for word in ("one", "two"):
        assert (f"Skipping console.kernel.step('{word}', 0.5): already started for this "
                f"minute on this host") in retry.stdout
    assert "Running console.kernel.step('three', 0.5)" in retry.stdout
    # A third tick of the minute: everything started, nothing runs.
    third = project.artisan("schedule:run", "--at", AT, timeout=60)
    assert "A tick already ran for 2026-03-08 07:00:00 on this host" in third.stdout
    assert sorted(ran(project)) == sorted(WORDS)


def test_a_run_held_back_by_its_overlap_lock_is_left_to_a_retry(project: Project) -> None:
    line = f"echo guarded >> {project.storage / 'ran.txt'}"
    project.kernel(RECORDING_KERNEL + f"""
def schedule_tasks():
    schedule().exec({line!r}).without_overlapping()
""")
    key = Schedule().exec(line).without_overlapping().mutex_key
    backend = FileMutexBackend(project.storage / "mutex", "production", base=project.storage)
    held = backend.acquire(key, timedelta(minutes=5))
    assert isinstance(held, Acquired)
    blocked = project.artisan("schedule:run", "--at", AT)
    assert "the previous run is still running" in blocked.stdout
    assert ran(project) == []
    held.lock.release()
    retry = project.artisan("schedule:run", "--at", AT)
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert ran(project) == ["guarded"]


@pytest.mark.slow
def test_ticks_killed_at_random_moments_lose_and_double_nothing(project: Project) -> None:
    """30 seeded kills, each while one of the tick's tasks runs; then a retry."""
    rng = random.Random(20261127)
    write_kernel(project, 0.15)
    for iteration in range(30):
        minute = f"2026-03-08T{7 + iteration // 60:02d}:{iteration % 60:02d}:00Z"
        before = len(ran(project))
        tick = start_tick(project, minute)
        started = rng.randint(1, len(WORDS))
        wait_for(lambda: len(ran(project)) - before >= started)  # noqa: B023
        # A moment inside that task's run: never between "started" and its fork.
        time.sleep(rng.uniform(0, 0.05))
        kill_tick(tick)
        retry = project.artisan("schedule:run", "--at", minute, timeout=60)
        assert retry.returncode == 0, retry.stdout + retry.stderr
        runs = ran(project)[before:]
        assert sorted(runs) == sorted(WORDS), (iteration, runs)  # none lost, none twice
    assert os.path.isdir(project.storage / "framework" / "ticks")


def test_claims_of_minutes_older_than_a_day_are_cleared_by_the_next_tick_that_claims(
        project: Project) -> None:
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "hourly").hourly()
""")
    folder = project.storage / "framework" / "ticks"
    assert project.artisan("schedule:run", "--at", AT).returncode == 0
    assert [name for name in os.listdir(folder) if name.startswith("20260308T0700")]
    # A tick with nothing due claims nothing and leaves the claims as they are.
    assert project.artisan("schedule:run", "--at", "2026-03-09T07:30:00Z").returncode == 0
    assert [name for name in os.listdir(folder) if name.startswith("20260308T0700")]
    # The next one that claims a run clears what is older than a day.
    assert project.artisan("schedule:run", "--at", "2026-03-09T08:00:00Z").returncode == 0
    names = os.listdir(folder)
    assert not [name for name in names if name.startswith("20260308T0700")], names
    assert [name for name in names if name.startswith("20260309T0800")], names
    assert ran(project) == ["hourly", "hourly"]
