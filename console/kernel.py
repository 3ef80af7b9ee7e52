"""The application's schedule: `artisan schedule:run` calls `schedule_tasks()` every minute.

These tasks are runnable versions of the examples in the scheduling guide; they need
nothing outside this project, so `make run` shows real work. Replace them with your own.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

from scheduler import maintenance_mode, schedule
from scheduler.settings import current

# The tasks' own messages go to their captured output (stderr in a task's process). Only
# this logger is configured: configuring the root logger would show the tick's lines,
# which go through the "scheduler" logger, a second time (see README, Logging).
logger = logging.getLogger("console.kernel")
logger.setLevel(logging.INFO)
logger.propagate = False
_handler = logging.StreamHandler()
_handler.setFormatter(logging.Formatter("%(message)s"))
logger.addHandler(_handler)

# Files older than this are removed from the uploads folder by the nightly cleanup.
UPLOAD_RETENTION_DAYS = 30


def uploads_folder() -> Path:
    return current().storage / "app" / "uploads"


def cleanup_old_files() -> None:
    """Remove uploads older than UPLOAD_RETENTION_DAYS days."""
    cutoff = time.time() - UPLOAD_RETENTION_DAYS * 86400
    folder = uploads_folder()
    folder.mkdir(parents=True, exist_ok=True)
    removed = 0
    for path in folder.rglob("*"):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink()
            removed += 1
    print(f"Removed {removed} uploads older than {UPLOAD_RETENTION_DAYS} days from {folder}.")


def is_business_hours() -> bool:
    """9:00 to 17:59 on the clock of the machine."""
    return 9 <= datetime.now().hour <= 17


def send_notification() -> None:
    """Stands in for a notification sent only during business hours."""
    print("Business-hours notification sent.")


def write_heartbeat() -> None:
    """Record that the scheduler is alive: storage/heartbeat holds the last run's time."""
    path = current().storage / "heartbeat"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(datetime.now().astimezone().isoformat() + "\n")


def before_backup() -> None:
    logger.info("Starting backup...")


def after_backup() -> None:
    logger.info("Backup completed!")


def run_backup() -> None:
    """Copy the uploads folder's file list into storage/backups (a stand-in backup)."""
    target = current().storage / "backups"
    target.mkdir(parents=True, exist_ok=True)
    listing = sorted(str(path) for path in uploads_folder().rglob("*") if path.is_file())
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    (target / f"uploads-{stamp}.txt").write_text("\n".join(listing) + "\n")
    print(f"Backed up the list of {len(listing)} uploads.")


def schedule_tasks() -> None:
    """Define all scheduled tasks here."""
    schedule().job(write_heartbeat).every_minute().name("heartbeat")
    schedule().job(cleanup_old_files).daily_at("02:00").without_overlapping()
    schedule().command("cache:clear").every_five_minutes()
    schedule().job(send_notification).every_minute().when(is_business_hours)
    schedule().job(run_backup).daily().before(before_backup).after(after_backup)
    schedule().exec("df -h . | tail -n 1").name("disk usage").hourly().skip(
        lambda: maintenance_mode())
    schedule().command("inspire").weekly_on("monday", "09:00").timezone("Europe/London")
