"""Compiled cron expressions kept in storage, so that a tick need not import croniter.

croniter stays the parser: an expression the cache does not hold is compiled by
croniter (`cron.compile_expression`), and what was compiled is written back after the
kernel is loaded. Importing croniter (and the dateutil it pulls in) costs a tick about as
much as everything else it does for a hundred events, every minute, on every server.

The file (`storage/framework/cache/cron-expressions.marshal`) is keyed as a whole by
its format, by Python's version and by croniter's identity: the size and modification
time of its modules, read without importing them, so an upgrade of either rebuilds it.
Two ticks writing at once each replace it whole (a temporary file renamed into place).
A file that is missing, unreadable, malformed, out of range, not owned by this user,
writable by others or a link is ignored: the expressions are then compiled by croniter,
as without a cache.

It is written with `marshal`, as Python writes its own bytecode caches, and for the same
reason: reading it takes microseconds and no import (JSON's module costs a tick more
than reading the file). Like a `__pycache__` file, it is believed only when this user
wrote it and nobody else can have, and every value is checked before it is used.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import stat
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

from scheduler import cron
from scheduler.settings import Settings
from scheduler.storage import Folder, Trust, UnsafeStorage
from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

FORMAT = 2
FILE_NAME = "cron-expressions.marshal"
# A planted or runaway file must not make the tick read without end; 10,000 distinct
# expressions take about 1 MB.
MAX_BYTES = 32 << 20


def cache_folder(storage: Path) -> Path:
    return storage / "framework" / "cache"


def croniter_identity() -> str | None:
    """The size and mtime of croniter's modules, found without importing them, and of
    scheduler/cron.py."""
    try:
        spec = find_spec("croniter")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    parts = []
    # croniter's modules, and the scheduler's own that turns its answers into field
    # sets: an upgrade of either rebuilds the cache.
    for module in (package / "__init__.py", package / "croniter.py", Path(cron.__file__)):
        try:
            info = os.stat(module)
        except OSError:
            return None
        parts.append(f"{info.st_size}:{info.st_mtime_ns}")
    # marshal's format may change with Python's version: that rebuilds the file too.
    return f"{sys.version}|{marshal.version}|{package}|{'|'.join(parts)}"


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
        stored_format, stored_identity, expressions = marshal.loads(data)
        if stored_format != FORMAT or stored_identity != identity:
            return {}
        return {text: _expression(text, fields) for text, fields in expressions.items()}
    except Exception:  # whatever marshal makes of a foreign file
        # Not a file this code wrote: compile afresh. Besides ValueError and EOFError,
        # marshal raises MemoryError for a damaged size (it allocates before it finds
        # the data too short) and SystemError for another Python's code objects.
        return {}


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


# Each set field's allowed values (weekdays as matched: Sunday is 0 only), in the order
# of a CronExpression's fields after its text.
_MINUTES, _HOURS, _DAYS, _MONTHS = (frozenset(range(low, high + 1))
                                    for low, high in cron.FIELD_RANGES[:4])
_WEEKDAYS, _NTHS = frozenset(range(7)), frozenset(range(1, 6))


def _expression(text: str, fields: tuple[Any, ...]) -> cron.CronExpression:
    """A CronExpression from its stored fields; ValueError for anything else."""
    (minutes, hours, days, last_day, months, weekdays, nth_weekdays, days_either,
     fixed_time) = fields
    for values, allowed in ((minutes, _MINUTES), (hours, _HOURS), (days, _DAYS),
                            (months, _MONTHS), (weekdays, _WEEKDAYS)):
        if type(values) is not frozenset or not values <= allowed:
            raise ValueError(f"a field out of range in {text!r}")
    if any(type(flag) is not bool for flag in (last_day, days_either, fixed_time)):
        raise ValueError(f"a flag that is not a bool in {text!r}")
    if type(nth_weekdays) is not tuple or not all(
            type(pair) is tuple and len(pair) == 2 and pair[0] in _WEEKDAYS
            and type(pair[1]) is frozenset and pair[1] <= _NTHS for pair in nth_weekdays):
        raise ValueError(f"nth weekdays out of range in {text!r}")
    return cron.CronExpression(text, minutes, hours, days, last_day, months, weekdays,
                               nth_weekdays, days_either, fixed_time)


def _save(storage: Path, identity: str, trust: Trust | None = None) -> None:
    expressions = {**cron.known_expressions, **cron.compiled_here}
    data = marshal.dumps((FORMAT, identity, {text: tuple(expression)[1:]
                                             for text, expression in expressions.items()}))
    if len(data) > MAX_BYTES:
        return
    with contextlib.suppress(OSError, ValueError), \
            Folder.open(cache_folder(storage), base=storage, trust=trust) as folder:
        folder.write_atomically(FILE_NAME, data)
