"""Where the shop keeps what its tasks produce: the project's storage folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scheduler.settings import current


def reports_folder() -> Path:
    """`storage/reports` of the project (SCHEDULER_ROOT, else the current directory)."""
    folder = current().storage / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_reports() -> list[dict[str, Any]]:
    """Every report written so far, oldest first."""
    return [json.loads(path.read_text()) for path in sorted(reports_folder().glob("*.json"))]
