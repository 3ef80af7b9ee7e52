"""Compiled cron expressions kept in storage, so that a tick need not import croniter.

croniter stays the parser: an expression the cache does not hold is compiled by
croniter (`cron.compile_expression`), and what was compiled is written back after the
kernel is loaded. Importing croniter (and the dateutil it pulls in) costs a tick about as
much as everything else it does for a hundred events, every minute, on every server.

The file (`storage/framework/cache/cron-expressions.json`) is keyed as a whole by its
format and by croniter's identity: the size and modification time of its modules, read
without importing them, so an upgrade of croniter rebuilds it. Two ticks writing at once
each replace it whole (a temporary file renamed into place). A file that is missing,
unreadable, malformed, not owned by this user, or writable by others is ignored: the
expressions are then compiled by croniter, as without a cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

from scheduler import cron
from scheduler.settings import Settings
from scheduler.storage import Folder, Trust, UnsafeStorage
from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

FORMAT = 1
FILE_NAME = "cron-expressions.json"
# A planted or runaway file must not make the tick read without end; 10,000 distinct
# expressions take about 1 MB.
MAX_BYTES = 32 << 20


def cache_folder(storage: Path) -> Path:
    return storage / "framework" / "cache"


def croniter_identity() -> str | None:
    """The size and mtime of croniter's modules, found without importing them."""
    try:
        spec = find_spec("croniter")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    parts = []
    for module in ("__init__.py", "croniter.py"):
        try:
            info = os.stat(package / module)
        except OSError:
            return None
        parts.append(f"{info.st_size}:{info.st_mtime_ns}")
    return f"{package}|{'|'.join(parts)}"


@contextlib.contextmanager
def cached_expressions(settings: Settings) -> Iterator[None]:
    """Use the cache while the body compiles expressions (loading a kernel); then write
    back what croniter had to compile. Problems with the cache are never raised: it is
    only ever a shortcut."""
    identity = croniter_identity()
    try:
        trust = Trust.of(settings)
    except UnsafeStorage:
        identity = None  # the storage setting is wrong: the tick says so elsewhere
    if identity is not None:
        cron.known_expressions.update(_load(settings.storage, identity, trust))
    cron.compiled_here.clear()
    yield
    if identity is not None and cron.compiled_here:
        _save(settings.storage, identity, trust)


def _load(storage: Path, identity: str,
          trust: Trust | None = None) -> dict[str, cron.CronExpression]:
    try:
        with Folder.open(cache_folder(storage), base=storage, create=False,
                         trust=trust) as folder:
            data = _read_own_file(folder)
    except (OSError, ValueError):
        return {}
    if data is None:
        return {}
    try:
        document = json.loads(data)
        if document.get("format") != FORMAT or document.get("croniter") != identity:
            return {}
        return {text: _expression(text, fields)
                for text, fields in document["expressions"].items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}  # not a file this code wrote: compile afresh


def _read_own_file(folder: Folder) -> bytes | None:
    """The cache file's contents, if it is a regular file of this user that nobody
    else can write to."""
    descriptor = folder.open_file(FILE_NAME, os.O_RDONLY)
    try:
        info = os.fstat(descriptor)
        if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        if info.st_size > MAX_BYTES:
            return None
        chunks = []
        remaining = info.st_size
        while remaining > 0:
            chunk = os.read(descriptor, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


# The fields of a CronExpression after its text, in order, as the file keeps them.
_SETS = ("minutes", "hours", "days", "months", "weekdays")
# Each field's allowed values (weekdays as matched: Sunday is 0 only).
_ALLOWED = dict(zip(_SETS, (frozenset(range(low, high + 1)) for low, high in (
    cron.FIELD_RANGES[0], cron.FIELD_RANGES[1], cron.FIELD_RANGES[2], cron.FIELD_RANGES[3],
    (0, 6))), strict=True))


def _expression(text: str, fields: dict[str, Any]) -> cron.CronExpression:
    """A CronExpression from its stored fields; ValueError for any value out of range."""
    sets: dict[str, frozenset[int]] = {}
    for name in _SETS:
        values = frozenset(fields[name])
        if not values <= _ALLOWED[name]:  # anything but an int in range (or its equal)
            raise ValueError(f"{name} out of range in {text!r}")
        sets[name] = values
    nth = tuple((int(weekday), frozenset(int(n) for n in nths))
                for weekday, nths in fields["nth_weekdays"])
    return cron.CronExpression(
        text=text, minutes=sets["minutes"], hours=sets["hours"], days=sets["days"],
        last_day=bool(fields["last_day"]), months=sets["months"],
        weekdays=sets["weekdays"], nth_weekdays=nth,
        days_either=bool(fields["days_either"]), fixed_time=bool(fields["fixed_time"]))


def _fields(expression: cron.CronExpression) -> dict[str, Any]:
    stored: dict[str, Any] = {name: sorted(getattr(expression, name)) for name in _SETS}
    stored["nth_weekdays"] = [[weekday, sorted(nths)]
                              for weekday, nths in expression.nth_weekdays]
    stored.update(last_day=expression.last_day, days_either=expression.days_either,
                  fixed_time=expression.fixed_time)
    return stored


def _save(storage: Path, identity: str, trust: Trust | None = None) -> None:
    expressions = {**cron.known_expressions, **cron.compiled_here}
    document = {"format": FORMAT, "croniter": identity,
                "expressions": {text: _fields(expression)
                                for text, expression in expressions.items()}}
    data = json.dumps(document, separators=(",", ":")).encode()
    if len(data) > MAX_BYTES:
        return
    with contextlib.suppress(OSError, ValueError), \
            Folder.open(cache_folder(storage), base=storage, trust=trust) as folder:
        folder.write_atomically(FILE_NAME, data)
