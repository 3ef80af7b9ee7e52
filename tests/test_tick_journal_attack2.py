"""More attacks on the tick journal: ticks (real `artisan schedule:run --at ...`) that
note themselves, or open the database and collect, in the middle of another
collector's work (between its read of the journal and its rewrite, while it writes the
database without the lock)."""

from __future__ import annotations

import sqlite3

from scheduler.history.journal import NotedTick
from scheduler.history.sqlite import SqliteStore
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as HEADER
from tests.test_tick_journal_attack import (
    LATE_EVENING,
    at,
    database,
    journal_lines,
    monitor,
    stamp,
    stored_runs,
    stored_ticks,
    tick,
)

MIXED = HEADER + """
import os
def schedule_tasks():
    schedule().job(record, "evening").name("evening").daily_at("23:00")
    if os.environ.get("WITH_RUN"):
        schedule().job(record, "now").name("now").every_minute()
"""


def collect_with(project: Project, during: list[int], *, with_run: bool,
                 **extra: str) -> None:
    """Collect the journal in this process; while this collector writes the database
    (the lock let go), ticks of the minutes `during` run."""
    store = SqliteStore(database(project), project.storage)
    try:
        store.migrate()  # the schema (the journal left as it is)

        def insert_then_tick(ticks: list[NotedTick]) -> None:
            store.insert_ticks(ticks)
            for minute in during:
                env = {"WITH_RUN": "1"} if with_run else {}
                env.update(extra)
                result = project.artisan("schedule:run", "--at", at(minute), env=env)
                assert result.returncode == 0, result.stdout + result.stderr
                assert "Warning" not in result.stdout + result.stderr, result.stderr

        store.journal.collect(insert_then_tick)
    finally:
        store.close()


def test_ticks_noted_while_another_collects_are_kept_and_stored_once(
        project: Project) -> None:
    project.kernel(MIXED)
    for minute in range(0, 5):
        tick(project, minute)  # 07:00 opens the database, the others are noted
    assert len(journal_lines(project)) == 5
    collect_with(project, [5, 6], with_run=False)  # ...while two more note themselves
    lines = journal_lines(project)
    assert sum(line.startswith(b"+") for line in lines) == 2, lines  # 07:05 and 07:06
    for minute in range(7, 10):
        tick(project, minute)  # no gap is seen: the journal knows 07:06
    assert monitor(project, 9).returncode == 0
    assert sorted(row[0] for row in stored_ticks(project)) == [stamp(at(m)) for m in range(10)]
    assert stored_runs(project) == []  # no false missed


def test_ticks_that_collect_while_another_collects_store_each_tick_once(
        project: Project) -> None:
    project.kernel(MIXED)
    for minute in range(0, 5):
        tick(project, minute)
    # Ticks with a run open the database and collect (and remember their minute) while
    # the first collector is between its two holds of the lock.
    collect_with(project, [5, 6], with_run=True)
    lines = journal_lines(project)
    assert len(lines) == 1 and lines[0].startswith(b"=" + repr(stamp(at(6))).encode()), lines
    for minute in range(7, 10):
        tick(project, minute)
    assert monitor(project, 9).returncode == 0
    rows = stored_ticks(project)
    assert len(rows) == len(set(rows))
    assert sorted(row[0] for row in rows) == [stamp(at(m)) for m in range(10)]
    assert [status for _, _, status in stored_runs(project)] == ["success", "success"]


def test_a_tick_with_a_gap_while_another_collects_records_only_the_real_gap(
        project: Project) -> None:
    project.kernel(LATE_EVENING.replace(
        'def schedule_tasks():',
        'def schedule_tasks():\n'
        '    schedule().job(record, "x").name("at-4-5").cron("4-5 * * * *")'))
    for minute in range(0, 4):
        tick(project, minute, SCHEDULER_CATCH_UP="0")
    # 07:04 and 07:05 have no tick; 07:06's opens the database mid-collection.
    collect_with(project, [6], with_run=False, SCHEDULER_CATCH_UP="0")
    for minute in range(7, 9):
        tick(project, minute, SCHEDULER_CATCH_UP="0")
    assert monitor(project, 8).returncode in (0, 1)
    with sqlite3.connect(database(project)) as connection:
        missed = [row[0] for row in connection.execute(
            "SELECT scheduled_at FROM runs WHERE status = 'missed' ORDER BY scheduled_at")]
    assert missed == [stamp(at(4)), stamp(at(5))]
    assert sorted(row[0] for row in stored_ticks(project)) == [
        stamp(at(m)) for m in (0, 1, 2, 3, 6, 7, 8)]
