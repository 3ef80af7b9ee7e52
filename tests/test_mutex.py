"""Overlap and one-server mutexes on the file backend, with real processes and locks."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scheduler import Schedule
from scheduler.mutex import Acquired, Blocked
from scheduler.mutex.files import FileMutexBackend
from tests.conftest import Project
from tests.kernels import start_tick, wait_for

UTC = timezone.utc

KERNEL = """
import os, time
from scheduler import schedule
from scheduler.settings import current

def slow():
    seconds = float(os.environ.get("TASK_SECONDS", "3"))
    folder = current().storage
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "runs.txt", "a") as handle:
        handle.write(f"start {os.getpid()}\\n")
    time.sleep(seconds)
    with open(folder / "runs.txt", "a") as handle:
        handle.write(f"end {os.getpid()}\\n")

def schedule_tasks():
    schedule().job(slow).name("slow").without_overlapping(
        int(os.environ.get("EXPIRATION", "1440")))
"""


def runs(project: Project) -> list[str]:
    path = project.storage / "runs.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_two_concurrent_ticks_of_one_minute_run_the_task_once(project: Project) -> None:
    project.kernel(KERNEL)
    first = start_tick(project, "--at", "2026-03-08T07:00:00Z")
    wait_for(lambda: len(runs(project)) == 1)
    same_host = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    # Another host sharing the storage gets past the per-host tick guard: the overlap
    # mutex stops it.
    other_host = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                                 env={"SCHEDULER_HOST": "web-2"})
    next_minute = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    first_out, _ = first.communicate(timeout=30)
    assert first.returncode == same_host.returncode == other_host.returncode == 0
    assert [line.split()[0] for line in runs(project)] == ["start", "end"]
    assert "A tick already ran" in same_host.stdout
    for skipped in (other_host, next_minute):
        assert "Skipping slow: the previous run is still running (pid" in skipped.stdout
    assert "Running slow" in first_out


def test_a_killed_tick_and_task_free_the_lock_at_once(project: Project) -> None:
    project.kernel(KERNEL)
    tick = start_tick(project, "--at", "2026-03-08T07:00:00Z", env={"TASK_SECONDS": "60"})
    wait_for(lambda: len(runs(project)) == 1)
    task_pid = int(runs(project)[0].split()[1])
    os.kill(task_pid, signal.SIGKILL)
    tick.kill()
    tick.wait(timeout=10)
    again = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                            env={"TASK_SECONDS": "0"})
    assert "Running slow" in again.stdout, again.stdout
    assert [line.split()[0] for line in runs(project)] == ["start", "start", "end"]


def test_a_killed_tick_stops_its_job_and_frees_the_lock(project: Project) -> None:
    project.kernel(KERNEL)
    tick = start_tick(project, "--at", "2026-03-08T07:00:00Z", env={"TASK_SECONDS": "60"})
    wait_for(lambda: len(runs(project)) == 1)
    task_pid = int(runs(project)[0].split()[1])
    tick.kill()
    tick.wait(timeout=10)
    # The job dies with its tick (its keeper stops it), so no orphan runs on unlocked.
    wait_for(lambda: not os.path.exists(f"/proc/{task_pid}"), timeout=10)
    again = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                            env={"TASK_SECONDS": "0"})
    assert "Running slow" in again.stdout, again.stdout
    assert [line.split()[0] for line in runs(project)] == ["start", "start", "end"]


def test_a_holder_older_than_the_expiration_no_longer_blocks(project: Project) -> None:
    project.kernel(KERNEL)
    tick = start_tick(project, "--at", "2026-03-08T07:00:00Z",
                      env={"TASK_SECONDS": "30", "EXPIRATION": "60"})
    wait_for(lambda: len(runs(project)) == 1)
    # The clock is set rather than waited for: the holder's record says it started
    # two hours ago, past the 60-minute expiration.
    [state] = (project.storage / "mutex").glob("*.json")
    record = json.loads(state.read_text())
    record["started"] = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    state.write_text(json.dumps(record))
    again = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                            env={"TASK_SECONDS": "0", "EXPIRATION": "60"})
    tick.kill()
    tick.wait(timeout=10)
    assert "Warning: slow: the previous run (pid" in again.stdout
    assert "longer than its expiration of 60 minutes; running anyway" in again.stdout
    assert "Running slow" in again.stdout


def test_release_never_frees_a_lock_another_run_took(tmp_path: Path) -> None:
    backend = FileMutexBackend(tmp_path / "mutex", "production")
    old = backend.acquire("key", timedelta(hours=1))
    assert isinstance(old, Acquired)
    assert isinstance(backend.acquire("key", timedelta(hours=1)), Blocked)
    new = backend.acquire("key", timedelta(0))  # the old holder counts as expired
    assert isinstance(new, Acquired) and new.stale == old.lock.holder
    old.lock.release()
    assert backend.holders(["key"]) == {"key": new.lock.holder}
    assert isinstance(backend.acquire("key", timedelta(hours=1)), Blocked)
    new.lock.release()
    assert backend.holders(["key"]) == {}
    assert isinstance(backend.acquire("key", timedelta(hours=1)), Acquired)


def test_lock_folder_and_files_are_private(tmp_path: Path) -> None:
    backend = FileMutexBackend(tmp_path / "storage" / "mutex", "production")
    held = backend.acquire("key", timedelta(hours=1))
    assert isinstance(held, Acquired)
    assert stat.S_IMODE((tmp_path / "storage" / "mutex").stat().st_mode) == 0o700
    files = list((tmp_path / "storage" / "mutex").iterdir())
    assert files and all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)
    held.lock.release()


def test_environments_never_block_each_other(tmp_path: Path) -> None:
    production = FileMutexBackend(tmp_path, "production")
    staging = FileMutexBackend(tmp_path, "staging")
    assert isinstance(production.acquire("key", timedelta(hours=1)), Acquired)
    assert isinstance(staging.acquire("key", timedelta(hours=1)), Acquired)
    minute = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert production.claim("key", minute) and staging.claim("key", minute)
    assert not production.claim("key", minute)


def test_one_server_claims_are_per_scheduled_instant(tmp_path: Path) -> None:
    backend = FileMutexBackend(tmp_path, "production")
    minute = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert backend.claim("key", minute)
    assert not backend.claim("key", minute)
    assert backend.claim("key", minute + timedelta(minutes=1))
    assert backend.claim("other", minute)
    # Claims older than an hour are cleaned up as new ones are made.
    backend.claim("key", minute + timedelta(hours=2))
    assert sorted(path.name for path in (tmp_path / "claims").iterdir()) == [
        "20260308T0900"]


def test_on_one_server_runs_once_per_minute_across_ticks(project: Project) -> None:
    project.kernel("""
import os
from scheduler import schedule
from scheduler.settings import current

def work():
    with open(current().storage / "ran.txt", "a") as handle:
        handle.write("ran\\n")

def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    schedule().job(work).name("solo").on_one_server()
""")
    ticks = [start_tick(project, "--at", "2026-03-08T07:00:00Z",
                        env={"SCHEDULER_HOST": f"web-{number}"}) for number in range(3)]
    outputs = [tick.communicate(timeout=30)[0] for tick in ticks]
    assert (project.storage / "ran.txt").read_text() == "ran\n"
    assert sum("Skipping solo: already ran on another server" in out for out in outputs) == 2
    project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    assert (project.storage / "ran.txt").read_text() == "ran\nran\n"


def test_the_mutex_key_is_stable_and_ignores_the_display_name() -> None:
    first = Schedule().job(runs).hourly()
    renamed = Schedule().job(runs).hourly().name("hourly report")
    other_time = Schedule().job(runs).daily()
    assert first.mutex_key == renamed.mutex_key
    assert first.mutex_key != other_time.mutex_key
    assert first.mutex_key == Schedule().job(runs).hourly().mutex_key
    code = ("from scheduler import Schedule\n"
            "from tests.test_mutex import runs\n"
            "print(Schedule().job(runs).hourly().mutex_key)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parent.parent, check=True).stdout.strip()
    assert out == Schedule().job(runs).hourly().mutex_key


def test_schedule_list_shows_the_running_holder_and_clear_cache_removes_it(
        project: Project) -> None:
    project.kernel(KERNEL)
    assert project.artisan("schedule:clear-cache").stdout.strip() == "No mutexes were found."
    tick = start_tick(project, "--at", "2026-03-08T07:00:00Z", env={"TASK_SECONDS": "30"})
    try:
        wait_for(lambda: len(runs(project)) == 1)
        listed = json.loads(project.artisan("schedule:list", "--json").stdout)
        assert listed[0]["running"]["pid"] == tick.pid
        assert "running (pid" in project.artisan("schedule:list").stdout
        cleared = project.artisan("schedule:clear-cache")
        assert cleared.stdout.strip() == "Deleting mutex for [slow]"
    finally:
        tick.kill()
        tick.wait(timeout=10)
    assert json.loads(project.artisan("schedule:list", "--json").stdout)[0]["running"] is None


@pytest.mark.parametrize("url", ["memcached://127.0.0.1:11211"])
def test_an_unsupported_cache_url_is_reported_per_event(project: Project, url: str) -> None:
    project.kernel(KERNEL)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                             env={"SCHEDULER_CACHE_URL": url, "TASK_SECONDS": "0"})
    assert result.returncode == 1
    assert "Skipping slow: SCHEDULER_CACHE_URL" in result.stdout
    assert "unsupported scheme 'memcached'" in result.stdout


def test_one_function_with_different_arguments_makes_different_mutexes() -> None:
    def backup(target: str) -> None:
        """A job."""

    schedule = Schedule()
    database = schedule.job(backup, "db").hourly()
    files = schedule.job(backup, "files").hourly()
    assert database.mutex_key != files.mutex_key
    assert database.display_name.endswith("backup('db')")


@pytest.mark.parametrize(("cache_url", "imported", "not_imported"), [
    (None, "scheduler.mutex.files", ("scheduler.mutex.redis", "scheduler.mutex.postgres",
                                     "redis", "psycopg")),
    ("redis://127.0.0.1:1/0", "scheduler.mutex.redis",
     ("scheduler.mutex.files", "scheduler.mutex.postgres", "psycopg")),
    ("postgresql://app@127.0.0.1:1/app", "scheduler.mutex.postgres",
     ("scheduler.mutex.files", "scheduler.mutex.redis", "redis")),
])
def test_a_tick_imports_only_the_mutex_backend_it_uses(
        project: Project, cache_url: str | None, imported: str,
        not_imported: tuple[str, ...]) -> None:
    project.kernel("""
import sys
from scheduler import schedule
from scheduler.settings import current

def report():
    current().storage.mkdir(parents=True, exist_ok=True)
    (current().storage / "modules.txt").write_text("\\n".join(sorted(sys.modules)))

def schedule_tasks():
    schedule().job(report).name("guarded").without_overlapping()
    schedule().job(report).name("plain")
""")
    env = {} if cache_url is None else {"SCHEDULER_CACHE_URL": cache_url}
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env=env)
    modules = set((project.storage / "modules.txt").read_text().split())
    assert imported in modules
    assert not modules & set(not_imported)
