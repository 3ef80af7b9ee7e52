"""The contract of the stores that keep overlap locks as leases, Redis and PostgreSQL,
each tested for real (a private redis-server; a database of the test's own): many
processes, leases renewed and capped, killed holders, late releases."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from scheduler.mutex import Acquired, Blocked, MutexBackend
from tests.conftest import Project

LEASE = timedelta(seconds=1)
MINUTE = datetime(2026, 3, 8, 7, 0, tzinfo=timezone.utc)

# (the store's URL, a backend on it with a one-second lease for a namespace (by default
# "production"), its class's import line)
Store = tuple[str, Callable[..., MutexBackend], str]


@pytest.fixture(params=["redis", "postgres"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "redis":
        from scheduler.mutex.redis import RedisMutexBackend

        url = request.getfixturevalue("redis_url")
        return (url, lambda namespace="production": RedisMutexBackend(url, namespace,
                                                                      lease=LEASE),
                "from scheduler.mutex.redis import RedisMutexBackend as Backend")
    from scheduler.mutex.postgres import PostgresMutexBackend

    url = request.getfixturevalue("postgres_url")
    return (url, lambda namespace="production": PostgresMutexBackend(url, namespace,
                                                                     lease=LEASE),
            "from scheduler.mutex.postgres import PostgresMutexBackend as Backend")


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
        project: Project, store: Store) -> None:
    url, _, _ = store
    project.kernel(FIFTY_ONE_SERVER_EVENTS)
    env = {**project.env, "SCHEDULER_CACHE_URL": url}
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


def test_a_lease_is_renewed_while_the_run_lasts(store: Store) -> None:
    _, backend_on, _ = store
    backend = backend_on()
    held = backend.acquire("long", timedelta(hours=1))
    assert isinstance(held, Acquired)
    held.lock.keep_alive()
    time.sleep(3.5)  # three and a half leases
    assert isinstance(backend.acquire("long", timedelta(hours=1)), Blocked)
    held.lock.release()
    assert isinstance(backend.acquire("long", timedelta(hours=1)), Acquired)


def test_renewal_stops_at_the_expiration(store: Store) -> None:
    _, backend_on, _ = store
    backend = backend_on()
    held = backend.acquire("capped", timedelta(seconds=1))
    assert isinstance(held, Acquired)
    held.lock.keep_alive()
    time.sleep(2.6)
    taken = backend.acquire("capped", timedelta(hours=1))
    assert isinstance(taken, Acquired) and taken.stale is None  # it had lapsed
    held.lock.release()
    assert backend.holders(["capped"]) == {"capped": taken.lock.holder}


def test_a_killed_holders_lease_lapses(store: Store) -> None:
    url, backend_on, import_line = store
    code = (f"import time, datetime\n{import_line}\n"
            f"backend = Backend({url!r}, 'production', lease=datetime.timedelta(seconds=1))\n"
            "held = backend.acquire('crashy', datetime.timedelta(hours=1))\n"
            "held.lock.keep_alive()\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        backend = backend_on()
        time.sleep(1.5)
        assert isinstance(backend.acquire("crashy", timedelta(hours=1)), Blocked)  # renewed
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        time.sleep(1.3)
        assert isinstance(backend.acquire("crashy", timedelta(hours=1)), Acquired)
    finally:
        holder.kill()
        holder.wait()


def test_a_run_past_its_lease_never_releases_a_newer_holders_lock(store: Store) -> None:
    _, backend_on, _ = store
    backend = backend_on()
    late = backend.acquire("key", timedelta(hours=1))
    assert isinstance(late, Acquired)  # never renewed: it lapses after a second
    time.sleep(1.3)
    newer = backend.acquire("key", timedelta(hours=1))
    assert isinstance(newer, Acquired)
    late.lock.release()
    assert backend.holders(["key"]) == {"key": newer.lock.holder}


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:s3cret-Pa55word@127.0.0.1:1/0", "Redis at redis://:***@127.0.0.1:1/0"),
    ("postgresql://app:s3cret-Pa55word@127.0.0.1:1/app",
     "PostgreSQL at postgresql://app:***@127.0.0.1:1/app"),
])
def test_an_unreachable_store_skips_only_the_events_that_need_it(
        project: Project, url: str, shown: str) -> None:
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
    result = project.artisan("schedule:run", env={"SCHEDULER_CACHE_URL": url})
    assert result.returncode == 1
    for name in ("guarded", "solo"):
        assert f"Skipping {name}: {shown} is unreachable" in result.stdout, result.stdout
    assert "s3cret" not in result.stdout + result.stderr
    assert "Running plain" in result.stdout
    assert (project.storage / "plain.txt").read_text() == "ran"


def test_environments_and_prefixes_do_not_collide(store: Store) -> None:
    _, backend_on, _ = store
    production, staging = backend_on("production"), backend_on("staging")
    other_app = backend_on("billing-production")
    for backend in (production, staging, other_app):
        assert isinstance(backend.acquire("key", timedelta(hours=1)), Acquired)
        assert backend.claim("key", MINUTE)
        backend.set_flag("paused", "yes")
    assert not production.claim("key", MINUTE)
    assert isinstance(production.acquire("key", timedelta(hours=1)), Blocked)
    assert production.clear_flag("paused")
    assert production.get_flag("paused") is None and staging.get_flag("paused") == "yes"
