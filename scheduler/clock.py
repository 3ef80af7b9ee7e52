"""The clock: the current instant, or the one given with `--at`."""

from __future__ import annotations

from datetime import datetime, tzinfo

from scheduler.zones import UTC


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def parse_instant(text: str, default_zone: tzinfo) -> datetime:
    """Parse an ISO-8601 instant such as `2026-03-08T07:00:00Z` or `2026-03-08 02:30-05:00`.

    A time without an offset is read in `default_zone` (the application's zone).
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        from dateutil.parser import isoparse

        try:
            moment = isoparse(text.strip())
        except (ValueError, OverflowError):
            raise ValueError(f"{text!r} is not an ISO-8601 instant such as "
                             f"2026-03-08T07:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_zone)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-05:00 is past datetime's last UTC day
        raise ValueError(f"{text!r} is not an instant datetime can represent in UTC") from None
