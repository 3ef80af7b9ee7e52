"""Overlap and one-server mutexes, pause and interrupt flags on a real PostgreSQL, shared
by many processes (a database each test creates and drops)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import psycopg

from scheduler.mutex import Acquired, Blocked, Holder
from scheduler.mutex.postgres import PostgresMutexBackend
from tests.conftest import Project
from tests.postgres_support import SECRET

UTC = timezone.utc
MINUTE = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)

FIFTY_ONE_SERVER_EVENTS = """
import os
from scheduler import schedule
from scheduler.settings import current

def work(number):
    descriptor = os.open(current().storage / "ran.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(descriptor, f"{number} {os.getppid()}\\n".encode())
    os.close(descriptor)

def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    for number in range(50):
        schedule().job(work, number).name(f"event {number}").on_one_server()
"""


def test_four_ticks_of_one_minute_run_fifty_one_server_events_exactly_once(
        project: Project, postgres_url: str) -> None:
    project.kernel(FIFTY_ONE_SERVER_EVENTS)
    env = {**project.env, "SCHEDULER_CACHE_URL": postgres_url}
    ticks = [subprocess.Popen([sys.executable, str(project.root / "artisan"), "schedule:run",
                               "--at", "2026-03-08T07:00:00Z"], text=True,
                              env={**env, "SCHEDULER_HOST": f"server-{number}"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for number in range(4)]
    outputs = [tick.communicate(timeout=120) for tick in ticks]
    assert all(tick.returncode == 0 for tick in ticks), outputs
    lines = (project.storage / "ran.txt").read_text().splitlines()
    assert sorted(int(line.split()[0]) for line in lines) == list(range(50))
    skipped = sum(out.count("already ran on another server") for out, _ in outputs)
    assert skipped == 150
    assert not any(SECRET in out + err for out, err in outputs)


def test_a_lease_is_renewed_while_the_run_lasts(postgres_url: str) -> None:
    backend = PostgresMutexBackend(postgres_url, "production", lease=timedelta(seconds=1))
    held = backend.acquire("long", timedelta(hours=1))
    assert isinstance(held, Acquired)
    held.lock.keep_alive()
    time.sleep(3.5)  # three and a half leases
    assert isinstance(backend.acquire("long", timedelta(hours=1)), Blocked)
    held.lock.release()
    assert isinstance(backend.acquire("long", timedelta(hours=1)), Acquired)


def test_renewal_stops_at_the_expiration(postgres_url: str) -> None:
    backend = PostgresMutexBackend(postgres_url, "production", lease=timedelta(seconds=1))
    held = backend.acquire("capped", timedelta(seconds=1))
    assert isinstance(held, Acquired)
    held.lock.keep_alive()
    time.sleep(2.6)
    taken = backend.acquire("capped", timedelta(hours=1))
    assert isinstance(taken, Acquired) and taken.stale is None  # it had lapsed
    held.lock.release()
    assert backend.holders(["capped"]) == {"capped": taken.lock.holder}


def test_a_killed_holders_lease_lapses(postgres_url: str) -> None:
    code = ("import time, datetime\n"
            "from scheduler.mutex.postgres import PostgresMutexBackend\n"
            f"backend = PostgresMutexBackend({postgres_url!r}, 'production',"
            " lease=datetime.timedelta(seconds=1))\n"
            "held = backend.acquire('crashy', datetime.timedelta(hours=1))\n"
            "held.lock.keep_alive()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        backend = PostgresMutexBackend(postgres_url, "production", lease=timedelta(seconds=1))
        time.sleep(1.5)
        assert isinstance(backend.acquire("crashy", timedelta(hours=1)), Blocked)  # renewed
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        time.sleep(1.3)
        assert isinstance(backend.acquire("crashy", timedelta(hours=1)), Acquired)
    finally:
        holder.kill()
        holder.wait()


def test_a_run_past_its_lease_never_releases_a_newer_holders_lock(postgres_url: str) -> None:
    backend = PostgresMutexBackend(postgres_url, "production", lease=timedelta(seconds=1))
    late = backend.acquire("key", timedelta(hours=1))
    assert isinstance(late, Acquired)  # never renewed: it lapses after a second
    time.sleep(1.3)
    newer = backend.acquire("key", timedelta(hours=1))
    assert isinstance(newer, Acquired)
    late.lock.release()
    assert backend.holders(["key"]) == {"key": newer.lock.holder}


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


def test_environments_and_prefixes_do_not_collide(postgres_url: str) -> None:
    production = PostgresMutexBackend(postgres_url, "production")
    staging = PostgresMutexBackend(postgres_url, "staging")
    other_app = PostgresMutexBackend(postgres_url, "billing-production")
    for backend in (production, staging, other_app):
        assert isinstance(backend.acquire("key", timedelta(hours=1)), Acquired)
        assert backend.claim("key", MINUTE)
        backend.set_flag("paused", "yes")
    assert not production.claim("key", MINUTE)
    assert isinstance(production.acquire("key", timedelta(hours=1)), Blocked)
    assert production.clear_flag("paused")
    assert production.get_flag("paused") is None and staging.get_flag("paused") == "yes"


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
        fresh = PostgresMutexBackend(postgres_url, "production")
        assert fresh.claim("key", MINUTE + timedelta(minutes=1))
        rows = connection.execute("SELECT count(*) FROM scheduler_mutex_claims").fetchone()
        flags = connection.execute("SELECT count(*) FROM scheduler_mutex_flags").fetchone()
    assert rows == (1,) and flags == (0,)


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


def test_unreachable_postgres_skips_the_events_that_need_it(project: Project) -> None:
    project.kernel("""
from scheduler import schedule
from scheduler.settings import current

def plain():
    current().storage.mkdir(parents=True, exist_ok=True)
    (current().storage / "plain.txt").write_text("ran")

def schedule_tasks():
    schedule().job(plain).name("guarded").without_overlapping()
    schedule().job(plain).name("solo").on_one_server()
    schedule().job(plain).name("plain")
""")
    url = f"postgresql://app:{SECRET}@127.0.0.1:1/app"
    result = project.artisan("schedule:run", env={"SCHEDULER_CACHE_URL": url})
    assert result.returncode == 1
    for name in ("guarded", "solo"):
        assert f"Skipping {name}: PostgreSQL at postgresql://app:***@127.0.0.1:1/app is " \
               f"unreachable" in result.stdout, result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert "Running plain" in result.stdout
    assert (project.storage / "plain.txt").read_text() == "ran"


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
