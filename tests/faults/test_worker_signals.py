"""`schedule:work` stopped while a background run is going: it waits for the run within
--grace, or stops it (logged) after; SIGHUP keeps it running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, alive, history, ran, wait_for

KERNEL = RECORDING_KERNEL + """
def slow():
    record(f"start:{os.getpid()}")
    time.sleep(float(os.environ["TASK_SECONDS"]))
    record(f"end:{os.getpid()}")

def schedule_tasks():
    schedule().job(slow).name("slow").run_in_background().every_minute()
"""


def run_worker_until_a_run_starts(project: Project, *signals: signal.Signals, grace: str,
                                  seconds: str) -> tuple[subprocess.Popen[str], str]:
    """Start schedule:work, send `signals` once its background run has started, and
    return it ended, with its output."""
    project.kernel(KERNEL)
    worker = subprocess.Popen(
        [sys.executable, str(project.root / "artisan"), "schedule:work",
         "--interval-seconds", "1", "--grace", grace],
        cwd=project.root, env={**project.env, "TASK_SECONDS": seconds},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        wait_for(lambda: len(ran(project)) == 1, timeout=30)
        for signum in signals:
            worker.send_signal(signum)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    return worker, output


def test_sigterm_waits_for_a_background_run_within_the_grace(project: Project) -> None:
    worker, output = run_worker_until_a_run_starts(
        project, signal.SIGHUP, signal.SIGTERM, grace="30", seconds="3")
    assert worker.returncode == 0, output
    assert "SIGHUP: the next tick reads the kernel and .env afresh" in output
    [start, end] = ran(project)  # nothing was lost: the run finished
    assert start.split(":")[0] == "start" and end.split(":")[0] == "end"
    assert output.rstrip().endswith("Stopped.")


def test_after_the_grace_a_background_run_is_stopped_and_logged(project: Project) -> None:
    worker, output = run_worker_until_a_run_starts(
        project, signal.SIGTERM, grace="1", seconds="60")
    assert worker.returncode == 1, output
    assert "Stopped, after killing running ticks." in output
    [start] = ran(project)
    wait_for(lambda: not alive(int(start.split(":")[1])), timeout=10)
    wait_for(lambda: len(history(project)) == 1, timeout=10)
    [record] = history(project)
    assert record["task"] == "slow" and record["status"] == "failure"
    assert ran(project) == [start]
