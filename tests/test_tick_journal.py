"""The tick journal: a tick with nothing to run notes itself beside the SQLite history
instead of opening it, and every reader and recording tick takes the notes in."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from scheduler.history.journal import DRAIN_AFTER, NotedTick, TickJournal
from scheduler.history.sqlite import SqliteStore
from scheduler.history.store import StoreError
from scheduler.zones import UTC
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as HEADER
from tests.kernels import ran

# One task, due at 23:00 only: the ticks of the morning have nothing to run.
LATE_EVENING = HEADER + """
def schedule_tasks():
    schedule().job(record, "evening").name("evening").daily_at("23:00")
"""


def at(minute: int) -> str:
    """The instant of 07:00 plus `minute` minutes on 2026-03-08."""
    hour, rest = divmod(minute, 60)
    return f"2026-03-08T{7 + hour:02d}:{rest:02d}:00Z"


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def stored_ticks(project: Project) -> list[float]:
    """The minutes of the `ticks` table, read with sqlite3 itself (no collecting)."""
    with sqlite3.connect(project.storage / "scheduler.sqlite3") as connection:
        return [row[0] for row in connection.execute(
            "SELECT minute FROM ticks ORDER BY minute, id")]


def stored_runs(project: Project) -> list[tuple[str, float, str]]:
    with sqlite3.connect(project.storage / "scheduler.sqlite3") as connection:
        return list(connection.execute(
            "SELECT task, scheduled_at, status FROM runs ORDER BY id"))


def journal_lines(project: Project) -> list[str]:
    return (project.storage / "scheduler.sqlite3-ticks").read_text().splitlines()


def tick(project: Project, minute: int, **env: str) -> str:
    result = project.artisan("schedule:run", "--at", at(minute), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return result.stderr


def test_a_tick_with_nothing_to_run_notes_itself_without_opening_the_database(
        project: Project) -> None:
    project.kernel(LATE_EVENING)
    tick(project, 0)  # the first tick: the journal knows no tick before it
    database = project.storage / "scheduler.sqlite3"
    files = [database, database.with_name("scheduler.sqlite3-wal")]
    before = [(path.stat().st_mtime_ns, path.stat().st_size) for path in files]
    assert stored_ticks(project) == [stamp(at(0))]
    for minute in (1, 2):
        imports = tick(project, minute, PYTHONPROFILEIMPORTTIME="1")
        assert "sqlite3" not in imports and "scheduler.history.store" not in imports
    assert [(path.stat().st_mtime_ns, path.stat().st_size) for path in files] == before
    assert [line[0] for line in journal_lines(project)] == ["=", "+", "+"]
    assert stored_ticks(project) == [stamp(at(0))]
    # A reader takes the journal in: the monitor sees the tick of 07:02, and no minute
    # of the morning is taken for one with no tick.
    result = project.artisan("schedule:monitor", "--json", "--at", "2026-03-08T07:02:30Z")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["status"] == "ok", report
    assert report["last_tick"]["minute"] == "2026-03-08T07:02:00+00:00"
    assert stored_ticks(project) == [stamp(at(minute)) for minute in (0, 1, 2)]
    assert stored_runs(project) == []
    assert [line[0] for line in journal_lines(project)] == ["="]
    assert float(journal_lines(project)[0][1:].split("\t")[0]) == stamp(at(2))


def test_a_minute_with_no_tick_is_looked_into_by_the_next_tick(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "report").name("report").daily_at("07:02")
""")
    for minute in (0, 1, 3):  # no tick at 07:02
        tick(project, minute, SCHEDULER_CATCH_UP="0")
    # The tick of 07:03 opened the database (no reader has run): its own row is there,
    # and the instant of 07:02 is recorded as missed.
    assert stored_ticks(project) == [stamp(at(minute)) for minute in (0, 1, 3)]
    assert stored_runs(project) == [("report", stamp(at(2)), "missed")]
    assert ran(project) == []


def test_a_tick_with_a_run_to_record_takes_the_journal_in(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "report").name("report").daily_at("07:03")
""")
    for minute in range(4):
        tick(project, minute)
    assert ran(project) == ["report"]
    assert stored_ticks(project) == [stamp(at(minute)) for minute in range(4)]
    assert stored_runs(project) == [("report", stamp(at(3)), "success")]
    assert [line[0] for line in journal_lines(project)] == ["="]


@pytest.mark.slow
def test_an_hour_of_ticks_with_nothing_to_run_is_collected_by_a_tick(
        project: Project) -> None:
    project.kernel(LATE_EVENING)
    for minute in range(DRAIN_AFTER + 1):
        tick(project, minute)
    # No reader ran: the tick that found the journal full took it in.
    assert stored_ticks(project) == [stamp(at(minute)) for minute in range(DRAIN_AFTER + 1)]
    # It stored its own row, and left the next tick its minute.
    assert {line[0] for line in journal_lines(project)} == {"="}
    assert max(float(line[1:].split("\t")[0]) for line in journal_lines(project)) \
        == stamp(at(DRAIN_AFTER))
    tick(project, DRAIN_AFTER + 1)
    assert journal_lines(project)[-1][0] == "+"


# -- the journal on its own ------------------------------------------------------------------
def noted(number: int, host: str = "web-1") -> NotedTick:
    return NotedTick(stamp(at(number)), stamp(at(number)) + 0.25, 1000 + number, host)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "history.sqlite3", tmp_path)
    store.ensure_schema()
    return store


def rows(store: SqliteStore) -> list[tuple[float, str, int, float]]:
    return [(tick.minute.timestamp(), tick.host, tick.pid, tick.started.timestamp())
            for tick in reversed(store.ticks())]


def test_a_collector_killed_after_its_commit_stores_nothing_twice(store: SqliteStore) -> None:
    journal = store.journal
    journal.remember(noted(0))
    assert all(journal.note(noted(number)) for number in (1, 2, 3))

    def commit_then_die(ticks: list[NotedTick]) -> None:
        store.insert_ticks(ticks)
        raise KeyboardInterrupt  # killed before the journal is rewritten

    with pytest.raises(KeyboardInterrupt):
        journal.collect(commit_then_die)
    assert journal.collect(store.insert_ticks) == 3  # handed over again ...
    expected = [(tick.minute, tick.host, tick.pid, tick.started)
                for tick in (noted(1), noted(2), noted(3))]
    assert rows(store) == expected  # ... and stored once
    assert journal.collect(store.insert_ticks) == 0


def test_the_journal_refuses_what_the_database_must_see(store: SqliteStore) -> None:
    journal = store.journal
    assert not journal.note(noted(1))  # it knows no tick before
    journal.remember(noted(1))
    assert not journal.note(noted(3))  # 07:02 had no tick
    assert journal.note(noted(2))  # earlier than the latest: nothing to look into
    assert journal.note(noted(2, host="web-2"))
    for number in range(DRAIN_AFTER - 3):
        assert journal.note(noted(1, host=f"again-{number}"))
    assert not journal.note(noted(2, host="one-too-many"))
    assert journal.collect(store.insert_ticks) == DRAIN_AFTER - 1
    assert journal.note(noted(2, host="after-collecting"))


@pytest.mark.parametrize(("host", "stored"), [
    ("tab\there", None), ("new\nline", None), ("back\\slash", None), ("caf\u00e9", None),
    ("=+\t=", None), (" spaced ", None),
    # A byte that is not UTF-8 (read from the environment as a lone surrogate).
    ("bytes-\udcff-not-utf-8", "bytes-\\xff-not-utf-8"),
    ("lone-\ud800", "lone-\\ud800")])
def test_any_host_name_comes_back_as_it_was(store: SqliteStore, host: str,
                                            stored: str | None) -> None:
    store.journal.remember(noted(0))
    assert store.journal.note(noted(1, host=host))
    store.ensure_schema()
    assert [tick.host for tick in reversed(store.ticks())] == [stored or host]


def test_lines_cut_short_or_foreign_are_passed_over(store: SqliteStore) -> None:
    journal = store.journal
    journal.remember(noted(0))
    with open(journal.path, "ab") as handle:  # a write a full disk cut short, and junk
        handle.write(b"+nan\t1\t2\th\n+1\t2\tthree\th\n?1\t2\t3\th\n\xff\xfe\n+17729532")
    assert journal.note(noted(1))
    assert journal.collect(store.insert_ticks) == 1
    assert rows(store) == [(noted(1).minute, "web-1", 1001, noted(1).started)]


def test_a_link_in_the_journals_place_is_never_followed(project: Project,
                                                        tmp_path: Path) -> None:
    project.kernel(LATE_EVENING)
    tick(project, 0)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    journal = project.storage / "scheduler.sqlite3-ticks"
    journal.unlink()
    journal.symlink_to(victim)
    result = project.artisan("schedule:run", "--at", at(1))
    assert result.returncode == 0
    [warning] = [line for line in result.stderr.splitlines() if "run history" in line]
    assert str(journal) in warning, warning
    assert victim.read_text() == "precious\n"
    # A reader says what is wrong rather than take a minute for one with no tick.
    report = project.artisan("schedule:monitor", "--json", "--at", "2026-03-08T07:01:30Z")
    assert report.returncode == 2 and str(journal) in report.stderr, report.stderr
    with pytest.raises(StoreError, match="tick journal"):
        SqliteStore(project.storage / "scheduler.sqlite3", project.storage).ensure_schema()


def test_a_database_of_the_first_schema_takes_the_journal_in_after_migrating(
        tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    with sqlite3.connect(path) as connection:  # as the first schema left it: a tick twice
        connection.executescript("""
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES (1);
            CREATE TABLE ticks (id INTEGER PRIMARY KEY, minute REAL NOT NULL,
                                host TEXT NOT NULL, pid INTEGER NOT NULL,
                                started_at REAL NOT NULL);
            INSERT INTO ticks (minute, host, pid, started_at) VALUES (60, 'h', 1, 61.5);
            INSERT INTO ticks (minute, host, pid, started_at) VALUES (60, 'h', 1, 61.5);
        """)
    journal = TickJournal(path, tmp_path)
    journal.remember(NotedTick(60, 61.5, 1, "h"))
    assert journal.note(NotedTick(120, 121.5, 2, "h"))
    store = SqliteStore(path, tmp_path)
    store.ensure_schema()
    assert rows(store) == [(60.0, "h", 1, 61.5), (120.0, "h", 2, 121.5)]
    assert datetime.fromtimestamp(120, UTC) == store.last_tick().minute  # type: ignore[union-attr]
    os.unlink(journal.path)
    store.ensure_schema()  # a journal that is gone is an empty one
    assert len(rows(store)) == 2
