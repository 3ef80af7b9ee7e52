"""The application's Celery app and its tasks: unchanged by the move away from beat.

Its workers run as before (`celery -A reports.celery_app worker -Q celery,reports`);
only `beat` goes: the scheduler's kernel (console/kernel.py) now decides when each task
is sent.
"""

from __future__ import annotations

import os

from celery import Celery

app = Celery("reports",
             broker=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
             backend=os.environ.get("CELERY_RESULT_BACKEND") or None)


@app.task
def nightly_report() -> str:
    """Build yesterday's report (here: say so)."""
    return "report built"


@app.task
def refresh_cache() -> str:
    return "cache refreshed"


@app.task
def send_digest(period: str) -> str:
    return f"{period} digest sent"


# What this app had before, for comparison: the beat schedule that console/kernel.py
# replaces (beat is no longer started, so nothing reads it).
BEAT_SCHEDULE_BEFORE = {
    "nightly-report": {"task": "reports.celery_app.nightly_report",
                       "schedule": "crontab(minute=0, hour=2)",
                       "options": {"queue": "reports"}},
    "refresh-cache": {"task": "reports.celery_app.refresh_cache",
                      "schedule": "crontab(minute='*/5')"},
    "weekly-digest": {"task": "reports.celery_app.send_digest",
                      "schedule": "crontab(minute=0, hour=8, day_of_week='mon')",
                      "args": ("weekly",)},
}
