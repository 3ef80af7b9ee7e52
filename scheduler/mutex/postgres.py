"""Mutexes in PostgreSQL, for teams whose servers share a database rather than a Redis.

The same guarantees as the Redis backend, in three small tables (created on first use):

* an overlap lock is a row per key holding its holder and a lease (`expires`, in the
  database's own clock, so the servers' clocks need not agree), renewed by a thread
  while the run lives, so a dead server's lock lapses within one lease; taking over an
  expired holder and releasing are compare-and-set on the holder's token, so a run that
  outlived its lease never frees or renews a newer holder's lock;
* a one-server claim is a row keyed by (namespace, event, scheduled instant), inserted
  with `ON CONFLICT DO NOTHING`: exactly one server gets the row;
* flags (pause, interrupt) are rows with an optional expiry.

Expired rows are deleted a few at a time by the processes that use the tables. psycopg
is imported only by ticks configured for PostgreSQL. Every statement is bounded
(`statement_timeout`), and after the first time-out or refused connection the store
counts as unreachable for the rest of the process, so a silent server costs one wait,
not one per event.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from scheduler import descriptors
from scheduler.mutex.base import (
    CLAIM_TTL,
    DEFAULT_LEASE,
    Acquired,
    Blocked,
    Holder,
    LeasedLock,
    MutexBackend,
    MutexUnavailable,
    redact,
)
from scheduler.zones import UTC

CONNECT_TIMEOUT_SECONDS = 3
STATEMENT_TIMEOUT_MS = 5000
# Expired claims and flags removed per clean-up: enough to keep up, never a long delete.
CLEANUP_BATCH = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS scheduler_mutex_locks (
    namespace text NOT NULL,
    key text NOT NULL,
    token text NOT NULL,
    holder text NOT NULL,
    expires timestamptz NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE TABLE IF NOT EXISTS scheduler_mutex_claims (
    namespace text NOT NULL,
    key text NOT NULL,
    scheduled timestamptz NOT NULL,
    owner text NOT NULL,
    expires timestamptz NOT NULL,
    PRIMARY KEY (namespace, key, scheduled)
);
CREATE INDEX IF NOT EXISTS scheduler_mutex_claims_expires ON scheduler_mutex_claims (expires);
CREATE TABLE IF NOT EXISTS scheduler_mutex_flags (
    namespace text NOT NULL,
    name text NOT NULL,
    value text NOT NULL,
    expires timestamptz,
    PRIMARY KEY (namespace, name)
);
"""
# Two processes creating the tables at once would collide in the catalog: one waits.
SCHEMA_LOCK = 0x5C4ED01E

_TAKE = """
INSERT INTO scheduler_mutex_locks (namespace, key, token, holder, expires)
VALUES (%s, %s, %s, %s, now() + %s)
ON CONFLICT (namespace, key) DO UPDATE
    SET token = EXCLUDED.token, holder = EXCLUDED.holder, expires = EXCLUDED.expires
    WHERE scheduler_mutex_locks.expires < now()
RETURNING token
"""
_REPLACE = """
UPDATE scheduler_mutex_locks SET token = %s, holder = %s, expires = now() + %s
WHERE namespace = %s AND key = %s AND token = %s
RETURNING token
"""
# Renewal also restores a lease that is gone if nobody took the key meanwhile.
_RENEW = """
INSERT INTO scheduler_mutex_locks (namespace, key, token, holder, expires)
VALUES (%s, %s, %s, %s, now() + %s)
ON CONFLICT (namespace, key) DO UPDATE SET expires = EXCLUDED.expires
    WHERE scheduler_mutex_locks.token = EXCLUDED.token
RETURNING token
"""


class PostgresMutexBackend(MutexBackend):
    """Mutexes in a PostgreSQL database, shared by every server that points at it."""

    def __init__(self, url: str, namespace: str, lease: timedelta = DEFAULT_LEASE) -> None:
        try:
            import psycopg
        except ImportError:
            raise MutexUnavailable(
                f"SCHEDULER_CACHE_URL is {redact(url)!r} but psycopg is not installed "
                f"(pip install 'artisan-scheduler[postgres]')") from None
        self._psycopg = psycopg
        self.url = url
        self.namespace = namespace
        self.lease = lease
        self.description = f"PostgreSQL at {redact(url)}"
        self._connection: Any = None
        self._pid = os.getpid()
        self._unreachable: str | None = None
        self._claims: dict[tuple[str, datetime], str] = {}
        self._cleaned = False
        # A job forked from this process must not get its logged-in connection.
        descriptors.hide_from_forked_jobs(self._socket_descriptors)

    # -- the connection -------------------------------------------------------------------
    def connect(self) -> Any:
        """A new connection with bounded waits, the tables made if missing."""
        try:
            connection = self._psycopg.connect(
                self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS,
                options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
                        f"-c lock_timeout={STATEMENT_TIMEOUT_MS}")
        except self._psycopg.Error as error:
            raise self._unreachable_now("connect", error) from None
        except ValueError:  # a URL libpq cannot read; its words may quote the password
            raise MutexUnavailable(f"SCHEDULER_CACHE_URL {redact(self.url)!r} is not a "
                                   f"valid PostgreSQL URL") from None
        try:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                connection.execute(SCHEMA)
        except self._psycopg.Error as error:
            connection.close()
            raise self._unreachable_now("create tables", error) from None
        return connection

    def _socket_descriptors(self) -> list[int]:
        connection = self._connection
        if connection is None or connection.closed:
            return []
        return [connection.fileno()]

    def _current(self) -> Any:
        if os.getpid() != self._pid:
            # A forked process (a background supervisor) must not talk over its parent's
            # socket: put /dev/null under the inherited one so that closing it says
            # nothing to the server, and open a connection of its own.
            self._forget_inherited_connection()
            self._pid = os.getpid()
        if self._connection is None or self._connection.closed:
            self._connection = self.connect()
        return self._connection

    def _forget_inherited_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.closed:
            return
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, connection.fileno())
            os.close(null)
        with contextlib.suppress(Exception):
            connection.close()

    def _unreachable_now(self, action: str, error: BaseException) -> MutexUnavailable:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        message = (f"PostgreSQL at {redact(self.url)} is unreachable ({action}): "
                   f"{type(error).__name__}: {redact_dsn(first_line, self.url)}")
        if isinstance(error, (self._psycopg.OperationalError, OSError)):
            self._unreachable = f"{message}; not asked again until the next tick"
        return MutexUnavailable(message)

    def _query(self, action: str, sql: str, parameters: tuple[Any, ...] = ()) -> list[Any]:
        """Run one statement; its rows (empty for a statement that returns none)."""
        if self._unreachable is not None:
            raise MutexUnavailable(self._unreachable)
        connection = self._current()
        try:
            cursor = connection.execute(sql, parameters)
            return list(cursor.fetchall()) if cursor.description is not None else []
        except self._psycopg.Error as error:
            if connection.closed or isinstance(error, self._psycopg.OperationalError):
                self._connection = None
                with contextlib.suppress(Exception):
                    connection.close()
            raise self._unreachable_now(action, error) from None

    # -- overlap locks ----------------------------------------------------------------------
    def acquire(self, key: str, expiration: timedelta) -> Acquired | Blocked:
        self._clean_up_once()
        me = Holder.me()
        value = me.to_json()
        if self._query("lock", _TAKE, (self.namespace, key, me.token, value, self.lease)):
            return Acquired(PostgresHeld(self, key, me, value, expiration))
        rows = self._query("lock", "SELECT token, holder FROM scheduler_mutex_locks "
                                   "WHERE namespace = %s AND key = %s", (self.namespace, key))
        if not rows:  # it was released in between: try once more
            if self._query("lock", _TAKE, (self.namespace, key, me.token, value, self.lease)):
                return Acquired(PostgresHeld(self, key, me, value, expiration))
            return Blocked(Holder("?", 0, "?", datetime.now(UTC)))
        token, holder_text = rows[0]
        try:
            current = Holder.from_json(holder_text)
        except (ValueError, KeyError):
            current = Holder("?", 0, "?", datetime.now(UTC))
        if not current.older_than(expiration):
            return Blocked(current)
        if not self._query("lock", _REPLACE, (me.token, value, self.lease, self.namespace,
                                              key, token)):
            return Blocked(current)
        return Acquired(PostgresHeld(self, key, me, value, expiration), stale=current)

    def holders(self, keys: Iterable[str]) -> dict[str, Holder]:
        keys = list(keys)
        if not keys:
            return {}
        rows = self._query("read", "SELECT key, holder FROM scheduler_mutex_locks "
                                   "WHERE namespace = %s AND key = ANY(%s) AND expires >= now()",
                           (self.namespace, keys))
        found = {}
        for key, holder_text in rows:
            with contextlib.suppress(ValueError, KeyError):
                found[key] = Holder.from_json(holder_text)
        return found

    def clear(self, keys: Iterable[str]) -> list[str]:
        keys = list(keys)
        if not keys:
            return []
        rows = self._query("clear", "DELETE FROM scheduler_mutex_locks WHERE namespace = %s "
                                    "AND key = ANY(%s) RETURNING key", (self.namespace, keys))
        removed = {row[0] for row in rows}
        return [key for key in keys if key in removed]

    # -- one-server claims ------------------------------------------------------------------
    def claim(self, key: str, scheduled: datetime) -> bool:
        self._clean_up_once()
        owner = f"{os.uname().nodename} {os.getpid()} {uuid.uuid4().hex}"
        rows = self._query(
            "claim", "INSERT INTO scheduler_mutex_claims (namespace, key, scheduled, owner, "
                     "expires) VALUES (%s, %s, %s, %s, now() + %s) ON CONFLICT DO NOTHING "
                     "RETURNING owner",
            (self.namespace, key, scheduled.astimezone(UTC), owner, CLAIM_TTL))
        if rows:
            self._claims[(key, scheduled)] = owner
        return bool(rows)

    def confirm_claim(self, key: str, scheduled: datetime) -> bool:
        """A claim row is never lost short of someone deleting it; if it was, this
        process claims it again unless another server is faster."""
        owner = self._claims.get((key, scheduled))
        if owner is None:
            return False
        rows = self._query("claim", "SELECT owner FROM scheduler_mutex_claims WHERE "
                                    "namespace = %s AND key = %s AND scheduled = %s",
                           (self.namespace, key, scheduled.astimezone(UTC)))
        if not rows:
            return self.claim(key, scheduled)
        return bool(rows[0][0] == owner)

    def _clean_up_once(self) -> None:
        """Delete a batch of expired claims, flags and lapsed locks, once per process (a
        lapsed lock's row is free already; a holder still renewing puts it back)."""
        if self._cleaned:
            return
        self._cleaned = True
        for table in ("scheduler_mutex_claims", "scheduler_mutex_flags",
                      "scheduler_mutex_locks"):
            self._query("clean up", f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM "
                                    f"{table} WHERE expires < now() LIMIT {CLEANUP_BATCH})")

    # -- flags --------------------------------------------------------------------------------
    def set_flag(self, name: str, value: str, expires: datetime | None = None) -> None:
        if expires is not None and expires <= datetime.now(UTC):
            return
        self._query("flag", "INSERT INTO scheduler_mutex_flags (namespace, name, value, "
                            "expires) VALUES (%s, %s, %s, %s) ON CONFLICT (namespace, name) "
                            "DO UPDATE SET value = EXCLUDED.value, expires = EXCLUDED.expires",
                    (self.namespace, name, value, expires))

    def get_flag(self, name: str) -> str | None:
        rows = self._query("flag", "SELECT value FROM scheduler_mutex_flags WHERE namespace = "
                                   "%s AND name = %s AND (expires IS NULL OR expires > now())",
                           (self.namespace, name))
        return str(rows[0][0]) if rows else None

    def clear_flag(self, name: str) -> bool:
        return bool(self._query("flag", "DELETE FROM scheduler_mutex_flags WHERE namespace = %s "
                                        "AND name = %s AND (expires IS NULL OR expires > now()) "
                                        "RETURNING name", (self.namespace, name)))


class PostgresHeld(LeasedLock):
    """A lease row, renewed on a connection of the renewing thread's own."""

    def __init__(self, backend: PostgresMutexBackend, key: str, holder: Holder, value: str,
                 expiration: timedelta) -> None:
        super().__init__(holder, backend.lease, expiration)
        self.backend, self.key, self.value = backend, key, value
        self._connection: Any = None

    def renew_once(self) -> bool | None:
        backend = self.backend
        try:
            if self._connection is None or self._connection.closed:
                self._connection = backend.connect()
            return bool(self._connection.execute(
                _RENEW, (backend.namespace, self.key, self.holder.token, self.value,
                         backend.lease)).fetchall())
        except (MutexUnavailable, backend._psycopg.Error):
            return None

    def renewal_ended(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()

    def delete(self) -> None:
        self.backend._query("unlock", "DELETE FROM scheduler_mutex_locks WHERE "
                                      "namespace = %s AND key = %s AND token = %s",
                            (self.backend.namespace, self.key, self.holder.token))


def redact_dsn(text: str, url: str) -> str:
    """`text` (a driver's message) without any piece of the password of `url`.

    libpq may read an unencoded `@`, `:` or `/` in a password as the end of it, and then
    quote the rest as a host name or a database: so every piece of the password between
    such characters is hidden too, not only the whole of it.
    """
    password = _password_of(url)
    if not password:
        return text
    pieces = {password, *(piece for piece in re.split(r"[@:/?#]", password) if len(piece) >= 3)}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def _password_of(url: str) -> str | None:
    credentials = url.partition("://")[2].rpartition("@")[0]
    _user, colon, password = credentials.partition(":")
    return password if colon and password else None
