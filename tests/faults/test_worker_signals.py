"""`schedule:work` stopped while a background run is going: it waits for the run within
--grace, or stops it (logged) after; SIGHUP keeps it running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from tests.conftest import Project
from tests.faults.processes import alive
from tests.kernels import wait_for

KERNEL = """
import os, time
from scheduler import schedule
from scheduler.settings import current

def note(line):
    folder = current().storage
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "runs.txt", "a") as handle:
        handle.write(line + "\\n")

def slow():
    note(f"start {os.getpid()}")
    time.sleep(float(os.environ["TASK_SECONDS"]))
    note(f"end {os.getpid()}")

def schedule_tasks():
    schedule().job(slow).name("slow").run_in_background().every_minute()
"""


def lines(project: Project) -> list[str]:
    path = project.storage / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []




def start_worker(project: Project, *args: str, seconds: str) -> subprocess.Popen[str]:
    project.kernel(KERNEL)
    return subprocess.Popen(
        [sys.executable, str(project.root / "artisan"), "schedule:work",
         "--interval-seconds", "1", *args],
        cwd=project.root, env={**project.env, "TASK_SECONDS": seconds},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)


def test_sigterm_waits_for_a_background_run_within_the_grace(project: Project) -> None:
    worker = start_worker(project, "--grace", "30", seconds="3")
    try:
        wait_for(lambda: len(lines(project)) == 1, timeout=30)
        worker.send_signal(signal.SIGHUP)  # changes nothing: it runs on
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert worker.returncode == 0, output
    assert "SIGHUP: the next tick reads the kernel and .env afresh" in output
    [start, end] = lines(project)
    assert start.split()[0] == "start" and end.split()[0] == "end"  # nothing was lost
    assert output.rstrip().endswith("Stopped.")


def test_after_the_grace_a_background_run_is_stopped_and_logged(project: Project) -> None:
    worker = start_worker(project, "--grace", "1", seconds="60")
    try:
        wait_for(lambda: len(lines(project)) == 1, timeout=30)
        job = int(lines(project)[0].split()[1])
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    assert worker.returncode == 1, output
    assert "Stopped, after killing running ticks." in output
    wait_for(lambda: not alive(job), timeout=10)
    log = project.storage / "logs" / "scheduler.log"
    wait_for(log.exists, timeout=10)
    [record] = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["name"] == "slow" and record["status"] == "failure"
    assert [line.split()[0] for line in lines(project)] == ["start"]
