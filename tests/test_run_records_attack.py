"""Attacks on the run history's records of a run (written `running` as it starts,
completed when it finishes, by a killed supervisor's keeper too) and on the keeper
itself: real ticks (`artisan schedule:run --at ...`), real SIGKILL, a database held by
another writer, real SQLite and PostgreSQL databases of the tests' own."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.kernels import alive, history, parent_of, start_tick, wait_for

# A helper that takes the SQLite write lock (as another writer does: a background
# supervisor, another tick, a reader taking the journal in), says so with a file, holds
# it HOLD seconds, and lets go.
HOLDER = '''
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
connection.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
connection.execute("COMMIT")
'''

HELD_DATABASE_KERNEL = f"""
import os, subprocess, sys, time
from scheduler import schedule
from scheduler.settings import current

HOLDER = {HOLDER!r}

def hold_database():
    # In the tick, after it opened the history and just before the task starts.
    storage = current().storage
    flag = storage / "held"
    subprocess.Popen([sys.executable, "-c", HOLDER, str(storage / "scheduler.sqlite3"),
                      str(flag), os.environ["HOLD"]], start_new_session=True)
    while not flag.exists():
        time.sleep(0.005)

def schedule_tasks():
    alive = current().storage / "alive.txt"
    schedule().exec(f"while :; do date +%s.%N >> {{alive}}; sleep 0.05; done") \\
        .name("ticker").timeout(1).before(hold_database)
"""


def alive_span(project: Project) -> float:
    stamps = [float(line) for line in
              (project.storage / "alive.txt").read_text().split()]
    return stamps[-1] - stamps[0]


def run_against_a_held_database(project: Project) -> subprocess.CompletedProcess[str]:
    project.kernel(HELD_DATABASE_KERNEL)
    project.storage.mkdir(parents=True, exist_ok=True)
    # The history's `running` write waits 6 s for the lock; the task's timeout is 1 s.
    return project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                           env={"HOLD": "6"})


# A database another writer holds delays the start of the task (its record is written
# first), never the end its timeout sets. (With the record written while the task ran,
# the wait in SQLite's busy handler, C code, kept the timeout's alarm from acting.)
def test_a_busy_sqlite_database_does_not_stretch_the_tasks_timeout(project: Project) -> None:
    run_against_a_held_database(project)
    span = alive_span(project)
    assert span < 3, f"the task ran {span:.1f}s with a timeout of 1s"


# ... and loses no record: the write waits its turn inside its own transaction.
def test_a_busy_sqlite_database_at_the_start_loses_no_record(project: Project) -> None:
    result = run_against_a_held_database(project)
    assert "cannot start a transaction within a transaction" not in result.stderr, \
        result.stderr
    assert [record["status"] for record in history(project, ended_only=False)] == ["timeout"]


PG_HOLDER = '''
import psycopg, sys, time
connection = psycopg.connect(sys.argv[1])
connection.execute("LOCK TABLE runs IN EXCLUSIVE MODE")
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
connection.commit()
'''

PG_HELD_KERNEL = f"""
import os, subprocess, sys, time
from scheduler import schedule
from scheduler.settings import current

HOLDER = {PG_HOLDER!r}

def hold_runs_table():
    storage = current().storage
    flag = storage / "held"
    subprocess.Popen([sys.executable, "-c", HOLDER, os.environ["SCHEDULER_DATABASE_URL"],
                      str(flag), os.environ["HOLD"]], start_new_session=True)
    while not flag.exists():
        time.sleep(0.005)

def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    alive = current().storage / "alive.txt"
    schedule().exec(f"while :; do date +%s.%N >> {{alive}}; sleep 0.05; done") \\
        .name("ticker").timeout(1).before(hold_runs_table)
"""


def postgres_runs(url: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(url) as connection:
        return [(task, status) for task, status in connection.execute(
            "SELECT task, status FROM runs ORDER BY id")]


# The same with PostgreSQL: a table another session locks delays the start, and the run
# is recorded once, as a timeout. (A deadline interrupting psycopg mid-query would leave
# the connection busy and lose the record.)
def test_postgres_a_slow_insert_at_the_start_loses_no_record(
        project: Project, postgres_url: str) -> None:
    project.kernel(PG_HELD_KERNEL)
    env = {"SCHEDULER_DATABASE_URL": postgres_url}
    migrated = project.artisan("schedule:migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                             env={**env, "HOLD": "4"})
    assert result.returncode == 1, result.stdout + result.stderr  # it timed out
    span = alive_span(project)
    assert span < 3, f"the task ran {span:.1f}s with a timeout of 1s"
    time.sleep(4)  # the holder has let go: whatever waited for the table is written
    assert postgres_runs(postgres_url) == [("ticker", "timeout")]


ORDER_KERNEL = """
import json, os, time
from scheduler import schedule
from scheduler.settings import current

def heard(task_event, event, outcome):
    folder = current().storage
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "events.jsonl", "a") as handle:
        handle.write(json.dumps({
            "task_event": task_event, "name": event.display_name,
            "started": outcome.started.isoformat(), "pid": os.getpid()}) + "\\n")

def works():
    print("fine")

def breaks():
    raise RuntimeError("boom")

def schedule_tasks():
    for name in ("starting", "finished", "failed", "skipped", "background_finished"):
        schedule().listen(name, heard)
    schedule().job(works).name("fg").every_minute()
    schedule().job(breaks).name("fg-fails").every_minute()
    schedule().job(works).name("bg").every_minute().run_in_background()
    schedule().exec("sleep 30").name("too-long").every_minute().timeout(0.5)
    schedule().exec("sleep 30").name("bg-too-long").every_minute().timeout(0.5) \\
        .run_in_background()
    if os.environ.get("SUB_MINUTE"):
        schedule().job(works).name("sub").every(int(os.environ["SUB_MINUTE"]))
"""


def told(project: Project) -> list[dict[str, object]]:
    import json

    path = project.storage / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def runs_told(project: Project) -> dict[tuple[str, str], list[str]]:
    """The task events told of each run, keyed by (task, start)."""
    found: dict[tuple[str, str], list[str]] = {}
    for entry in told(project):
        found.setdefault((str(entry["name"]), str(entry["started"])), []).append(
            str(entry["task_event"]))
    return found


EXPECTED_EVENTS = {
    "fg": ["starting", "finished"],
    "sub": ["starting", "finished"],
    "fg-fails": ["starting", "finished", "failed"],
    "bg": ["starting", "finished", "background_finished"],
    "too-long": ["starting", "finished", "failed"],
    "bg-too-long": ["starting", "finished", "failed", "background_finished"],
}
EXPECTED_STATUS = {"fg": "success", "sub": "success", "fg-fails": "failure", "bg": "success",
                   "too-long": "timeout", "bg-too-long": "timeout"}


def assert_each_run_told_in_order_and_recorded_once(project: Project) -> None:
    wait_for(lambda: len([events for (name, _), events in runs_told(project).items()
                          if name.startswith("bg") and "background_finished" in events])
             == 2 * sum(1 for name, _ in runs_told(project) if name == "bg"), timeout=20)
    told_runs = runs_told(project)
    for (name, _), events in told_runs.items():
        assert events == EXPECTED_EVENTS[name], (name, events)
    wait_for(lambda: not [record for record in history(project, ended_only=False)
                          if record["status"] == "running"], timeout=10)
    records = history(project, ended_only=False)
    recorded = {}
    for record in records:
        key = (record["task"], record["started"])
        assert key not in recorded, f"recorded twice: {key}"
        recorded[key] = record["status"]
    assert {key: EXPECTED_STATUS[key[0]] for key in told_runs} == recorded


def test_each_kind_of_run_is_told_in_order_and_recorded_once(project: Project) -> None:
    project.kernel(ORDER_KERNEL)
    for minute in range(3):
        project.artisan("schedule:run", "--at", f"2026-03-08T07:0{minute}:00Z")
    assert len(runs_told(project)) == 3 * len(EXPECTED_STATUS) - 3  # no sub-minute task
    assert_each_run_told_in_order_and_recorded_once(project)


@pytest.mark.slow
def test_sub_minute_runs_are_told_in_order_and_recorded_once(project: Project) -> None:
    project.kernel(ORDER_KERNEL)
    # Start in the second half of a minute: the loop runs to the minute's end (15 to 25
    # seconds: 7 or more runs every 2 seconds).
    wait_for(lambda: 35 < time.time() % 60 < 45, timeout=61)
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env={"SUB_MINUTE": "2"})
    assert sum(1 for name, _ in runs_told(project) if name == "sub") >= 3
    assert_each_run_told_in_order_and_recorded_once(project)


def test_schedule_test_runs_are_told_in_order_and_recorded_once(project: Project) -> None:
    project.kernel(ORDER_KERNEL)
    for name in ("fg", "fg-fails", "bg", "too-long"):
        project.artisan("schedule:test", "--name", name)
    told_runs = runs_told(project)
    assert [events for _, events in sorted(told_runs.items())] == [
        ["starting", "finished"],  # bg runs in the foreground here
        ["starting", "finished"],
        ["starting", "finished", "failed"],
        ["starting", "finished", "failed"]]
    records = history(project, ended_only=False)
    assert sorted((record["task"], record["status"]) for record in records) == [
        ("bg", "success"), ("fg", "success"), ("fg-fails", "failure"),
        ("too-long", "timeout")]


KILL_KERNEL = """
import os, time
from scheduler import schedule
from scheduler.settings import current

def slow_listener():
    time.sleep(float(os.environ.get("LISTENER_SECONDS", "0")))

def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    schedule().listen("starting", slow_listener)
    event = schedule().exec("echo $$ >> storage/tasks.txt; exec sleep 30").name("sleeper") \\
        .every_minute().timeout(20)
    if os.environ.get("BACKGROUND"):
        event.run_in_background()
"""


def task_pids(project: Project) -> list[int]:
    path = project.storage / "tasks.txt"
    return [int(word) for word in path.read_text().split()] if path.exists() else []


def recorded(project: Project, url: str | None) -> list[tuple[str, str, float]]:
    """(task, status, started) of every record of the run history, oldest first."""
    if url is None:
        return [(record["task"], record["status"], record["started"])
                for record in history(project, ended_only=False)]
    import psycopg

    with psycopg.connect(url) as connection:
        return list(connection.execute("SELECT task, status, started_at FROM runs "
                                       "ORDER BY id"))


def kill_around_the_start(project: Project, url: str | None, *, background: bool,
                        listener_seconds: str, rounds: int = 12) -> None:
    """SIGKILL the run's supervisor (the tick, or a background run's supervisor) at
    random moments once its task has started (with a slow `starting` listener or not):
    each run must end in one record, a failure, never `running` and never two."""
    import random

    project.kernel(KILL_KERNEL)
    chance = random.Random(4242)
    env = {"LISTENER_SECONDS": listener_seconds}
    if url is not None:
        env["SCHEDULER_DATABASE_URL"] = url
    if background:
        env["BACKGROUND"] = "1"
    migrated = project.artisan("schedule:migrate", env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    for index in range(rounds):
        before = len(task_pids(project))
        tick = start_tick(project, "--at", f"2026-03-08T07:{index:02d}:00Z", env=env)
        wait_for(lambda: len(task_pids(project)) > before)  # noqa: B023
        task = task_pids(project)[-1]
        supervisor = tick.pid if not background else parent_of(parent_of(task))
        time.sleep(chance.uniform(0.0, 0.5))
        os.kill(supervisor, signal.SIGKILL)
        tick.wait(timeout=10)
        wait_for(lambda: not alive(task), timeout=10)  # noqa: B023
    wait_for(lambda: len(recorded(project, url)) >= rounds
             and not [record for record in recorded(project, url)
                      if record[1] == "running"], timeout=15)
    records = recorded(project, url)
    assert len(records) == rounds, records
    assert {status for _, status, _ in records} == {"failure"}
    assert len({started for _, _, started in records}) == rounds


@pytest.mark.slow
@pytest.mark.parametrize("background", [False, True], ids=["tick", "supervisor"])
@pytest.mark.parametrize("listener_seconds", ["0", "0.3"])
def test_supervisors_killed_while_their_task_runs_record_each_run_once(
        project: Project, listener_seconds: str, background: bool) -> None:
    kill_around_the_start(project, None, background=background,
                        listener_seconds=listener_seconds)


@pytest.mark.slow
@pytest.mark.parametrize("background", [False, True], ids=["tick", "supervisor"])
def test_postgres_supervisors_killed_while_their_task_runs_record_each_run_once(
        project: Project, postgres_url: str, background: bool) -> None:
    kill_around_the_start(project, postgres_url, background=background,
                        listener_seconds="0")


# A task that starts a grandchild in a session of its own and waits; each writes its pid.
GRANDCHILD_KERNEL = """
import os
from scheduler import schedule
from scheduler.settings import current

LINE = ("setsid sleep 300 & echo grandchild $! >> {pids}; "
        "echo task $$ >> {pids}; exec sleep 300")

def schedule_tasks():
    storage = current().storage
    storage.mkdir(parents=True, exist_ok=True)
    mode = os.environ.get("MODE", "tick")
    event = schedule().exec(LINE.format(pids=storage / "pids.txt")).name("family")
    if mode == "sub":
        event.every(30)
    else:
        event.every_minute()
    if mode == "background":
        event.run_in_background()
"""


def family(project: Project) -> dict[str, int]:
    path = project.storage / "pids.txt"
    if not path.exists():
        return {}
    return {word: int(pid) for word, pid in
            (line.split() for line in path.read_text().splitlines())}


@pytest.mark.parametrize("mode", ["tick", "background", "sub"])
def test_a_killed_supervisor_takes_the_task_and_its_grandchildren_with_it(
        project: Project, mode: str) -> None:
    project.kernel(GRANDCHILD_KERNEL)
    tick = start_tick(project, "--at", "2026-03-08T07:00:00Z", env={"MODE": mode})
    try:
        wait_for(lambda: len(family(project)) == 2, timeout=40)
        pids = family(project)
        keeper = parent_of(pids["task"])
        # The grandchild is the keeper's (the subreaper's) even in its own session...
        wait_for(lambda: parent_of(pids["grandchild"]) in (keeper, pids["task"]))
        supervisor = tick.pid if mode == "tick" else parent_of(keeper)
        assert supervisor != keeper
        os.kill(supervisor, signal.SIGKILL)
        # ...and PDEATHSIG tells the keeper, which stops every process of the task.
        wait_for(lambda: not alive(pids["task"]) and not alive(pids["grandchild"]),
                 timeout=10)
    finally:
        for pid in family(project).values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if tick.poll() is None:
            tick.kill()
        tick.wait()


def shadowed_ctypes(tmp_path: Path) -> str:
    """A folder to put first on PYTHONPATH in which `import ctypes` fails."""
    folder = tmp_path / "no-ctypes" / "ctypes"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("raise ImportError('no ctypes here')\n")
    return str(folder.parent)


@pytest.mark.parametrize("mode", ["tick", "background", "sub"])
def test_without_ctypes_tasks_still_run_and_are_recorded(project: Project, tmp_path: Path,
                                                         mode: str) -> None:
    project.kernel(ORDER_KERNEL.replace("def schedule_tasks():", """def schedule_tasks():
    import importlib.util
    if importlib.util.find_spec("ctypes").origin.startswith(os.environ["NO_CTYPES"]):
        print("ctypes shadowed")"""))
    shadow = shadowed_ctypes(tmp_path)
    env = {"PYTHONPATH": shadow, "NO_CTYPES": shadow}
    if mode == "sub":
        env["SUB_MINUTE"] = "30"
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env=env)
    assert "ctypes shadowed" in result.stdout, result.stdout + result.stderr
    said = (result.stdout + result.stderr).replace("ctypes shadowed", "")
    assert "no ctypes here" not in said and "keeper.py" not in said, said
    assert_each_run_told_in_order_and_recorded_once(project)


def test_a_task_whose_program_cannot_be_started_is_one_failure(project: Project) -> None:
    # A shell line longer than one argument may be (MAX_ARG_STRLEN, 128 KiB): the
    # keeper's exec of /bin/sh fails with E2BIG, and the task never starts.
    project.kernel(ORDER_KERNEL.replace(
        'schedule().job(works).name("fg").every_minute()',
        'schedule().exec(": " + "x" * 200_000).name("fg").every_minute()'))
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    [(_, events)] = [(key, events) for key, events in runs_told(project).items()
                     if key[0] == "fg"]
    [record] = [record for record in history(project, ended_only=False)
                if record["task"] == "fg"]
    assert record["status"] == "failure"
    assert "could not start the task" in result.stdout
    assert events == ["starting", "finished", "failed"]


LISTENER_KERNEL = """
import os, sys, time
from scheduler import schedule
from scheduler.settings import current

def raises():
    raise RuntimeError("listener broke")

def exits():
    sys.exit(3)

def slow():
    time.sleep(1.5)

def schedule_tasks():
    alive = current().storage / "alive.txt"
    current().storage.mkdir(parents=True, exist_ok=True)
    for listener in (raises, exits, slow):
        schedule().listen("starting", listener)
    schedule().exec(f"while :; do date +%s.%N >> {alive}; sleep 0.05; done") \\
        .name("ticker").timeout(2)
"""


def test_starting_listeners_that_raise_exit_or_dawdle_leave_the_timeout_and_the_record(
        project: Project) -> None:
    project.kernel(LISTENER_KERNEL)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    said = result.stdout + result.stderr
    assert "listener broke" in said and "sys.exit(3)" in said, said
    # 2 seconds from the task's start (the 1.5 s listener came before it).
    assert 1.5 < alive_span(project) < 2.6, alive_span(project)
    records = history(project, ended_only=False)
    assert [record["status"] for record in records] == ["timeout"], records
