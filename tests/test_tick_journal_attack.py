"""Attacks on the tick journal (scheduler.history.journal): real ticks (`artisan
schedule:run --at ...`), real readers, real files planted at the journal's path, a file
size limit standing in for a full disk. Each says what went wrong before it was guarded
against, or what it tries that must change nothing."""

from __future__ import annotations

import fcntl
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from scheduler.history.journal import DRAIN_AFTER
from scheduler.history.sqlite import SqliteStore
from scheduler.history.store import MIGRATIONS
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as HEADER
from tests.kernels import ran

# Nothing due in the morning: every tick of 07:xx has nothing to run.
LATE_EVENING = HEADER + """
def schedule_tasks():
    schedule().job(record, "evening").name("evening").daily_at("23:00")
"""
# Due every minute.
EVERY_MINUTE = HEADER + """
def schedule_tasks():
    schedule().job(record, "minute").name("minute").every_minute()
"""


def at(minute: int) -> str:
    """The instant of 07:00 plus `minute` minutes on 2026-03-08."""
    hour, rest = divmod(minute, 60)
    return f"2026-03-08T{7 + hour:02d}:{rest:02d}:00Z"


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def database(project: Project) -> Path:
    return project.storage / "scheduler.sqlite3"


def journal(project: Project) -> Path:
    return project.storage / "scheduler.sqlite3-ticks"


def stored_ticks(project: Project) -> list[tuple[float, str, int]]:
    """(minute, host, pid) of the `ticks` table, read with sqlite3 itself."""
    with sqlite3.connect(database(project)) as connection:
        return list(connection.execute("SELECT minute, host, pid FROM ticks "
                                       "ORDER BY minute, id"))


def stored_runs(project: Project) -> list[tuple[str, float, str]]:
    with sqlite3.connect(database(project)) as connection:
        return list(connection.execute(
            "SELECT task, scheduled_at, status FROM runs ORDER BY scheduled_at, id"))


def journal_lines(project: Project) -> list[bytes]:
    return journal(project).read_bytes().splitlines()


def tick(project: Project, minute: int, *, warnings_allowed: bool = False,
         **env: str) -> subprocess.CompletedProcess[str]:
    result = project.artisan("schedule:run", "--at", at(minute), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    if not warnings_allowed:
        assert "Warning" not in result.stderr + result.stdout, result.stderr + result.stdout
    return result


def imports_sqlite3(result: subprocess.CompletedProcess[str]) -> bool:
    """Whether a tick run with PYTHONPROFILEIMPORTTIME=1 imported sqlite3."""
    return any(line.startswith("import time:") and
               line.rsplit("|", 1)[-1].strip() in ("sqlite3", "_sqlite3")
               for line in result.stderr.splitlines())


def monitor(project: Project, minute: int) -> subprocess.CompletedProcess[str]:
    hour, rest = divmod(minute, 60)
    return project.artisan("schedule:monitor", "--json", "--at",
                           f"2026-03-08T{7 + hour:02d}:{rest:02d}:30Z")


# == Problems found, and guarded against ===================================================

# Was: a tick that opened the database with no pending line to collect (after a minute
# with no tick) appended a `=` line that nothing took away; with cron every two minutes,
# DRAIN_AFTER of them made the journal "full" for good, and no tick noted itself again.
# Now collecting keeps one `=` line, and remembering adds one only for a later minute.
@pytest.mark.slow
def test_ticks_after_gaps_do_not_disable_the_journal_for_good(project: Project) -> None:
    project.kernel(LATE_EVENING)
    for number in range(DRAIN_AFTER + 1):  # cron every two minutes: each tick after a gap
        tick(project, 2 * number, SCHEDULER_CATCH_UP="0")
    assert len(stored_ticks(project)) == DRAIN_AFTER + 1
    assert len(journal_lines(project)) <= 2  # the latest minute, and maybe the one before
    assert monitor(project, 2 * DRAIN_AFTER).returncode == 0
    assert len(journal_lines(project)) == 1
    # Now cron runs every minute again: these ticks have nothing to run and no minute
    # before them without a tick, so they note themselves without sqlite3.
    last = 2 * DRAIN_AFTER
    for minute in (last + 1, last + 2, last + 3):
        result = tick(project, minute, PYTHONPROFILEIMPORTTIME="1")
        assert not imports_sqlite3(result), (
            f"the tick of {at(minute)} opened the database; the journal has "
            f"{len(journal_lines(project))} lines")
    assert [line[:1] for line in journal_lines(project)] == [b"=", b"+", b"+", b"+"]


# Was: `_append` did not check how much `os.write` wrote. When the disk filled in the
# middle of a line (simulated with RLIMIT_FSIZE, which makes the kernel write part of
# the line and return a short count, as a full disk does), the tick took itself for
# noted and said nothing; the next tick ended the cut line with "\n", and a line cut
# inside the host name parsed: a tick was stored with a host name no tick had. Now a
# short write is taken back and the tick says so, and a line must end with its `.` field.
def test_a_line_cut_short_by_a_full_disk_is_not_stored_with_a_wrong_host(
        project: Project) -> None:
    project.kernel(LATE_EVENING)
    host = "web-" + "x" * 60
    tick(project, 0, SCHEDULER_HOST=host)
    # Room for 60 more bytes in any file: the line of the next tick (about 100 bytes)
    # is cut inside the host name.
    limit = journal(project).stat().st_size + 60

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [sys.executable, str(project.root / "artisan"), "schedule:run", "--at", at(1)],
        capture_output=True, text=True, cwd=project.root, timeout=60,
        env={**project.env, "SCHEDULER_HOST": host}, preexec_fn=full_disk)
    assert result.returncode == 0, result.stderr
    assert journal(project).read_bytes().endswith(b"\n")  # the cut line was taken back
    # Its tick then opened the database, which could not be written either: said once.
    warnings = [line for line in result.stderr.splitlines() if "run history" in line]
    assert len(warnings) == 1, result.stderr
    tick(project, 2, SCHEDULER_HOST=host)
    reader = monitor(project, 2)
    assert reader.returncode == 0, reader.stderr
    assert {row[1] for row in stored_ticks(project)} == {host}


# Was: a junk line whose pid does not fit SQLite's INTEGER parsed, and storing it raised
# OverflowError: every reader died with a traceback, for good. Now a line with a pid no
# process can have is passed over.
def test_a_junk_line_with_a_huge_pid_does_not_wedge_the_history(project: Project) -> None:
    project.kernel(LATE_EVENING)
    tick(project, 0)
    tick(project, 1)
    with journal(project).open("ab") as handle:
        handle.write(f"+{stamp(at(1))}\t{stamp(at(1)) + 1}\t{2 ** 70}\tjunk\t.\n".encode())
    tick(project, 2)
    reader = monitor(project, 2)
    assert "Traceback" not in reader.stderr, reader.stderr[-600:]
    assert reader.returncode == 0, reader.stdout + reader.stderr
    assert [row[0] for row in stored_ticks(project)] == [stamp(at(m)) for m in (0, 1, 2)]


# Was: any instant below 1e12 seconds parsed, but a datetime ends at year 9999 (2.5e11):
# a junk line with minute 3e11 was stored, and every reader then failed with "year 11476
# is out of range". Now a line must hold instants `--at` accepts.
def test_a_junk_line_far_in_the_future_does_not_poison_the_history(project: Project) -> None:
    project.kernel(LATE_EVENING)
    tick(project, 0)
    with journal(project).open("ab") as handle:
        handle.write(b"+300000000000.0\t300000000001.0\t4242\tjunk\t.\n")
    tick(project, 1)
    reader = monitor(project, 1)
    assert "Traceback" not in reader.stderr, reader.stderr[-600:]
    assert reader.returncode == 0, reader.stdout + reader.stderr
    assert [row[0] for row in stored_ticks(project)] == [stamp(at(m)) for m in (0, 1)]


# Was: only the first 64 KiB of the journal were read, but collecting truncated the
# whole file: with a long SCHEDULER_HOST (4,000 characters: 16 lines fill 64 KiB), the
# tick of 07:16 noted itself past 64 KiB and was never stored. Now a tick whose line
# would make the journal longer than it may grow opens the database instead.
def test_no_tick_is_lost_past_the_first_64_kib_of_the_journal(project: Project) -> None:
    project.kernel(LATE_EVENING)
    host = "h" * 4000
    count = 20
    for minute in range(count):
        # (The catch-up record's file name cannot hold such a host: that one warning;
        # none about the run history.)
        result = tick(project, minute, warnings_allowed=True, SCHEDULER_HOST=host)
        assert "run history" not in result.stdout + result.stderr
    reader = monitor(project, count - 1)
    assert reader.returncode == 0, reader.stderr
    stored = [row[0] for row in stored_ticks(project)]
    lost = [at(minute) for minute in range(count) if stamp(at(minute)) not in stored]
    assert lost == [], f"ticks that finished but are not in the history: {lost}"


# Was: only the first 64 KiB of the journal were read, and a big journal (here a planted
# one: the real journal with 8 GiB of holes after its line) took a tick's line 8 GiB
# in, never to be stored, with no warning. Now a journal longer than it ever grows is
# refused, not read nor cut: the tick says so once and runs its tasks, and readers fail
# naming the file and what to do.
def test_a_huge_journal_is_refused_naming_it(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "report").name("report").daily_at("07:01")
""")
    tick(project, 0)
    with journal(project).open("r+b") as handle:
        handle.truncate(8 << 30)  # 8 GiB of holes (no disk used)
    result = project.artisan("schedule:run", "--at", at(1), timeout=30)
    assert result.returncode == 0, result.stderr
    assert ran(project) == ["report"]
    [warning] = [line for line in result.stderr.splitlines() if "run history" in line]
    assert str(journal(project)) in warning and "remove it" in warning, warning
    reader = monitor(project, 1)
    assert reader.returncode == 2 and "remove it" in reader.stderr, reader.stderr
    assert journal(project).stat().st_size == 8 << 30  # left as it was, for a look


# Was: the journal's lock was taken with a blocking flock and no time limit: a file in
# its place held locked by another process (with storage shared on purpose, a member of
# that group could plant one) made every tick wait forever, running nothing. Now the
# lock is waited for a few seconds at most; then the tick says so and runs its tasks.
def test_a_planted_journal_held_locked_does_not_hang_the_tick(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "report").name("report").daily_at("07:01")
""")
    tick(project, 0)
    journal(project).unlink()
    planted = os.open(journal(project), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        os.write(planted, f"={stamp(at(0))}\t{stamp(at(0))}\t1\th\t.\n".encode())
        fcntl.flock(planted, fcntl.LOCK_EX)
        started = time.monotonic()
        try:
            result = project.artisan("schedule:run", "--at", at(1), timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the tick waited {time.monotonic() - started:.0f}s on the planted "
                        f"journal's lock and ran nothing: ran={ran(project)}")
        assert ran(project) == ["report"], result.stdout + result.stderr
    finally:
        os.close(planted)


# Was (minor): the journal's name is the database's plus "-ticks", so a database name of
# 195 to 200 characters (a safe name) had a journal whose name was refused: every tick
# warned and every reader failed. Now such a database has no journal: its ticks write
# their rows.
def test_a_database_name_the_storage_accepts_has_a_usable_journal(project: Project) -> None:
    project.kernel(LATE_EVENING)
    name = "h" * 196 + ".db"  # 199 characters: a safe name
    env = {"SCHEDULER_DATABASE_URL": f"sqlite:///storage/{name}"}
    project.env.update(env)
    first = project.artisan("schedule:run", "--at", at(0))
    second = project.artisan("schedule:run", "--at", at(1))
    assert "Warning" not in first.stderr + second.stderr, first.stderr + second.stderr
    reader = monitor(project, 1)
    assert reader.returncode == 0, reader.stderr


# == Attacks that held up ==================================================================

def test_a_fifo_at_the_journals_path_neither_hangs_nor_stops_tasks(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "report").name("report").daily_at("07:02")
""")
    tick(project, 0)
    journal(project).unlink()
    os.mkfifo(journal(project))
    quiet = project.artisan("schedule:run", "--at", at(1), timeout=20)
    assert quiet.returncode == 0
    assert [line for line in quiet.stderr.splitlines() if "Warning" in line] == [
        line for line in quiet.stderr.splitlines() if str(journal(project)) in line]
    assert len(quiet.stderr.splitlines()) == 1, quiet.stderr
    busy = project.artisan("schedule:run", "--at", at(2), timeout=20)
    assert ran(project) == ["report"]
    assert busy.stderr.count("Warning") == 1, busy.stderr
    reader = monitor(project, 2)
    assert reader.returncode == 2 and str(journal(project)) in reader.stderr, reader.stderr
    assert "Traceback" not in reader.stderr


def test_a_folder_at_the_journals_path_is_one_warning_and_readers_name_it(
        project: Project) -> None:
    project.kernel(LATE_EVENING)
    tick(project, 0)
    journal(project).unlink()
    journal(project).mkdir()
    (journal(project) / "inside").write_text("keep\n")
    result = project.artisan("schedule:run", "--at", at(1), timeout=20)
    assert result.returncode == 0 and result.stderr.count("Warning") == 1, result.stderr
    assert str(journal(project)) in result.stderr
    reader = monitor(project, 1)
    assert reader.returncode == 2 and str(journal(project)) in reader.stderr
    assert (journal(project) / "inside").read_text() == "keep\n"


def test_a_hard_link_at_the_journals_path_leaves_its_other_name_alone(
        project: Project, tmp_path: Path) -> None:
    project.kernel(LATE_EVENING)
    tick(project, 0)
    victim = project.storage / "victim.txt"  # same file system as the journal
    victim.write_bytes(b"precious\n" * 10)
    journal(project).unlink()
    os.link(victim, journal(project))
    for minute in (1, 2):
        result = project.artisan("schedule:run", "--at", at(minute), timeout=20)
        assert result.returncode == 0 and result.stderr.count("Warning") == 1
    reader = monitor(project, 2)
    assert reader.returncode == 2 and str(journal(project)) in reader.stderr
    assert victim.read_bytes() == b"precious\n" * 10


@pytest.mark.parametrize("host", [
    "tab\there", "new\nline", "back\\slash", "caf\u00e9", "=+\t=\\t", "\\x41",
    "bytes-\udcff\udcfe-not-utf-8", " spaced "])
def test_odd_host_names_through_real_ticks_and_a_reader(project: Project, host: str) -> None:
    project.kernel(LATE_EVENING)
    env = {"SCHEDULER_HOST": host}
    for minute in range(3):
        tick(project, minute, warnings_allowed=True, **env)
    assert [line[:1] for line in journal_lines(project)] == [b"=", b"+", b"+"]
    reader = monitor(project, 2)
    assert reader.returncode == 0, reader.stderr
    expected = host.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    assert [row[1] for row in stored_ticks(project)] == [expected] * 3
    again = monitor(project, 2)
    assert again.returncode == 0 and len(stored_ticks(project)) == 3


def test_nothing_due_means_no_sqlite3_import(project: Project) -> None:
    project.kernel(LATE_EVENING)
    tick(project, 0)
    settings: list[tuple[int, dict[str, str]]] = [
        (1, {}), (2, {"SCHEDULER_CATCH_UP": "90m"}),
        (3, {"SCHEDULER_HOST": "h\u00f6st\udcff"}), (4, {"SCHEDULER_HISTORY_DAYS": "7"})]
    for minute, env in settings:
        result = project.artisan("schedule:run", "--at", at(minute),
                                 env={**env, "PYTHONPROFILEIMPORTTIME": "1"})
        assert result.returncode == 0 and "Warning" not in result.stdout + result.stderr
        assert not imports_sqlite3(result), minute
        assert "scheduler.history.store" not in result.stderr


def test_backwards_and_repeated_minutes_record_no_false_missed(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "every-five").name("every-five").cron("*/5 * * * *")
    schedule().job(record, "at-seven").name("at-seven").daily_at("07:07")
""")
    for minute in (1, 2, 3, 2, 1, 3, 4, 4, 6, 8, 9, 6):
        tick(project, minute, SCHEDULER_CATCH_UP="0")
    # 07:05 and 07:07 had no tick: their instants are missed; nothing else is.
    reader = monitor(project, 9)
    assert reader.returncode in (0, 1), reader.stderr
    missed = [(task, at_) for task, at_, status in stored_runs(project) if status == "missed"]
    assert missed == [("every-five", stamp(at(5))), ("at-seven", stamp(at(7)))]
    ticks = [row[0] for row in stored_ticks(project)]
    assert sorted(ticks) == sorted(stamp(at(m)) for m in (1, 2, 3, 2, 1, 3, 4, 4, 6, 8, 9, 6))


def test_two_ticks_of_one_minute_and_readers_at_once_store_each_tick_once(
        project: Project) -> None:
    project.kernel(LATE_EVENING)
    tick(project, 0)
    processes = []
    for minute in range(1, 9):
        for _ in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, str(project.root / "artisan"), "schedule:run", "--at",
                 at(minute)], cwd=project.root, env=project.env, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True))
        processes.append(subprocess.Popen(
            [sys.executable, str(project.root / "artisan"), "schedule:history", "--json"],
            cwd=project.root, env=project.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0 and "Warning" not in errors, errors
    reader = monitor(project, 8)
    assert reader.returncode == 0, reader.stderr
    rows = stored_ticks(project)
    assert len(rows) == len(set(rows)) == 1 + 16
    assert stored_runs(project) == []


def test_history_off_writes_no_journal(project: Project) -> None:
    project.kernel(LATE_EVENING)
    for minute in range(3):
        tick(project, minute, SCHEDULER_HISTORY="off")
    assert not journal(project).exists() and not database(project).exists()


def test_postgres_ticks_write_their_rows_and_no_journal(project: Project,
                                                        postgres_url: str) -> None:
    import psycopg

    project.kernel(LATE_EVENING)
    project.env["SCHEDULER_DATABASE_URL"] = postgres_url
    for minute in (0, 1, 3):
        tick(project, minute, SCHEDULER_HOST="bytes-\udcff")
    assert not journal(project).exists()
    with psycopg.connect(postgres_url.replace(":s3cret-Pa55word", "")) as connection:
        rows = connection.execute("SELECT minute, host FROM ticks ORDER BY minute").fetchall()
    assert [(float(minute), host) for minute, host in rows] == [
        (stamp(at(m)), "bytes-\\xff") for m in (0, 1, 3)]
    reader = monitor(project, 3)
    assert reader.returncode == 0, reader.stderr


def test_a_schema_1_database_and_an_old_journal_through_real_ticks(project: Project) -> None:
    project.kernel(LATE_EVENING)
    project.storage.mkdir(mode=0o700)
    with sqlite3.connect(database(project)) as connection:  # as schema 1 left it
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
        for statement in MIGRATIONS[0][1]:
            connection.execute(statement.format(**SqliteStore.column_types))
        for _ in range(2):  # a tick twice, as schema 1 allowed
            connection.execute("INSERT INTO ticks (minute, host, pid, started_at) "
                               "VALUES (?, 'h', 1, ?)", (stamp(at(0)), stamp(at(0)) + 0.5))
    os.chmod(database(project), 0o600)
    # A journal from before (an older minute's `=`, a `+` already in the database).
    journal(project).write_bytes(
        f"={stamp(at(0))}\t{stamp(at(0)) + 0.5}\t1\th\t.\n"
        f"+{stamp(at(0))}\t{stamp(at(0)) + 0.5}\t1\th\t.\n".encode())
    os.chmod(journal(project), 0o600)
    tick(project, 1)  # notes itself: the journal knows 07:00
    reader = project.artisan("schedule:history", "--json")
    assert reader.returncode == 0, reader.stderr
    assert [row[0] for row in stored_ticks(project)] == [stamp(at(0)), stamp(at(1))]


def test_every_minute_runs_keep_the_journal_at_one_line(project: Project) -> None:
    project.kernel(EVERY_MINUTE)
    for minute in range(6):
        tick(project, minute)
    assert len(journal_lines(project)) == 1
    assert [row[0] for row in stored_ticks(project)] == [stamp(at(m)) for m in range(6)]
    assert [status for _, _, status in stored_runs(project)] == ["success"] * 6


def test_background_and_sub_minute_runs_are_recorded_after_a_noted_tick(
        project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "bg").name("bg").daily_at("07:01").run_in_background()
    schedule().job(record, "sub").name("sub").every(30).when(
        lambda: os.environ.get("SUB") == "1")
""")
    tick(project, 0)  # the sub-minute task's when() says no: skipped, recorded
    result = tick(project, 1)
    assert result.returncode == 0
    deadline = time.monotonic() + 20
    while "bg" not in ran(project) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    reader = project.artisan("schedule:history", "--json")
    assert reader.returncode == 0, reader.stderr
    runs = json.loads(reader.stdout)
    assert {run["task"] for run in runs} >= {"bg"}, runs
    assert [row[0] for row in stored_ticks(project)] == [stamp(at(0)), stamp(at(1))]


@pytest.mark.slow
def test_readers_killed_at_random_moments_lose_and_double_no_tick(project: Project) -> None:
    """Real readers (schedule:monitor, schedule:history, schedule:metrics) SIGKILLed at
    random moments while ticks note themselves and ticks with a run collect."""
    import random
    import signal

    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "third").name("third").cron("*/3 * * * *")
""")
    rng = random.Random(20261128)
    finished: set[tuple[int, float]] = set()
    killed_readers = 0

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(project.root / "artisan"), *args],
                                cwd=project.root, env=project.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    for minute in range(30):
        ticks = [start("schedule:run", "--at", at(minute)) for _ in range(rng.choice((1, 2)))]
        readers = [start(*rng.choice((("schedule:monitor", "--json"),
                                      ("schedule:history", "--json"),
                                      ("schedule:metrics",))))
                   for _ in range(2)]
        time.sleep(rng.uniform(0.05, 0.4))
        for reader in readers:
            if rng.random() < 0.7:
                reader.send_signal(signal.SIGKILL)
        for process in ticks:
            _, errors = process.communicate(timeout=60)
            assert process.returncode == 0 and "Warning" not in errors, errors
            finished.add((process.pid, stamp(at(minute))))
        for reader in readers:
            _, errors = reader.communicate(timeout=60)
            if reader.returncode == -signal.SIGKILL:
                killed_readers += 1
            else:
                assert "Traceback" not in errors, errors
    assert killed_readers
    result = project.artisan("schedule:history", "--json")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database(project)) as connection:
        rows = list(connection.execute("SELECT pid, minute FROM ticks"))
    assert len(rows) == len(set(rows))
    assert set(rows) == finished
    # (The readers read at the real now, long after 07:29: they record the instants
    # since as missed; the runs of the morning are each there once, as they ran.)
    assert [(task, when) for task, when, status in stored_runs(project)
            if status != "missed"] == [("third", stamp(at(m))) for m in range(0, 30, 3)]
    assert all(when > stamp(at(29)) for _, when, status in stored_runs(project)
               if status == "missed")
