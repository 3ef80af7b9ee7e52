"""Pieces shared by the tests that write kernels and watch what their tasks did."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
