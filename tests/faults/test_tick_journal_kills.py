"""Ticks that note themselves in the tick journal, and readers that take it in, killed
at random moments: every tick that finished is in the history once, none twice, and
the journal stays readable."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest

from scheduler.history.sqlite import SqliteStore
from scheduler.zones import UTC
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL

START = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
# A collector that never stops: it takes the journal in as fast as it can, so that a
# kill lands inside a collection (between its commit and its rewrite of the file) too.
COLLECTOR = """
import sys
from pathlib import Path
from scheduler.history.sqlite import SqliteStore
storage = Path(sys.argv[1])
while True:
    store = SqliteStore(storage / "scheduler.sqlite3", storage)
    store.ensure_schema()
    store.close()
"""


@pytest.mark.slow
def test_killed_ticks_and_collectors_lose_and_double_no_finished_tick(
        project: Project) -> None:
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "evening").daily_at("23:00")
""")
    rng = random.Random(20261127)
    finished: dict[int, float] = {}  # pid -> minute, of the ticks that exited 0
    killed = 0
    for round_number in range(30):
        ticks = []
        for offset in range(2):
            instant = START + timedelta(minutes=2 * round_number + offset)
            process = subprocess.Popen(
                [sys.executable, str(project.root / "artisan"), "schedule:run", "--at",
                 instant.isoformat()], cwd=project.root, env=project.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            ticks.append((process, instant.timestamp()))
        collector = subprocess.Popen([sys.executable, "-c", COLLECTOR, str(project.storage)],
                                     cwd=project.root, env=project.env,
                                     stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.15))
        victim = rng.choice([process for process, _ in ticks])
        victim.send_signal(signal.SIGKILL)
        for process, minute in ticks:
            _, errors = process.communicate(timeout=60)
            if process.returncode == 0:
                assert "Warning" not in errors, errors
                finished[process.pid] = minute
            else:
                assert process.returncode == -signal.SIGKILL, errors
                killed += 1
        time.sleep(rng.uniform(0.0, 0.05))
        collector.send_signal(signal.SIGKILL)
        collector.wait(timeout=60)
    assert killed and finished  # both happened (30 rounds of each)
    store = SqliteStore(project.storage / "scheduler.sqlite3", project.storage)
    store.ensure_schema()
    recorded = [(tick.pid, tick.minute.timestamp()) for tick in store.ticks()]
    assert len(recorded) == len(set(recorded))  # nothing twice
    assert set(finished.items()) <= set(recorded)  # nothing that finished lost
    # What is recorded besides them are ticks killed after they noted themselves.
    assert all(pid not in finished for pid, _ in set(recorded) - set(finished.items()))
    monitor = project.artisan("schedule:monitor", "--json", "--at",
                              (START + timedelta(minutes=59, seconds=30)).isoformat())
    assert monitor.returncode == 0, monitor.stdout + monitor.stderr  # no tick missing
