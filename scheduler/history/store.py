"""The run store: every run of every task, and every tick, in a SQL database.

(Its records are named tuples, not dataclasses: every tick imports this module, and a
dataclass costs a millisecond or more to build at import.)

`Store` is the one face of the history for whoever writes or reads it: the tick's
recorder (`scheduler.history.recorder`), `schedule:history`, `schedule:list`,
`schedule:monitor`, `schedule:metrics`, and a status page. Whoever opens one calls
`ensure_schema()` first: it migrates a database that is behind and takes in the ticks
noted outside it (SQLite's tick journal, scheduler.history.journal). Its read API:

* `runs(task=..., statuses=..., since=..., until=..., limit=...)`: runs, newest first
  (`runs_between(start, end)` for a window);
* `last_runs()`: the last run of each task, by task name;
* `run(run_id)` and `output(run_id)`: one run, and its stored output;
* `ticks(since=...)`, `last_tick()`, `first_tick()`: the ticks that were recorded;
* `counts()`: how many runs of each task ended in each status.

Instants are stored as seconds since the epoch (UTC) and come back as aware datetimes.
The SQL is the subset SQLite and PostgreSQL share; the two subclasses (`sqlite.py`,
`postgres.py`) supply the connection, the parameter style, the column types and the
lock that serialises migrations. A connection is never carried across a fork: a
process that finds one opened by its parent opens its own (and leaves the parent's
alone, since closing it would close it for the parent too).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime

from scheduler.typing_names import TYPE_CHECKING, NamedTuple
from scheduler.zones import UTC

if TYPE_CHECKING:
    from typing import Any, ClassVar

    from scheduler.history.journal import NotedTick

RUN_STATUSES = ("running", "success", "failure", "timeout", "skipped", "missed")
# The statuses of runs that ended; "running" rows are runs in progress (or whose
# supervisor was killed before it could say how they ended).
ENDED_STATUSES = ("success", "failure", "timeout")

# The columns of `runs` that a RunRecord reads, in its field order (`output` is read on
# its own: it may be tens of kilobytes per run).
RUN_COLUMNS = ("id", "task", "expression", "scheduled_at", "host", "pid", "started_at",
               "finished_at", "status", "reason", "message", "exit_code", "signal",
               "duration", "background", "attributes", "job_id")

# Forward migrations: (version, statements). `{id}` is the type of an auto-numbered key,
# `{real}` a double-precision number. Append; never edit a migration that has shipped.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        """CREATE TABLE runs (
            id {id},
            task TEXT NOT NULL,
            expression TEXT NOT NULL,
            scheduled_at {real},
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at {real} NOT NULL,
            finished_at {real},
            status TEXT NOT NULL,
            reason TEXT,
            message TEXT,
            exit_code INTEGER,
            signal INTEGER,
            duration {real},
            background INTEGER NOT NULL DEFAULT 0,
            attributes TEXT NOT NULL DEFAULT '{{}}',
            job_id TEXT,
            output TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX runs_by_task ON runs (task, started_at)",
        "CREATE INDEX runs_by_start ON runs (started_at)",
        "CREATE INDEX runs_by_instant ON runs (task, scheduled_at)",
        # A missed instant is recorded once, whoever notices it first; a run skipped
        # because another server ran it is recorded once, however many servers skip it.
        "CREATE UNIQUE INDEX runs_missed_once ON runs (task, scheduled_at) "
        "WHERE status = 'missed'",
        "CREATE UNIQUE INDEX runs_other_server_once ON runs (task, scheduled_at) "
        "WHERE reason = 'other_server'",
        """CREATE TABLE ticks (
            id {id},
            minute {real} NOT NULL,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at {real} NOT NULL)""",
        "CREATE INDEX ticks_by_minute ON ticks (minute)",
        "CREATE INDEX ticks_by_start ON ticks (started_at)",
    )),
    # A tick is recorded once, however often it is stored: SQLite's tick journal
    # (scheduler.history.journal) may hand the same line over twice.
    (2, (
        "DELETE FROM ticks WHERE id NOT IN (SELECT MIN(id) FROM ticks "
        "GROUP BY minute, host, pid, started_at)",
        "CREATE UNIQUE INDEX ticks_once ON ticks (minute, host, pid, started_at)",
    )),
)
LATEST_VERSION = MIGRATIONS[-1][0]


class StoreError(Exception):
    """The history store could not be reached, read or written; the message says why
    (and never holds a password)."""


class RunRecord(NamedTuple):
    """One recorded run of a task (or a due run that was skipped or missed)."""

    id: int
    task: str  # the event's display name
    expression: str
    scheduled: datetime | None  # the instant the run was due for
    host: str
    pid: int  # the process that supervised the run
    started: datetime
    finished: datetime | None  # None while running
    status: str  # one of RUN_STATUSES
    reason: str | None  # skipped: overlap, other_server, filter, maintenance, paused
    message: str | None  # the reason or the errors, in words
    exit_code: int | None
    signal: int | None
    duration: float | None  # seconds
    background: bool
    attributes: dict[str, Any]
    job_id: str | None = None  # a dispatched task: the id its queue gave the job
    ran_on: str | None = None  # skipped because another server ran it: that server

    @classmethod
    def from_row(cls, row: Sequence[Any], ran_on: str | None = None) -> RunRecord:
        import json

        values = dict(zip(RUN_COLUMNS, row, strict=True))
        return cls(
            id=int(values["id"]), task=values["task"], expression=values["expression"],
            scheduled=_instant(values["scheduled_at"]), host=values["host"],
            pid=int(values["pid"]), started=_instant(values["started_at"]) or _EPOCH,
            finished=_instant(values["finished_at"]), status=values["status"],
            reason=values["reason"], message=values["message"],
            exit_code=values["exit_code"], signal=values["signal"],
            duration=values["duration"], background=bool(values["background"]),
            attributes=json.loads(values["attributes"] or "{}"), job_id=values["job_id"],
            ran_on=ran_on)

    def as_json(self) -> dict[str, Any]:
        """The run as `schedule:history --json` prints it."""
        return {
            "id": self.id, "task": self.task, "expression": self.expression,
            "scheduled": _iso(self.scheduled), "host": self.host, "pid": self.pid,
            "started": _iso(self.started), "finished": _iso(self.finished),
            "status": self.status, "reason": self.reason, "message": self.message,
            "ran_on": self.ran_on, "exit_code": self.exit_code, "signal": self.signal,
            "duration": self.duration, "background": self.background,
            "attributes": self.attributes, "job_id": self.job_id,
        }


class TickRecord(NamedTuple):
    """One recorded tick: the minute it ran for, where, and when it started."""

    minute: datetime
    host: str
    pid: int
    started: datetime


class Store:
    """A run history in a SQL database (see the module's docstring for its read API)."""

    # The DB-API parameter marker of the driver; the SQL below is written with `?`.
    parameter = "?"
    # Whether the connection must be closed before the process forks. SQLite's must: the
    # library keeps per-file lock state in the process, which a forked child (a
    # supervisor, the sub-minute loop) would inherit and trust. It is kept open between
    # forks, though: closing the last connection to a WAL database checkpoints and syncs
    # it, which costs milliseconds each time.
    closes_before_fork = False
    column_types: ClassVar[Mapping[str, str]] = {}

    def __init__(self, display_url: str) -> None:
        self.display_url = display_url  # the URL without its password, for messages
        self._connection: Any = None
        self._owner_pid = -1
        self._inherited: list[Any] = []

    # -- what a backend supplies ----------------------------------------------------------
    def _connect(self) -> Any:
        """A new DB-API connection in autocommit mode."""
        raise NotImplementedError

    def _begin(self, cursor: Any) -> None:
        """Start a write transaction."""
        cursor.execute("BEGIN")

    def _lock_schema(self, cursor: Any) -> None:
        """Inside a transaction: wait until no other process is migrating."""

    def _table_exists(self, cursor: Any, name: str) -> bool:
        """Whether the table `name` exists (without creating or failing anything)."""
        raise NotImplementedError

    def _errors(self) -> tuple[type[BaseException], ...]:
        """The driver's exceptions that mean the store failed."""
        raise NotImplementedError

    # -- connections and transactions -------------------------------------------------------
    def connection(self) -> Any:
        """This process's connection, opened on first use (again after a fork)."""
        if self._connection is not None and self._owner_pid != os.getpid():
            # Opened by the parent: never close it here (that would close it for the
            # parent), only stop using it.
            self._inherited.append(self._connection)
            self._connection = None
        if self._connection is None:
            self._connection = self._guarded(self._connect)
            self._owner_pid = os.getpid()
            if self.closes_before_fork:
                _close_before_fork(self)
        return self._connection

    def close(self) -> None:
        """Close this process's connection, if it opened one."""
        if self._connection is not None and self._owner_pid == os.getpid():
            try:
                self._connection.close()
            except self._errors():
                pass
        self._connection = None

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A cursor inside one transaction: committed at the end, rolled back if it
        raises. Driver errors become StoreError."""
        connection = self.connection()
        try:
            cursor = connection.cursor()
            self._begin(cursor)
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
        except self._errors() as error:
            self._drop_connection()
            raise StoreError(f"the run history at {self.display_url}: {_first_line(error)}") \
                from None

    def _drop_connection(self) -> None:
        """Close the connection (a broken one is reopened on next use)."""
        try:
            self.close()
        except Exception:
            self._connection = None

    def _guarded(self, action: Any) -> Any:
        try:
            return action()
        except self._errors() as error:
            raise StoreError(f"the run history at {self.display_url}: {_first_line(error)}") \
                from None

    def _sql(self, text: str) -> str:
        return text if self.parameter == "?" else text.replace("?", self.parameter)

    def _execute(self, cursor: Any, text: str, values: Sequence[Any] = ()) -> Any:
        cursor.execute(self._sql(text), tuple(values))
        return cursor

    # -- the schema -------------------------------------------------------------------------
    def schema_version(self) -> int:
        """The version of the schema in the database (0: none yet)."""
        with self.transaction() as cursor:
            return self._version(cursor)

    def _version(self, cursor: Any) -> int:
        if not self._table_exists(cursor, "schema_version"):
            return 0
        row = self._execute(cursor, "SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def migrate(self) -> tuple[int, int]:
        """Apply the migrations the database has not had yet, one transaction, under a
        lock that makes concurrent processes wait for it; return (from, to) versions."""
        with self.transaction() as cursor:
            self._lock_schema(cursor)
            before = self._version(cursor)
            if before == 0:
                self._execute(cursor, "CREATE TABLE schema_version (version INTEGER NOT NULL)")
            for version, statements in MIGRATIONS:
                if version <= before:
                    continue
                for statement in statements:
                    self._execute(cursor, statement.format(**self.column_types))
                self._execute(cursor, "INSERT INTO schema_version (version) VALUES (?)",
                              (version,))
            return before, max(before, LATEST_VERSION)

    def ensure_schema(self) -> None:
        """Migrate when the database is behind (a quick read when it is not), and take in
        the ticks noted outside it: what everyone who writes or reads the history calls
        first."""
        if self.schema_version() < LATEST_VERSION:
            self.migrate()
        self._collect_noted_ticks()

    def _collect_noted_ticks(self) -> None:
        """Store the ticks noted outside the database (see SqliteStore)."""

    # -- writing ----------------------------------------------------------------------------
    def insert_run(self, fields: Mapping[str, Any]) -> int:
        """Record a run (`fields`: columns of `runs`); return its id."""
        names = list(fields)
        with self.transaction() as cursor:
            row = self._execute(
                cursor, f"INSERT INTO runs ({', '.join(names)}) VALUES "
                        f"({', '.join('?' for _ in names)}) RETURNING id",
                [_stored(fields[name]) for name in names]).fetchone()
            return int(row[0])

    def insert_once(self, fields: Mapping[str, Any]) -> bool:
        """Record a run unless a unique index already has it (a missed instant, a run
        another server ran); True if this call recorded it."""
        names = list(fields)
        with self.transaction() as cursor:
            self._execute(cursor, f"INSERT INTO runs ({', '.join(names)}) VALUES "
                                  f"({', '.join('?' for _ in names)}) ON CONFLICT DO NOTHING",
                          [_stored(fields[name]) for name in names])
            return bool(cursor.rowcount == 1)

    def update_run(self, run_id: int, fields: Mapping[str, Any]) -> None:
        """Change the columns `fields` of the run `run_id` (when it ends)."""
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as cursor:
            self._execute(cursor, f"UPDATE runs SET {assignments} WHERE id = ?",
                          [*(_stored(value) for value in fields.values()), run_id])

    def record_tick(self, tick: NotedTick) -> None:
        """Record the tick `tick` (one that was not noted outside the database)."""
        self.insert_ticks([tick])

    def insert_ticks(self, ticks: Sequence[NotedTick]) -> None:
        """Record the ticks `ticks` in one transaction; a tick recorded already is not
        recorded again."""
        with self.transaction() as cursor:
            for tick in ticks:
                self._execute(cursor, "INSERT INTO ticks (minute, host, pid, started_at) "
                                      "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                              (tick.minute, _stored(tick.host), tick.pid, tick.started))

    def delete_older_than(self, table: str, cutoff: datetime, limit: int) -> int:
        """Delete at most `limit` of the oldest rows of `table` ("runs" or "ticks")
        started before `cutoff`; return how many."""
        if table not in ("runs", "ticks"):
            raise ValueError(f"no table {table!r} in the run history")
        with self.transaction() as cursor:
            self._execute(cursor, f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} "
                                  f"WHERE started_at < ? ORDER BY started_at LIMIT ?)",
                          (cutoff.timestamp(), limit))
            return int(cursor.rowcount)

    # -- reading ----------------------------------------------------------------------------
    def runs(self, *, task: str | None = None, statuses: Sequence[str] = (),
             since: datetime | None = None, until: datetime | None = None,
             limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first: of `task` (its name), with one of `statuses`, started in
        [`since`, `until`); at most `limit`."""
        conditions: list[str] = []
        values: list[Any] = []
        if task is not None:
            conditions.append("r.task = ?")
            values.append(task)
        if statuses:
            conditions.append(f"r.status IN ({', '.join('?' for _ in statuses)})")
            values.extend(statuses)
        if since is not None:
            conditions.append("r.started_at >= ?")
            values.append(since.timestamp())
        if until is not None:
            conditions.append("r.started_at < ?")
            values.append(until.timestamp())
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        bound = ""
        if limit is not None:
            bound = " LIMIT ?"
            values.append(limit)
        return self._select_runs(f"{where} ORDER BY r.started_at DESC, r.id DESC{bound}",
                                 values)

    def runs_between(self, start: datetime, end: datetime) -> list[RunRecord]:
        """The runs started in [`start`, `end`), newest first."""
        return self.runs(since=start, until=end)

    def run(self, run_id: int) -> RunRecord | None:
        """The run `run_id`, or None."""
        found = self._select_runs("WHERE r.id = ?", [run_id])
        return found[0] if found else None

    def output(self, run_id: int) -> str | None:
        """The stored output of the run `run_id` (its last part), or None if no such run."""
        with self.transaction() as cursor:
            row = self._execute(cursor, "SELECT output FROM runs WHERE id = ?",
                                (run_id,)).fetchone()
        return None if row is None else str(row[0])

    def last_runs(self) -> dict[str, RunRecord]:
        """The latest run of each task (whatever its status), by task name."""
        return {record.task: record for record in self._select_runs(
            "WHERE r.id IN (SELECT MAX(id) FROM runs GROUP BY task) ORDER BY r.id", [])}

    def last_ended_runs(self) -> dict[str, RunRecord]:
        """The latest run of each task that ran to an end (success, failure, timeout)."""
        statuses = ", ".join(f"'{status}'" for status in ENDED_STATUSES)
        return {record.task: record for record in self._select_runs(
            f"WHERE r.id IN (SELECT MAX(id) FROM runs WHERE status IN ({statuses}) "
            f"GROUP BY task) ORDER BY r.id", [])}

    def last_success_times(self) -> dict[str, datetime]:
        """When each task last finished successfully."""
        with self.transaction() as cursor:
            rows = self._execute(cursor, "SELECT task, MAX(finished_at) FROM runs "
                                         "WHERE status = 'success' GROUP BY task").fetchall()
        return {task: _instant(at) or _EPOCH for task, at in rows}

    def running(self) -> list[RunRecord]:
        """The runs recorded as started and not (yet) ended."""
        return self.runs(statuses=("running",))

    def counts(self) -> dict[tuple[str, str], int]:
        """How many runs each (task, status) has in the store."""
        with self.transaction() as cursor:
            rows = self._execute(cursor, "SELECT task, status, COUNT(*) FROM runs "
                                         "GROUP BY task, status").fetchall()
        return {(task, status): int(count) for task, status, count in rows}

    def latest_instant(self, task: str) -> datetime | None:
        """The latest scheduled instant for which `task` has a record that is not
        `missed` (it ran, runs, or was skipped), or None."""
        with self.transaction() as cursor:
            row = self._execute(cursor, "SELECT MAX(scheduled_at) FROM runs WHERE task = ? "
                                        "AND status <> 'missed'", (task,)).fetchone()
        return _instant(row[0])

    def ticks(self, *, since: datetime | None = None,
              limit: int | None = None) -> list[TickRecord]:
        """Recorded ticks, newest first: started at or after `since`; at most `limit`."""
        where = ""
        values: list[Any] = []
        if since is not None:
            where = "WHERE started_at >= ?"
            values.append(since.timestamp())
        bound = ""
        if limit is not None:
            bound = " LIMIT ?"
            values.append(limit)
        with self.transaction() as cursor:
            rows = self._execute(cursor, f"SELECT minute, host, pid, started_at FROM ticks "
                                         f"{where} ORDER BY minute DESC, id DESC{bound}",
                                 values).fetchall()
        return [TickRecord(_instant(minute) or _EPOCH, host, int(pid),
                           _instant(started) or _EPOCH)
                for minute, host, pid, started in rows]

    def last_tick(self) -> TickRecord | None:
        """The tick for the latest minute, on any host."""
        found = self.ticks(limit=1)
        return found[0] if found else None

    def first_tick(self) -> TickRecord | None:
        """The earliest tick the store still holds: what happened before it is unknown."""
        with self.transaction() as cursor:
            row = self._execute(cursor, "SELECT minute, host, pid, started_at FROM ticks "
                                        "ORDER BY minute, id LIMIT 1").fetchone()
        if row is None:
            return None
        return TickRecord(_instant(row[0]) or _EPOCH, row[1], int(row[2]),
                          _instant(row[3]) or _EPOCH)

    def tick_count(self) -> int:
        """How many ticks the store holds."""
        with self.transaction() as cursor:
            return int(self._execute(cursor, "SELECT COUNT(*) FROM ticks").fetchone()[0])

    def _select_runs(self, tail: str, values: Sequence[Any]) -> list[RunRecord]:
        columns = ", ".join(f"r.{name}" for name in RUN_COLUMNS)
        # A run skipped because another server ran it names that server: the host of
        # the record of the same task and instant that did run.
        ran_on = ("(SELECT o.host FROM runs o WHERE r.reason = 'other_server' AND "
                  "o.task = r.task AND o.scheduled_at = r.scheduled_at AND "
                  "o.status NOT IN ('skipped', 'missed') ORDER BY o.id LIMIT 1)")
        with self.transaction() as cursor:
            rows = self._execute(cursor, f"SELECT {columns}, {ran_on} FROM runs r {tail}",
                                 values).fetchall()
        return [RunRecord.from_row(row[:-1], row[-1]) for row in rows]


_EPOCH = datetime.fromtimestamp(0, UTC)
# The stores whose connection is closed before this process forks (see
# Store.closes_before_fork): os.fork starts jobs, supervisors and the sub-minute loop; a
# command or shell task is spawned and execs at once, and SQLite's descriptors are
# close-on-exec.
_closed_at_fork: weakref.WeakSet[Store] = weakref.WeakSet()


def _close_before_fork(store: Store) -> None:
    _closed_at_fork.add(store)


def _close_stores_before_fork() -> None:
    for store in list(_closed_at_fork):
        store.close()


os.register_at_fork(before=_close_stores_before_fork)


def _instant(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _stored(value: Any) -> Any:
    """A Python value as the column holds it."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and not value.isascii():
        return _storable_text(value)
    return value


def _storable_text(text: str) -> str:
    """`text` with its lone surrogates written out: a byte of the environment that is
    not UTF-8 (in a host name, say) is one in Python, and no database takes them. Such a
    byte is stored as `\xff`, any other surrogate as `\udc00`."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
