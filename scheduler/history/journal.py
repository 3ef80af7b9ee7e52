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

    +<minute>  <started>  <pid>  <host>  .     a tick not in the database yet
    =<minute>  <started>  <pid>  <host>  .     the latest tick, already in the database

(instants in seconds since the epoch; the host name backslash-escaped when it is not
printable ASCII; the final `.` shows the line is whole). Collecting stores the `+` lines
and leaves one `=` line, the latest tick: the next tick compares its minute with it to
notice a minute with no tick, which it must look into with the database open
(`scheduler.history.lateness.record_missed`).

What can go wrong with the file is bounded:

* it never grows past MAX_SIZE (a tick that would make it longer opens the database
  instead), and one that is longer is refused, not read, nor cut;
* a write cut short (a full disk) is taken back and reported, and a line that is not
  whole, or does not parse, or holds values no tick could have (a pid or an instant out
  of range), is passed over;
* the lock is held for file operations only (never while the database is written),
  and one held for longer than LOCK_WAIT is reported, not waited for;
* storing a line twice (a collector killed between the database's commit and its
  rewrite of the file) adds nothing, as the `ticks` table is unique on a tick's values.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scheduler.storage import Folder, is_safe_name, lock_within
from scheduler.typing_names import NamedTuple

# A journal this long is collected by the next tick (an hour of ticks with nothing to
# run: the database is opened at least that often, and retention runs with it).
DRAIN_AFTER = 60
# The most the journal holds (a tick whose line would make it longer opens the
# database): far more than DRAIN_AFTER lines of any sensible host name.
MAX_SIZE = 1 << 16
# How long a tick or reader waits for another's lock on the journal, which is held for
# microseconds, before it reports the file as held.
LOCK_WAIT = 5.0
PENDING = "+"
STORED = "="
SUFFIX = "-ticks"
_END = "."
# The instants a line may hold: those `--at` accepts (years 2 to 9998).
_EARLIEST, _LATEST = -62104060800.0, 253339200000.0
_LARGEST_PID = (1 << 31) - 1


class NotedTick(NamedTuple):
    """One tick as the journal holds it (instants in seconds since the epoch)."""

    minute: float
    started: float
    pid: int
    host: str


Lines = list[tuple[str, NotedTick]]


class TickJournal:
    """The journal beside the SQLite database at `database` (`storage`: the folder
    below which nothing is trusted, when the database is in it). A database whose name
    leaves no room for the journal's has none: its ticks write their rows."""

    def __init__(self, database: Path, storage: Path | None = None) -> None:
        self.database = database
        self.storage = storage
        self.path = database.with_name(database.name + SUFFIX)
        self.usable = is_safe_name(self.path.name)

    def note(self, tick: NotedTick) -> bool:
        """Append `tick`, unless the database must be opened for it: when the journal
        does not know the tick before it, when a minute between the two had no tick,
        or when it is DRAIN_AFTER lines (or MAX_SIZE bytes) long. True if `tick` was
        noted.

        Raises OSError (UnsafeStorage for a planted file) when the journal cannot be
        used: opened, locked, read or written whole.
        """
        if not self.usable:
            return False
        line = _line(PENDING, tick)
        with self._locked() as descriptor:
            data = _read_all(descriptor, self.path)
            lines = _parse(data)
            latest = _latest_minute(lines)
            if (latest is None or tick.minute - latest > 60 or len(lines) >= DRAIN_AFTER
                    or len(data) + len(line) + 1 > MAX_SIZE):
                return False
            _append(descriptor, data, line)
            return True

    def remember(self, tick: NotedTick) -> None:
        """Leave `tick`, stored in the database already, as the latest tick (unless a
        later one is known): the next tick's minute to compare with."""
        if not self.usable:
            return
        line = _line(STORED, tick)
        with self._locked() as descriptor:
            data = _read_all(descriptor, self.path)
            latest = _latest_minute(_parse(data))
            if (latest is None or tick.minute > latest) and len(data) + len(line) < MAX_SIZE:
                _append(descriptor, data, line)  # (the next collection keeps the latest)

    def collect(self, store: Callable[[list[NotedTick]], None]) -> int:
        """Give the pending ticks to `store` (which must add nothing for a tick it has
        already), then leave only those noted since and the latest tick, marked stored;
        return how many were stored. The lock is not held while `store` writes."""
        if not self.usable:
            return 0
        with self._locked() as descriptor:
            lines = _parse(_read_all(descriptor, self.path))
        pending = [noted for mark, noted in lines if mark == PENDING]
        if pending:
            store(pending)
        elif sum(mark == STORED for mark, _ in lines) <= 1:
            return 0  # nothing to store, nothing to tidy
        stored = set(pending)
        with self._locked() as descriptor:
            data = _read_all(descriptor, self.path)
            _rewrite(descriptor, data, [(STORED if noted in stored else mark, noted)
                                        for mark, noted in _parse(data)])
        return len(pending)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The journal's descriptor (the file created 0600 if missing), held under an
        exclusive lock: ticks and collectors take turns."""
        with database_folder(self.database, self.storage) as folder:
            descriptor = folder.open_file(self.path.name, os.O_RDWR | os.O_CREAT)
        try:
            # Held for microseconds: one held longer is stuck, or not the scheduler's.
            if not lock_within(descriptor, LOCK_WAIT):
                raise OSError(errno.EWOULDBLOCK, f"another process has held {self.path} "
                              f"locked for {LOCK_WAIT:g} seconds")
            yield descriptor
        finally:
            os.close(descriptor)


def database_folder(database: Path, storage: Path | None) -> Folder:
    """The open folder of the SQLite file `database` (and of its journal). Below
    `storage`, which other users may write to, it is walked without following links."""
    inside = storage is not None and database.is_relative_to(storage)
    return Folder.open(database.parent, base=storage if inside else database.parent)


def _read_all(descriptor: int, path: Path) -> bytes:
    """The journal's bytes; OSError for one longer than the journal ever grows (not
    the scheduler's: it is neither read nor cut)."""
    size = os.fstat(descriptor).st_size
    if size > MAX_SIZE:
        raise OSError(errno.EFBIG, f"{path} is {size} bytes, more than the journal ever "
                      f"holds ({MAX_SIZE}); remove it")
    chunks = []
    done = 0
    while done < size:
        chunk = os.pread(descriptor, size - done, done)
        if not chunk:
            break
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)


def _append(descriptor: int, data: bytes, line: bytes) -> None:
    """Write `line` after `data` (the whole file); a write cut short (a full disk) is
    taken back and raised."""
    # A last line cut short by someone else gets its end first, so this one stays whole.
    text = (b"\n" if data and not data.endswith(b"\n") else b"") + line
    if os.pwrite(descriptor, text, len(data)) != len(text):
        os.ftruncate(descriptor, len(data))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _rewrite(descriptor: int, data: bytes, lines: Lines) -> None:
    """Make the journal (holding `data`, read as `lines`) hold the pending lines and the
    latest of the stored ones. Each of those is a line of `data` already, so the new
    text overwrites blocks the file has: a full disk does not cut it short."""
    pending = [(mark, noted) for mark, noted in lines if mark == PENDING]
    stored = [noted for mark, noted in lines if mark == STORED]
    kept = [(STORED, max(stored, key=lambda noted: noted.minute))] if stored else []
    text = b"".join(_line(mark, noted) for mark, noted in [*kept, *pending])
    if text == data:
        return
    if os.pwrite(descriptor, text, 0) != len(text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.ftruncate(descriptor, len(text))


def _line(mark: str, tick: NotedTick) -> bytes:
    host = tick.host
    if not (host.isascii() and host.isprintable()) or "\\" in host:
        # (Only then: the codec's import costs more than the rest of the line.)
        host = host.encode("unicode_escape").decode("ascii")
    return (f"{mark}{tick.minute!r}\t{tick.started!r}\t{tick.pid}\t{host}\t{_END}\n"
            .encode("ascii"))


def _parse(data: bytes) -> Lines:
    """The whole, well-formed lines of `data`, with their marks."""
    lines = []
    for raw in data.split(b"\n")[:-1]:  # what follows the last newline is not whole
        try:
            text = raw.decode("ascii")
            mark, fields = text[:1], text[1:].split("\t")
            if mark not in (PENDING, STORED) or len(fields) != 5 or fields[4] != _END:
                continue
            minute, started, pid = float(fields[0]), float(fields[1]), int(fields[2])
            host = fields[3]
            if "\\" in host:
                host = host.encode("ascii").decode("unicode_escape")
        except (UnicodeError, ValueError):
            continue
        if _an_instant(minute) and _an_instant(started) and 0 < pid <= _LARGEST_PID:
            lines.append((mark, NotedTick(minute, started, pid, host)))
    return lines


def _latest_minute(lines: Lines) -> float | None:
    """The latest minute `lines` know of, or None when they are none."""
    return max((noted.minute for _, noted in lines), default=None)


def _an_instant(value: float) -> bool:
    return _EARLIEST <= value <= _LATEST  # (NaN is not)
