"""The shop's kernel: `artisan --app shop.schedule schedule:run` loads it."""

from __future__ import annotations

from scheduler import schedule
from shop.tasks import prune_reports, refresh_exchange_rates


def schedule_tasks() -> None:
    schedule().job(refresh_exchange_rates).every_minute().without_overlapping().timeout(50)
    schedule().job(prune_reports).hourly()
    schedule().command("reports:summary").daily_at("06:00")
