"""Pieces shared by the tests that write kernels and watch what their tasks did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tests.conftest import Project

# The top of a test kernel: the usual imports and `record(word)`, which appends a word
# to storage/ran.txt, for `ran()` to read back.
RECORDING_KERNEL = """
import os, signal, sys, time
from pathlib import Path
from scheduler import maintenance_mode, schedule
from scheduler.settings import current

def record(word):
    folder = current().storage
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "ran.txt", "a") as handle:
        handle.write(word + "\\n")
"""


def ran(project: Project) -> list[str]:
    """The words the project's tasks recorded, in order."""
    path = project.storage / "ran.txt"
    return path.read_text().split() if path.exists() else []


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def history(project: Project, *, ended_only: bool = True) -> list[dict[str, Any]]:
    """The runs recorded in the project's run history (its default SQLite file), oldest
    first, as `schedule:history --json` shows them; with `ended_only`, only the runs that
    ran to an end (success, failure, timeout)."""
    from scheduler.history.sqlite import SqliteStore
    from scheduler.history.store import ENDED_STATUSES, StoreError

    path = project.storage / "scheduler.sqlite3"
    if not path.exists():
        return []
    store = SqliteStore(path, project.storage)
    try:
        records = store.runs(statuses=ENDED_STATUSES if ended_only else ())
    except StoreError:
        return []  # the first tick has not made the tables yet
    finally:
        store.close()
    return [record.as_json() for record in reversed(records)]


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"


def parent_of(pid: int) -> int:
    """The parent of the live process `pid`."""
    stat = Path(f"/proc/{pid}/stat").read_bytes()
    return int(stat.rsplit(b")", 1)[1].split()[1])


def start_tick(project: Project, *args: str, env: dict[str, str] | None = None
               ) -> subprocess.Popen[str]:
    """`artisan schedule:run args...` in the background, its output piped."""
    return subprocess.Popen(
        [sys.executable, str(project.root / "artisan"), "schedule:run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        env={**project.env, **(env or {})}, cwd=project.root)


def processes_in(folder: Path) -> list[int]:
    """Every live process (but this one) working in `folder`: a project's ticks, workers
    and web servers start there, and the jobs and shell lines they start too."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if cwd == os.path.realpath(folder) and alive(int(entry)):
                found.append(int(entry))
    return found


StartProcess = Callable[..., "subprocess.Popen[str]"]


@contextmanager
def processes_started_in(folder: Path, env: Mapping[str, str]) -> Iterator[StartProcess]:
    """`start(argv, env=..., stdout=...)` runs a process in `folder`, in a session of its
    own, its output to a pipe by default; at the end, whatever a failed test left
    running there is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(argv: list[str], *, env_overrides: Mapping[str, str] | None = None,
              stdout: int | IO[str] = subprocess.PIPE) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            argv, cwd=folder, env={**env, **(env_overrides or {})}, stdin=subprocess.DEVNULL,
            stdout=stdout, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in processes_in(folder):
            os.kill(pid, signal.SIGKILL)


def history_dump(storage: Path) -> str:
    """Every record of the run history in `storage` (not the tasks' own output, which
    holds whatever the tasks printed), as text, for tests that check what the scheduler
    itself wrote down."""
    from scheduler.history.sqlite import SqliteStore
    from scheduler.history.store import StoreError

    path = storage / "scheduler.sqlite3"
    if not path.is_file() or path.is_symlink():
        return ""
    store = SqliteStore(path, storage)
    try:
        return json.dumps([record.as_json() for record in store.runs()])
    except StoreError:
        return ""
    finally:
        store.close()
