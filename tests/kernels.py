"""Pieces shared by the tests that write kernels and watch what their tasks did."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

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
