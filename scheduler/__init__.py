"""A cron-style task scheduler for Python applications, in the manner of Laravel's.

Declare tasks in `console/kernel.py`:

    from scheduler import schedule

    def schedule_tasks():
        schedule().job(cleanup_old_files).daily_at("02:00").without_overlapping()
        schedule().command("cache:clear").every_five_minutes()

and let the system crontab run `artisan schedule:run` every minute (`artisan` is the
console script; `python -m scheduler` is the same command line).
"""

from scheduler.event import Event, InvalidSchedule
from scheduler.maintenance import maintenance_mode
from scheduler.schedule import Schedule, schedule

# Tells this package from PyPI's unrelated `scheduler`, which installs into the same
# folder (see scheduler.clash).
ARTISAN_SCHEDULER = True

__all__ = ["Event", "InvalidSchedule", "Schedule", "maintenance_mode", "schedule"]
