"""The run log: one JSON line per run in `storage/logs/scheduler.log`, for grep and jq.

    {"name": "backup", "status": "success", "exit_code": 0, "started": "...", ...}

Each record is written with one `write` on a file opened for appending, so the tick and
background supervisors can share the file without tearing each other's lines.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from scheduler.settings import Settings
from scheduler.storage import storage_folder
from scheduler.streams import write_line


def log_path(settings: Settings) -> Path:
    return settings.storage / "logs" / "scheduler.log"


def append_record(settings: Settings, record: dict[str, Any]) -> None:
    """Append `record` as one JSON line; a log that cannot be written is reported, not fatal."""
    path = log_path(settings)
    line = (json.dumps(record, default=_jsonable, ensure_ascii=False) + "\n").encode()
    try:
        # Through a folder descriptor, never a link: others may write to storage.
        with storage_folder(settings, "logs") as folder:
            folder.append(path.name, line)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        write_line(sys.stderr, f"Warning: could not write the run log {path}: {reason}")


def _jsonable(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
