"""Pieces shared by the tests that write kernels and watch what their tasks did."""

from __future__ import annotations

import time
from collections.abc import Callable

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
