"""Maintenance mode: `artisan down` marks the application as down, `artisan up` lifts it.

While down, the scheduler runs only events marked `even_in_maintenance_mode()`. The
mark is a file in the storage folder, so every process of the project sees it.
"""

from __future__ import annotations

import time

from scheduler import settings as settings_module
from scheduler.settings import Settings
from scheduler.storage import Folder, storage_folder

MARKER = "down"


def _framework(settings: Settings, *, create: bool) -> Folder:
    return storage_folder(settings, "framework", create=create)


def is_down(settings: Settings | None = None) -> bool:
    """Whether the application is in maintenance mode (the mark is a regular file:
    a link planted in its place does not count)."""
    settings = settings or settings_module.current()
    try:
        with _framework(settings, create=False) as folder:
            return folder.is_file(MARKER)
    except (OSError, ValueError):
        return False


def maintenance_mode() -> bool:
    """Whether the application is in maintenance mode (for `skip(lambda: maintenance_mode())`)."""
    return is_down()


def go_down(settings: Settings, message: str = "") -> bool:
    """Enter maintenance mode; return False if it was already down."""
    import json

    with _framework(settings, create=True) as folder:
        record = json.dumps({"time": int(time.time()), "message": message}).encode()
        return folder.create_exclusively(MARKER, record)


def come_up(settings: Settings) -> bool:
    """Leave maintenance mode; return False if it was not down."""
    try:
        with _framework(settings, create=False) as folder:
            return folder.remove(MARKER)
    except FileNotFoundError:
        return False
