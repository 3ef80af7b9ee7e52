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
        instant = moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-05:00 is past datetime's last UTC day
        raise ValueError(f"{text!r} is not an instant datetime can represent in UTC") from None
    if not FIRST_YEAR <= instant.year <= LAST_YEAR:
        raise ValueError(f"{text!r} is too close to the years datetime can hold; give an "
                         f"instant between years {FIRST_YEAR} and {LAST_YEAR}")
    return instant


# The evaluation looks at the minutes and days around an instant (in its zone, across
# DST changes): the first and last years datetime holds leave it no room.
FIRST_YEAR, LAST_YEAR = 2, 9998
