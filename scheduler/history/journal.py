"""The tick journal: where a tick with no run to record notes itself, beside the SQLite
history, instead of opening the database.

Most ticks run nothing. Writing their row into SQLite would cost each of them several
milliseconds (importing sqlite3, connecting, a write transaction, and the checkpoint
when the last connection closes); appending one line to a small file costs a tenth
of one. The lines are collected into the `ticks` table by whoever next opens the
history with `Store.ensure_schema()`: a tick that records a run, the tick that finds
the journal DRAIN_AFTER lines long or a minute missing, and every reader
(`schedule:monitor`, `schedule:history`, the status page, the metrics). Readers see
every tick, as if each had written its row.

The file is `<database>-ticks`, in the database's folder, opened as every file under
storage is (no link followed, a regular file, 0600). One line per tick, tab-separated:

    +<minute>  <started>  <pid>  <host>     a tick not in the database yet
    =<minute>  <started>  <pid>  <host>     the latest tick, already in the database

(instants in seconds since the epoch; the host name backslash-escaped when it is not
printable ASCII). Collecting stores the `+` lines and leaves one `=` line, the latest
tick: the next tick compares its minute with it to notice a minute with no tick, which
it must look into with the database open (`scheduler.history.lateness.record_missed`).

A line without its newline (a write cut short by a full disk) or that does not parse is
ignored; storing a line twice (a collector killed between its commit and its rewrite
of the file) adds nothing, as the `ticks` table is unique on all four values.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scheduler.storage import MAX_READ, Folder
from scheduler.typing_names import NamedTuple

# A journal this long is collected by the next tick (an hour of ticks with nothing to
# run: the database is opened at least that often, and retention runs with it).
DRAIN_AFTER = 60
PENDING = "+"
STORED = "="
SUFFIX = "-ticks"


class NotedTick(NamedTuple):
    """One tick as the journal holds it (instants in seconds since the epoch)."""

    minute: float
    started: float
    pid: int
    host: str


class TickJournal:
    """The journal beside the SQLite database at `database` (`storage`: the folder
    below which nothing is trusted, when the database is in it)."""

    def __init__(self, database: Path, storage: Path | None = None) -> None:
        self.database = database
        self.storage = storage
        self.path = database.with_name(database.name + SUFFIX)

    def note(self, tick: NotedTick) -> bool:
        """Append `tick`, unless the database must be opened for it: when the journal
        does not know the tick before it, when a minute between the two had no tick,
        or when it holds DRAIN_AFTER lines. True if `tick` was noted.

        Raises OSError (UnsafeStorage for a planted file) or ValueError (a file name the
        storage primitives refuse) when the journal cannot be used.
        """
        with self._locked() as descriptor:
            data = _read_all(descriptor)
            lines = _parse(data)
            latest = max((line.minute for _, line in lines), default=None)
            if latest is None or tick.minute - latest > 60 or len(lines) >= DRAIN_AFTER:
                return False
            _append(descriptor, data, _line(PENDING, tick))
            return True

    def remember(self, tick: NotedTick) -> None:
        """Append `tick` as stored already: a tick that wrote its own row leaves the
        next one its minute to compare with."""
        with self._locked() as descriptor:
            _append(descriptor, _read_all(descriptor), _line(STORED, tick))

    def collect(self, store: Callable[[list[NotedTick]], None]) -> int:
        """Give the pending ticks to `store` (which must add nothing for a tick it has
        already), then leave only the latest tick, marked stored; return how many
        were pending. Nothing is written when none was."""
        with self._locked() as descriptor:
            lines = _parse(_read_all(descriptor))
            pending = [line for mark, line in lines if mark == PENDING]
            if pending:
                store(pending)
                latest = max((line for _, line in lines), key=lambda line: line.minute)
                os.ftruncate(descriptor, 0)
                os.write(descriptor, _line(STORED, latest))
            return len(pending)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The journal's descriptor (the file created 0600 if missing), held under an
        exclusive lock: ticks and collectors take turns."""
        with database_folder(self.database, self.storage) as folder:
            descriptor = folder.open_file(self.path.name,
                                          os.O_RDWR | os.O_CREAT | os.O_APPEND)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield descriptor
        finally:
            os.close(descriptor)


def database_folder(database: Path, storage: Path | None) -> Folder:
    """The open folder of the SQLite file `database` (and of its journal). Below
    `storage`, which other users may write to, it is walked without following links."""
    inside = storage is not None and database.is_relative_to(storage)
    return Folder.open(database.parent, base=storage if inside else database.parent)


def _read_all(descriptor: int) -> bytes:
    """The journal's bytes (at most MAX_READ: it never grows past a few kilobytes, and
    a planted huge file must not make the tick read it all)."""
    chunks = []
    size = 0
    while size < MAX_READ:
        chunk = os.pread(descriptor, MAX_READ - size, size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _append(descriptor: int, data: bytes, line: bytes) -> None:
    # A last line cut short (a full disk) gets its end first, so this one stays whole.
    prefix = b"\n" if data and not data.endswith(b"\n") else b""
    os.write(descriptor, prefix + line)


def _line(mark: str, tick: NotedTick) -> bytes:
    host = tick.host
    if not (host.isascii() and host.isprintable()) or "\\" in host:
        # (Only then: the codec's import costs more than the rest of the line.)
        host = host.encode("unicode_escape").decode("ascii")
    return f"{mark}{tick.minute!r}\t{tick.started!r}\t{tick.pid}\t{host}\n".encode("ascii")


def _parse(data: bytes) -> list[tuple[str, NotedTick]]:
    """The whole, well-formed lines of `data`, with their marks."""
    lines = []
    for raw in data.split(b"\n")[:-1]:  # what follows the last newline is not whole
        try:
            text = raw.decode("ascii")
            mark, text = text[:1], text[1:]
            minute, started, pid, host = text.split("\t")
            if mark not in (PENDING, STORED):
                continue
            if "\\" in host:
                host = host.encode("ascii").decode("unicode_escape")
            tick = NotedTick(float(minute), float(started), int(pid), host)
        except (UnicodeError, ValueError):
            continue
        if _finite(tick.minute) and _finite(tick.started):
            lines.append((mark, tick))
    return lines


def _finite(value: float) -> bool:
    return -1e12 < value < 1e12
