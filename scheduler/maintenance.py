"""Maintenance mode: `artisan down` marks the application as down, `artisan up` lifts it.

While down, the scheduler runs only events marked `even_in_maintenance_mode()`. The
mark is a file in the storage folder, so every process of the project sees it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from scheduler import settings as settings_module
from scheduler.settings import Settings


def _marker(settings: Settings) -> Path:
    return settings.storage / "framework" / "down"


def is_down(settings: Settings | None = None) -> bool:
    """Whether the application is in maintenance mode."""
    return _marker(settings or settings_module.current()).exists()


def maintenance_mode() -> bool:
    """Whether the application is in maintenance mode (for `skip(lambda: maintenance_mode())`)."""
    return is_down()


def go_down(settings: Settings, message: str = "") -> bool:
    """Enter maintenance mode; return False if it was already down."""
    marker = _marker(settings)
    if marker.exists():
        return False
    marker.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    marker.write_text(json.dumps({"time": int(time.time()), "message": message}))
    return True


def come_up(settings: Settings) -> bool:
    """Leave maintenance mode; return False if it was not down."""
    marker = _marker(settings)
    if not marker.exists():
        return False
    marker.unlink()
    return True
