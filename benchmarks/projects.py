"""Throw-away projects with generated kernels of N events, for the benchmarks."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# A mix of frequencies and zones like a real schedule's; `i` makes most expressions
# distinct, which is the hard case for an evaluator that compiles each one.
EVENT_LINES = (
    "schedule().job(task, {i}).every_five_minutes()",
    "schedule().job(task, {i}).hourly_at({i} % 60).timezone('Europe/Paris')",
    "schedule().job(task, {i}).daily_at('{hour}:{minute:02d}').timezone('America/New_York')",
    "schedule().job(task, {i}).weekly_on({i} % 7, '{hour}:00')",
    "schedule().command('inspire').cron('{minute} {hour} * * 1-5').name('inspire {i}')",
    "schedule().job(task, {i}).monthly_on({i} % 28 + 1, '3:00').timezone('Asia/Kolkata')",
    "schedule().exec('true # {i}').every_minute().between('8:00', '18:00')",
    "schedule().job(task, {i}).twice_daily({i} % 12, {i} % 12 + 12).without_overlapping()",
)


def kernel_source(events: int) -> str:
    """A kernel module declaring `events` events of mixed frequencies."""
    lines = ["from scheduler import schedule", "", "def task(number):",
             "    return number", "", "def schedule_tasks():"]
    for i in range(events):
        template = EVENT_LINES[i % len(EVENT_LINES)]
        lines.append("    " + template.format(i=i, hour=i % 24, minute=i % 60))
    if events == 0:
        lines.append("    pass")
    return "\n".join(lines) + "\n"


def make_project(events: int) -> Path:
    """A project folder with its own artisan, the example commands and a kernel."""
    root = Path(tempfile.mkdtemp(prefix=f"scheduler-bench-{events}-"))
    (root / "console" / "commands").mkdir(parents=True)
    shutil.copy(REPO / "artisan", root / "artisan")
    (root / "console" / "__init__.py").write_text("")
    (root / "console" / "commands" / "__init__.py").write_text("")
    shutil.copy(REPO / "console" / "commands" / "inspire.py", root / "console" / "commands")
    (root / "console" / "kernel.py").write_text(kernel_source(events))
    return root
