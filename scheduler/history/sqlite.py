"""The embedded default store: one SQLite file, shared by the tick, the sub-minute loop
and background supervisors.

WAL mode lets readers read while one process writes; every write transaction starts
`BEGIN IMMEDIATE` (it takes the write lock at once, so the busy timeout, not an error,
settles two writers that meet); and the busy timeout is long enough for many ticks and
supervisors writing in the same second.

A tick with no run to record does not open the database at all: it notes itself in the
tick journal beside it (scheduler.history.journal), which `ensure_schema` takes in.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from scheduler.history.journal import NotedTick, TickJournal, database_folder
from scheduler.history.store import Store, StoreError
from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, ClassVar

# How long a writer waits for another one before giving up (seconds): writes take
# milliseconds, so this is only reached when something holds the file for good.
BUSY_TIMEOUT = 15.0


class SqliteStore(Store):
    """The run history in the SQLite file at `path`."""

    closes_before_fork = True  # see Store.closes_before_fork
    column_types: ClassVar[Mapping[str, str]] = {"id": "INTEGER PRIMARY KEY", "real": "REAL"}

    def __init__(self, path: Path, storage: Path | None = None) -> None:
        super().__init__(f"sqlite:///{path}")
        self.path = path
        self.storage = storage
        self.journal = TickJournal(path, storage)

    def _connect(self) -> Any:
        self._create_file()
        connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None,
                                     check_same_thread=False)
        try:
            # WAL is a property of the file, set once; the first connection sets it.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    def _create_file(self) -> None:
        """Create the database file 0600 (its folder 0700) before SQLite opens it.

        Under the storage folder, which other users may write to, the folder is walked
        without following links and the file must be a regular file (not a link planted
        in its place); SQLite's own `-wal` and `-shm` files take the database file's
        permissions.
        """
        try:
            with database_folder(self.path, self.storage) as folder:
                os.close(folder.open_file(self.path.name, os.O_RDWR | os.O_CREAT))
        except ValueError as error:  # a name the storage primitives refuse
            raise sqlite3.OperationalError(str(error)) from None
        except OSError as error:
            raise sqlite3.OperationalError(
                f"cannot open {self.path}: {error.strerror or error}") from None

    def _collect_noted_ticks(self) -> None:
        with self._journal_errors():
            self.journal.collect(self.insert_ticks)

    def record_tick(self, tick: NotedTick) -> None:
        super().record_tick(tick)
        with self._journal_errors():
            self.journal.remember(tick)  # the next tick's minute to compare with

    @contextmanager
    def _journal_errors(self) -> Iterator[None]:
        try:
            yield
        except (OSError, ValueError) as error:  # the file, not the database
            reason = getattr(error, "strerror", None) or str(error)
            raise StoreError(f"the run history's tick journal {self.journal.path}: "
                             f"{reason}") from None

    def _begin(self, cursor: Any) -> None:
        cursor.execute("BEGIN IMMEDIATE")

    def _table_exists(self, cursor: Any, name: str) -> bool:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (name,))
        return cursor.fetchone() is not None

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)
