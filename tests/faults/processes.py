"""Helpers of the fault tests: starting ticks, and telling whether a process still lives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Project


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
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
