"""The beat schedule of reports/celery_app.py, as the scheduler's kernel.

The tasks are named by their dotted paths, so a tick imports Celery only when one of
them is due; `on_one_server()` lets every server run the scheduler's crontab line while
each task is still sent once per due minute (beat has no such lock); the time zone and
its daylight saving time are cron's rules; and `without_overlapping()` holds back the
next nightly report while a worker is still building the last one (with a result
backend set: CELERY_RESULT_BACKEND).
"""

from __future__ import annotations

from scheduler import schedule


def schedule_tasks() -> None:
    (schedule().dispatch("reports.celery_app.nightly_report", queue="reports")
        .daily_at("02:00").timezone("Europe/Paris").on_one_server().without_overlapping())
    schedule().dispatch("reports.celery_app.refresh_cache").every_five_minutes().on_one_server()
    (schedule().dispatch("reports.celery_app.send_digest", "weekly")
        .weekly_on("monday", "08:00").timezone("Europe/Paris").on_one_server())
