"""A project whose run history holds runs made by real ticks, for the status page's
tests: its kernel is a module of its own name, so the in-process tests and the
processes they start load the same one."""

from __future__ import annotations

import textwrap
import uuid
from datetime import datetime, timedelta

from scheduler.schedule import floor_minute
from scheduler.zones import UTC
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


def live_ticks(project: Project, **settings: str) -> datetime:
    """Ticks of the last three minutes (a run is stamped with the real time it started,
    so a page's "last 24 hours" are the real ones): `tidy` runs three times, `broken`
    once (and fails). Returns the instant just after them."""
    first = floor_minute(datetime.now(UTC)) - timedelta(minutes=2)
    web_project(project, KERNEL.replace("hourly()", f'cron("{first.minute} * * * *")')
                .replace("every_five_minutes()", "every_minute()"), **settings)
    for minutes in range(3):
        tick(project, (first + timedelta(minutes=minutes)).isoformat())
    return datetime.now(UTC)
