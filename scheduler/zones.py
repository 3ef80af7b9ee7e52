"""Time zones: looking them up by name and finding the machine's own."""

from __future__ import annotations

import contextlib
import os
from datetime import timezone, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc


def zone_named(name: str) -> ZoneInfo:
    """Return the IANA zone `name`, or raise ValueError saying that it does not exist."""
    try:
        return _cached_zone(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as "
                         f"'Europe/Paris' or 'UTC')") from None


@cache
def _cached_zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(name)
    return ZoneInfo(name.strip())


def zone_label(zone: tzinfo) -> str:
    """The name a person reads for `zone`: its IANA key where it has one."""
    return str(getattr(zone, "key", None) or zone)


@cache
def local_zone() -> tzinfo:
    """The machine's own zone: `TZ`, else /etc/timezone, else /etc/localtime, else UTC.

    A named zone is preferred to the bare contents of /etc/localtime so that
    `schedule:list` can say which zone it uses.
    """
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        if name:
            try:
                return zone_named(name)
            except ValueError:
                continue
    if localtime.exists():
        try:
            with localtime.open("rb") as handle:
                return ZoneInfo.from_file(handle, key="localtime")
        except (OSError, ValueError):
            pass
    return UTC
