"""A project whose run history holds runs made by real ticks, for the status page's
tests: its kernel is a module of its own name, so the in-process tests and the
processes they start load the same one."""

from __future__ import annotations

import textwrap
import uuid

from tests.conftest import Project

KERNEL = """
from scheduler import schedule

def tidy():
    print("tidied 3 files")

def broken():
    raise RuntimeError("disk on fire")

def schedule_tasks():
    schedule().job(tidy).every_five_minutes().name("tidy")
    schedule().job(broken).hourly().name("broken")
    schedule().exec("echo nightly").daily_at("02:30").timezone("Europe/Berlin").name("nightly")
"""


def web_project(project: Project, kernel: str = KERNEL, **settings: str) -> str:
    """Write `kernel` as a module of a name of its own and a `.env` that names it (with
    `settings`); return the module's name."""
    module = f"kernel_{uuid.uuid4().hex[:12]}"
    (project.root / f"{module}.py").write_text(textwrap.dedent(kernel))
    lines = {"SCHEDULER_KERNEL": module, "APP_TIMEZONE": "UTC", **settings}
    (project.root / ".env").write_text("".join(f"{key}={value}\n"
                                               for key, value in lines.items()))
    return module


def tick(project: Project, at: str) -> None:
    """One real tick for the instant `at` (its tasks may fail; the tick must run)."""
    result = project.artisan("schedule:run", "--at", at)
    assert "Traceback" not in result.stderr or "disk on fire" in result.stderr, result.stderr
