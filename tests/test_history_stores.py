"""The run history on PostgreSQL, shared by several servers, and stores that fail for
real: a port nobody listens on, a server that never answers, a disk that is full.

The PostgreSQL tests use a database of their own (`postgres_url`, tests/postgres_support).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler.history.store import LATEST_VERSION
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as HEADER
from tests.kernels import ran, wait_for
from tests.postgres_support import SECRET, _in_ci

AT = "2026-03-08T07:00:00Z"


def history_json(project: Project, env: dict[str, str]) -> list[dict[str, Any]]:
    result = project.artisan("schedule:history", "--json", "--limit", "500", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    records: list[dict[str, Any]] = json.loads(result.stdout)
    return records


SERVERS_KERNEL = HEADER + """
def schedule_tasks():
    schedule().job(record, "everywhere").name("everywhere")
    schedule().job(record, "once").name("once").on_one_server()
    schedule().exec("echo broken; exit 4").name("broken")
    schedule().job(record, "background").name("background").run_in_background()
"""


def test_servers_share_one_history_on_postgres(project: Project, postgres_url: str) -> None:
    project.kernel(SERVERS_KERNEL)
    env = {"SCHEDULER_DATABASE_URL": postgres_url}
    migrated = project.artisan("schedule:migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"from schema version 0 to {LATEST_VERSION}" in migrated.stdout
    assert SECRET not in migrated.stdout and ":***@" in migrated.stdout
    hosts = ("web-1", "web-2", "web-3")
    for host in hosts:  # the servers share the one-server claims (one storage here)
        tick = project.artisan("schedule:run", "--at", AT,
                               env={**env, "SCHEDULER_HOST": host})
        assert tick.returncode == 1 and "Warning" not in tick.stderr, tick.stderr
    wait_for(lambda: ran(project).count("background") == 3)
    wait_for(lambda: sum(r["task"] == "background" and r["status"] == "success"
                         for r in history_json(project, env)) == 3)
    records = history_json(project, env)
    summary = sorted((r["task"], r["host"], r["status"], r["reason"], r["ran_on"])
                     for r in records)
    expected = [("once", "web-1", "success", None, None),
                # skipped by web-2 and web-3, recorded once, naming who ran it
                ("once", "web-2", "skipped", "other_server", "web-1")]
    for host in hosts:
        expected += [("background", host, "success", None, None),
                     ("broken", host, "failure", None, None),
                     ("everywhere", host, "success", None, None)]
    assert summary == sorted(expected)
    assert all(r["scheduled"] == "2026-03-08T07:00:00+00:00" for r in records)
    broken = next(r for r in records if r["task"] == "broken")
    output = project.artisan("schedule:history", "--output", str(broken["id"]), env=env)
    assert output.stdout == "broken\n"
    # The monitor reads the same history: the broken task failed its last run.
    monitor = project.artisan("schedule:monitor", "--json", "--at", "2026-03-08T07:01:00Z",
                              env=env)
    assert monitor.returncode == 1
    states = {task["name"]: task["state"] for task in json.loads(monitor.stdout)["tasks"]}
    assert states == {"everywhere": "ok", "once": "ok", "broken": "failed",
                      "background": "ok"}
    again = project.artisan("schedule:migrate", env=env)
    assert f"is up to date (schema version {LATEST_VERSION})" in again.stdout


@pytest.mark.slow
def test_concurrent_first_ticks_migrate_postgres_once_and_lose_no_record(
        project: Project, postgres_url: str) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    for number in range(4):
        schedule().job(print, number).name(f"foreground {number}")
        schedule().job(print, number).name(f"background {number}").run_in_background()
""")
    env = {"SCHEDULER_DATABASE_URL": postgres_url}
    hosts = [f"host-{number}" for number in range(5)]
    ticks = [subprocess.Popen(
        [sys.executable, str(project.root / "artisan"), "schedule:run", "--at", AT],
        env={**project.env, **env, "SCHEDULER_HOST": host}, cwd=project.root,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for host in hosts]
    for tick in ticks:
        _, errors = tick.communicate(timeout=120)
        assert tick.returncode == 0 and "Warning" not in errors, errors
    wait_for(lambda: len(history_json(project, env)) == 40, timeout=60)
    records = history_json(project, env)
    assert sorted((r["host"], r["task"], r["status"]) for r in records) == sorted(
        (host, f"{kind} {number}", "success") for host in hosts for number in range(4)
        for kind in ("foreground", "background"))


# -- a store that fails -------------------------------------------------------------------
FAULT_KERNEL = HEADER + """
def schedule_tasks():
    schedule().job(record, "first").name("first")
    schedule().job(record, "second").name("second")
    schedule().job(record, "third").name("third")
    schedule().job(record, "background").name("background").run_in_background()
"""


def _assert_one_warning_and_every_task(project: Project, result: Any) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    wait_for(lambda: sorted(ran(project)) == ["background", "first", "second", "third"])
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1, result.stderr
    assert warnings[0].startswith("Warning: runs are not being recorded in the run history")
    assert SECRET not in result.stdout + result.stderr
    assert result.stdout.count("DONE") == 3
    return str(warnings[0])


def test_a_database_that_is_down_costs_one_warning_and_no_task(project: Project) -> None:
    with socket.socket() as probe:  # a port that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project.kernel(FAULT_KERNEL)
    url = f"postgresql://scheduler:{SECRET}@127.0.0.1:{port}/history"
    result = project.artisan("schedule:run", "--at", AT, env={"SCHEDULER_DATABASE_URL": url})
    warning = _assert_one_warning_and_every_task(project, result)
    assert f"127.0.0.1:{port}" in warning or str(port) in warning
    # The commands that read it say so, and exit 1 (the monitor: 2, it cannot tell).
    history = project.artisan("schedule:history", env={"SCHEDULER_DATABASE_URL": url})
    assert history.returncode == 1 and "Could not read the run history" in history.stderr
    assert SECRET not in history.stderr
    monitor = project.artisan("schedule:monitor", env={"SCHEDULER_DATABASE_URL": url})
    assert monitor.returncode == 2


@pytest.mark.slow
def test_a_database_that_never_answers_costs_one_warning_and_no_task(
        project: Project) -> None:
    project.kernel(FAULT_KERNEL)
    with socket.socket() as silent:  # accepts connections (the backlog) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        url = f"postgresql://scheduler:{SECRET}@127.0.0.1:{port}/history"
        result = project.artisan("schedule:run", "--at", AT,
                                 env={"SCHEDULER_DATABASE_URL": url}, timeout=60)
    _assert_one_warning_and_every_task(project, result)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KB tmpfs, mounted for the test (root only)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        if _in_ci():
            pytest.fail(f"could not mount a tmpfs: {mounted.stderr}")
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.slow
def test_a_full_disk_costs_one_warning_and_no_task(project: Project, full_disk: Path) -> None:
    project.kernel(FAULT_KERNEL)
    env = {"SCHEDULER_DATABASE_URL": f"sqlite:///{full_disk}/history.sqlite3"}
    first = project.artisan("schedule:run", "--at", AT, env=env)
    assert first.returncode == 0 and first.stderr == "", first.stderr
    wait_for(lambda: len(ran(project)) == 4)
    (project.storage / "ran.txt").unlink()
    # Fill the disk to its last byte.
    filler = os.open(full_disk / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(filler, b"\0" * 4096)
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(filler)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z", env=env)
    warning = _assert_one_warning_and_every_task(project, result)
    assert "full" in warning
