"""Pausing the whole schedule: `artisan schedule:pause` until `artisan schedule:resume`.

The pause is a flag in the mutex store (files, or Redis when SCHEDULER_CACHE_URL is
set), so every server sharing the store sees it. Its value is the instant it was
raised. While it is up, ticks and their sub-minute loops run only the events marked
`even_when_paused()`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from scheduler.typing_names import TYPE_CHECKING
from scheduler.zones import UTC

if TYPE_CHECKING:
    from scheduler.mutex.base import MutexBackend
    from scheduler.mutex.file_flags import FileFlags

PAUSE_FLAG = "paused"


def pause(backend: MutexBackend, now: datetime) -> str | None:
    """Pause the schedule; return when it was paused already (then nothing changes)."""
    since = backend.get_flag(PAUSE_FLAG)
    if since is None:
        backend.set_flag(PAUSE_FLAG, now.astimezone(UTC).isoformat())
    return since


def resume(backend: MutexBackend) -> bool:
    """Resume the schedule; False if it was not paused."""
    return backend.clear_flag(PAUSE_FLAG)


def paused_since(backend: MutexBackend | FileFlags) -> str | None:
    """The instant (ISO-8601) the schedule was paused, or None when it is running.

    Raises MutexUnavailable when the store cannot be reached.
    """
    return backend.get_flag(PAUSE_FLAG)


def describe_since(since: str, zone: tzinfo) -> str:
    """The pause's start as the tick prints times, or as stored if it is not a date."""
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        return since
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def paused_message(since: str, zone: tzinfo) -> str:
    """The line a paused tick (and `schedule:list`) prints."""
    return (f"The schedule is paused (since {describe_since(since, zone)}); only tasks "
            f"marked even_when_paused() run. `artisan schedule:resume` resumes it.")
