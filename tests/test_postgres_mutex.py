"""Overlap and one-server mutexes, pause and interrupt flags on a real PostgreSQL, shared
by many processes (a database each test creates and drops)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psycopg

from scheduler.mutex import Acquired, Blocked, Holder
from scheduler.mutex.postgres import PostgresMutexBackend
from tests.conftest import Project

UTC = timezone.utc
MINUTE = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)













def test_an_expired_holder_is_taken_over_with_its_description(postgres_url: str) -> None:
    backend = PostgresMutexBackend(postgres_url, "production")
    assert backend.holders(["key"]) == {}  # creates the tables
    old = Holder("old-token", 4242, "elsewhere", datetime.now(UTC) - timedelta(hours=3))
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO scheduler_mutex_locks (namespace, key, token, holder, expires) "
            "VALUES ('production', 'key', %s, %s, now() + interval '1 minute')",
            (old.token, old.to_json()))
        assert isinstance(backend.acquire("key", timedelta(hours=4)), Blocked)
        taken = backend.acquire("key", timedelta(hours=2))
        assert isinstance(taken, Acquired) and taken.stale == old
        [(token,)] = connection.execute(
            "SELECT token FROM scheduler_mutex_locks WHERE key = 'key'").fetchall()
    assert token == taken.lock.holder.token



def test_claims_are_confirmed_and_expired_rows_cleaned_up(postgres_url: str) -> None:
    backend = PostgresMutexBackend(postgres_url, "production")
    assert backend.claim("key", MINUTE)
    assert backend.confirm_claim("key", MINUTE)
    other = PostgresMutexBackend(postgres_url, "production")
    assert not other.confirm_claim("key", MINUTE)  # never claimed by it
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        [(expires,)] = connection.execute(
            "SELECT expires - now() FROM scheduler_mutex_claims").fetchall()
        assert expires >= timedelta(minutes=59)
        connection.execute("UPDATE scheduler_mutex_claims SET expires = now() - "
                           "interval '1 second'")
        connection.execute("INSERT INTO scheduler_mutex_flags VALUES ('production', 'old', "
                           "'x', now() - interval '1 second')")
        connection.execute("INSERT INTO scheduler_mutex_locks VALUES ('production', 'gone', "
                           "'t', '{}', now() - interval '1 second')")
        fresh = PostgresMutexBackend(postgres_url, "production")
        assert fresh.claim("key", MINUTE + timedelta(minutes=1))
        rows = connection.execute("SELECT count(*) FROM scheduler_mutex_claims").fetchone()
        flags = connection.execute("SELECT count(*) FROM scheduler_mutex_flags").fetchone()
        locks = connection.execute("SELECT count(*) FROM scheduler_mutex_locks").fetchone()
    assert rows == (1,) and flags == (0,) and locks == (0,)


def test_flags_expire(postgres_url: str) -> None:
    backend = PostgresMutexBackend(postgres_url, "production")
    backend.set_flag("interrupt", "now", expires=datetime.now(UTC) + timedelta(seconds=1))
    assert backend.get_flag("interrupt") == "now"
    time.sleep(1.2)
    assert backend.get_flag("interrupt") is None


SLOW_KERNEL = """
import time
from scheduler import schedule

def slow():
    time.sleep(30)

def schedule_tasks():
    schedule().job(slow).name("slow in the background").without_overlapping() \\
        .run_in_background()
    schedule().job(slow).name("slow").without_overlapping().every_two_minutes()
"""


def test_tick_with_overlap_pause_and_clear_cache_on_postgres(
        project: Project, postgres_url: str) -> None:
    project.kernel(SLOW_KERNEL)
    env = {**project.env, "SCHEDULER_CACHE_URL": postgres_url}
    tick = subprocess.Popen([sys.executable, str(project.root / "artisan"), "schedule:run",
                             "--at", "2026-03-08T07:00:00Z"],
                            env=env, stdout=subprocess.PIPE, text=True)
    try:
        backend = PostgresMutexBackend(postgres_url, "production")
        deadline = time.monotonic() + 20
        while not all(row["running"] for row in json.loads(
                project.artisan("schedule:list", "--json", env=env).stdout)):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        second = project.artisan("schedule:run", "--at", "2026-03-08T07:02:00Z", env=env)
        assert "Skipping slow: the previous run is still running" in second.stdout
        # The background run's supervisor holds its lock on a connection of its own.
        assert "Skipping slow in the background: the previous run is still running" \
            in second.stdout
        listed = json.loads(project.artisan("schedule:list", "--json", env=env).stdout)
        assert listed[1]["running"]["pid"] == tick.pid
        paused = project.artisan("schedule:pause", env=env)
        assert paused.returncode == 0, paused.stdout + paused.stderr
        assert backend.get_flag("paused") is not None
        third = project.artisan("schedule:run", "--at", "2026-03-08T07:04:00Z", env=env)
        assert "The schedule is paused" in third.stdout
        assert project.artisan("schedule:resume", env=env).returncode == 0
        cleared = project.artisan("schedule:clear-cache", env=env)
        assert sorted(cleared.stdout.splitlines()) == [
            "Deleting mutex for [slow in the background]", "Deleting mutex for [slow]"]
        assert backend.holders([]) == {}
        assert project.artisan("schedule:clear-cache", env=env).stdout.strip() == \
            "No mutexes were found."
    finally:
        tick.kill()
        tick.wait()



def test_no_piece_of_a_password_libpq_misreads_is_printed(project: Project) -> None:
    # An unencoded "@" makes libpq take the rest of the password for the host name, and
    # its error message quotes that host.
    project.kernel("""
from scheduler import schedule

def schedule_tasks():
    schedule().exec("true").name("solo").on_one_server()
""")
    url = "postgresql://app:hunter2@TopSecretTail@127.0.0.1:5432/app"
    result = project.artisan("schedule:run", env={"SCHEDULER_CACHE_URL": url})
    listed = project.artisan("schedule:list", env={"SCHEDULER_CACHE_URL": url})
    assert "Skipping solo: PostgreSQL at" in result.stdout
    for output in (result.stdout + result.stderr, listed.stdout + listed.stderr):
        assert "hunter2" not in output and "TopSecretTail" not in output
