"""Overlap and one-server mutexes, on files (one machine) or on Redis (many servers).

Two questions, two mechanisms:

* **Overlap** (`without_overlapping`): is a run of this event still in progress? The
  process that supervises a run holds a lock for the run's whole life. A holder older
  than the event's expiration no longer blocks a new run. Releasing only ever frees
  the releaser's own hold, never a newer run's.
* **One server** (`on_one_server`): has any server already taken this event's run for
  this scheduled minute? A claim keyed by event and scheduled instant (UTC), made once,
  atomically; it is never released, it just expires.

Keys are namespaced by `SCHEDULER_PREFIX` and `APP_ENV`, so staging and production
sharing one Redis never block each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from scheduler import process
from scheduler.redaction import redact_url
from scheduler.settings import Settings
from scheduler.storage import Folder, Trust, UnsafeStorage, check_name
from scheduler.zones import UTC

# A Redis overlap lock is a lease: renewed while the run lives, so a dead server's lock
# lapses within one lease instead of blocking the event for a day.
DEFAULT_LEASE = timedelta(seconds=60)
# One-server claims outlive any clock skew between servers and any tick's length.
CLAIM_TTL = timedelta(hours=1)


class MutexUnavailable(Exception):
    """The mutex store cannot be reached; the message names it and says why."""


class Holder(NamedTuple):
    """Who holds an overlap lock: enough for a person to find the process."""

    token: str
    pid: int
    host: str
    started: datetime

    @classmethod
    def me(cls) -> Holder:
        return cls(uuid.uuid4().hex, os.getpid(), os.uname().nodename, datetime.now(UTC))

    def to_json(self) -> str:
        return json.dumps({**self._asdict(), "started": self.started.isoformat()})

    @classmethod
    def from_json(cls, text: str | bytes) -> Holder:
        data = json.loads(text)
        return cls(str(data["token"]), int(data["pid"]), str(data["host"]),
                   datetime.fromisoformat(data["started"]))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.started:%Y-%m-%d %H:%M:%S} UTC"

    def older_than(self, expiration: timedelta) -> bool:
        return datetime.now(UTC) - self.started >= expiration


class HeldLock:
    """An overlap lock this process holds; release it when the run ends."""

    holder: Holder

    def keep_alive(self) -> None:
        """Keep the hold alive while the run lasts (after any fork of this process).

        File locks live as long as their descriptor; only leases need renewing.
        """

    def release(self) -> None:
        """Free this hold (and only this one)."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Let go of this process's part in the hold without freeing it: a forked
        supervisor that shares it carries on holding it."""

    def descriptors(self) -> tuple[int, ...]:
        """The descriptors whose being open is the hold (a file lock): the run's keeper
        keeps them open too, until every process of the task has ended."""
        return ()


class Acquired(NamedTuple):
    """The lock is ours; `stale` is the expired holder it overrode, if any."""

    lock: HeldLock
    stale: Holder | None = None


class Blocked(NamedTuple):
    """Another run holds the lock and has not expired."""

    holder: Holder


class MutexBackend(ABC):
    """Where the mutexes live."""

    description: str

    @abstractmethod
    def acquire(self, key: str, expiration: timedelta) -> Acquired | Blocked:
        """Take the overlap lock `key` for a run that may last up to `expiration`."""

    @abstractmethod
    def claim(self, key: str, scheduled: datetime) -> bool:
        """Claim the run of `key` scheduled at `scheduled`; True for the one claimant."""

    def confirm_claim(self, key: str, scheduled: datetime) -> bool:
        """Check, just before the run starts, that this process's claim of `key` at
        `scheduled` still stands: a store that lost it (Redis restarted empty) is claimed
        again, and a claim another server made meanwhile wins. Files cannot lose it."""
        return True

    @abstractmethod
    def holders(self, keys: Iterable[str]) -> dict[str, Holder]:
        """The live holders of the overlap locks among `keys`."""

    @abstractmethod
    def clear(self, keys: Iterable[str]) -> list[str]:
        """Remove the overlap locks among `keys`; return the keys that were held."""

    # Flags: project-wide signals every process sharing the store sees (the sub-minute
    # interrupt, pause and resume).
    @abstractmethod
    def set_flag(self, name: str, value: str, expires: datetime | None = None) -> None:
        """Raise the flag `name` with `value`, until `expires` (None: until cleared)."""

    @abstractmethod
    def get_flag(self, name: str) -> str | None:
        """The value of the flag `name`, or None when it is down or expired."""

    @abstractmethod
    def clear_flag(self, name: str) -> bool:
        """Lower the flag `name`; False if it was not raised."""


def claim_key(key: str, scheduled: datetime) -> str:
    return f"{key}:{scheduled.astimezone(UTC):%Y%m%dT%H%M%S}"


def namespace(settings: Settings) -> str:
    """Keys of different environments (and prefixes) never meet."""
    return f"{settings.prefix}{settings.app_env}"


def backend_for(settings: Settings) -> MutexBackend:
    """The backend `SCHEDULER_CACHE_URL` names: unset → files, `redis://` → Redis."""
    url = settings.cache_url
    if not url:
        try:
            trust = Trust.of(settings)
        except UnsafeStorage as error:
            raise MutexUnavailable(error.strerror) from None
        return FileMutexBackend(settings.storage / "mutex", namespace(settings),
                                base=settings.storage, trust=trust)
    # Not urlsplit: it raises on a stray `[`, and a bad URL must not stop the tick.
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme in ("redis", "rediss", "unix", "postgresql", "postgres"):
        lease = settings.get("SCHEDULER_LEASE_SECONDS", "")
        try:
            seconds = float(lease) if lease else DEFAULT_LEASE.total_seconds()
        except ValueError:
            seconds = 0
        if seconds <= 0:
            raise MutexUnavailable(f"SCHEDULER_LEASE_SECONDS {lease!r} is not a positive "
                                   f"number of seconds")
        if scheme.startswith("postgres"):
            from scheduler.postgres_mutex import PostgresMutexBackend  # psycopg: on use only

            return PostgresMutexBackend(url, namespace(settings), timedelta(seconds=seconds))
        return RedisMutexBackend(url, namespace(settings), timedelta(seconds=seconds))
    raise MutexUnavailable(f"SCHEDULER_CACHE_URL {redact(url)!r}: unsupported scheme "
                           f"{scheme!r} (use redis://host:port/db or "
                           f"postgresql://user@host/db, or leave it unset for files)")


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return redact_url(url)


# -- files ---------------------------------------------------------------------------------

# A holder's token names its lock file: only what `Holder.me()` makes is trusted.
_TOKEN = re.compile(r"[0-9a-f]{32}")
# How long a state change waits for another process's guard before giving up.
GUARD_TIMEOUT = 30.0


class FileMutexBackend(MutexBackend):
    """Mutexes as files in one folder: for the processes of one machine.

    Each run holds an exclusive `flock` on a lock file of its own for its whole life,
    so a crashed or killed holder frees it at once: the kernel drops the lock with the
    process. A small state file names the current holder; reading and changing it is
    guarded by a second `flock`, held only for that moment.

    Every file is opened through `scheduler.storage` (relative to the folder's
    descriptor, never through a link), because others may be able to write to the
    storage folder; `base` is where that distrust starts (default: `folder` itself).
    """

    def __init__(self, folder: Path, namespace: str, *, base: Path | None = None,
                 trust: Trust | None = None) -> None:
        self.folder = folder
        self.namespace = namespace
        self.base = base or folder
        self.trust = trust
        self.description = f"files in {folder}"

    def _open(self, *, create: bool = True) -> Folder:
        try:
            return Folder.open(self.folder, base=self.base, create=create, trust=self.trust)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as error:
            raise MutexUnavailable(_storage_problem(self.folder, error)) from None

    def _base(self, key: str) -> str:
        return check_name(f"{self.namespace}-{key}")

    def _holder_name(self, key: str, token: str) -> str:
        if not _TOKEN.fullmatch(token):
            raise ValueError(f"not a holder token: {token!r}")
        return f"{self._base(key)}.{token}.lock"

    def _state_name(self, key: str) -> str:
        return f"{self._base(key)}.json"

    @contextlib.contextmanager
    def _guard(self, folder: Folder, key: str) -> Iterator[None]:
        # Not filelock: it opens its file by path, following links, and cannot open it
        # relative to a folder's descriptor; an flock of our own is a few lines.
        descriptor = folder.open_file(f"{self._base(key)}.guard", os.O_RDWR | os.O_CREAT)
        try:
            deadline = time.monotonic() + GUARD_TIMEOUT
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise MutexUnavailable(
                            f"the mutex guard for {key} in {self.folder} stayed locked for "
                            f"{GUARD_TIMEOUT:g} seconds") from None
                    time.sleep(0.01)
            yield
        finally:
            os.close(descriptor)  # closing drops the flock

    def acquire(self, key: str, expiration: timedelta) -> Acquired | Blocked:
        try:
            with self._open() as folder, self._guard(folder, key):
                current = self._live_holder(folder, key)
                if current is not None and not current.older_than(expiration):
                    return Blocked(current)
                me = Holder.me()
                name = self._holder_name(key, me.token)
                descriptor = _lock_file(folder, name)
                try:
                    folder.write_atomically(self._state_name(key), me.to_json().encode())
                except BaseException:
                    folder.remove(name)
                    os.close(descriptor)
                    raise
                return Acquired(FileHeld(self, key, me, descriptor), stale=current)
        except (OSError, ValueError) as error:
            raise MutexUnavailable(_storage_problem(self.folder, error)) from None

    def _live_holder(self, folder: Folder, key: str) -> Holder | None:
        """The holder named in the state file, if its process still holds its lock."""
        holder = _read_holder(folder, self._state_name(key))
        if holder is None:
            return None
        try:
            name = self._holder_name(key, holder.token)
        except ValueError:  # a planted state file: its token is no file name of ours
            folder.remove(self._state_name(key))
            return None
        if _is_locked(folder, name):
            return holder
        folder.remove(name)
        folder.remove(self._state_name(key))
        return None

    def _release(self, key: str, token: str) -> None:
        try:
            with self._open(create=False) as folder, self._guard(folder, key):
                current = _read_holder(folder, self._state_name(key))
                if current is not None and current.token == token:
                    folder.remove(self._state_name(key))
                folder.remove(self._holder_name(key, token))
        except (OSError, ValueError):
            pass  # the state file then names a dead holder, which readers ignore

    def claim(self, key: str, scheduled: datetime) -> bool:
        minute = f"{scheduled.astimezone(UTC):%Y%m%dT%H%M}"
        name = f"{self.namespace}-{claim_key(key, scheduled)}"
        try:
            with self._open() as folder:
                with folder.child("claims") as claims, claims.child(minute) as claimed:
                    record = f"{os.uname().nodename} {os.getpid()}\n".encode()
                    if not claimed.create_exclusively(name, record):
                        return False
                    self._forget_old_claims(claims, scheduled)
                return True
        except (OSError, ValueError) as error:
            raise MutexUnavailable(_storage_problem(self.folder, error)) from None

    @staticmethod
    def _forget_old_claims(claims: Folder, scheduled: datetime) -> None:
        oldest = f"{scheduled.astimezone(UTC) - CLAIM_TTL:%Y%m%dT%H%M}"
        for name in claims.names():
            if name < oldest:
                claims.remove_tree(name)  # never follows a link planted in its place

    def holders(self, keys: Iterable[str]) -> dict[str, Holder]:
        try:
            folder = self._open(create=False)
        except FileNotFoundError:
            return {}
        found = {}
        with folder:
            for key in keys:
                if folder.lstat(self._state_name(key)) is not None:
                    holder = self._live_holder(folder, key)
                    if holder is not None:
                        found[key] = holder
        return found

    def clear(self, keys: Iterable[str]) -> list[str]:
        try:
            folder = self._open(create=False)
        except FileNotFoundError:
            return []
        removed = []
        with folder:
            names = folder.names()
            for key in keys:
                prefix = f"{self._base(key)}."
                mine = [name for name in names if name.startswith(prefix)]
                if any(name.endswith((".json", ".lock")) for name in mine):
                    removed.append(key)
                for name in mine:
                    folder.remove(name)
        return removed

    def _flag_name(self, name: str) -> str:
        return check_name(f"flag-{self.namespace}-{name}.json")

    def set_flag(self, name: str, value: str, expires: datetime | None = None) -> None:
        record = {"value": value, "expires": expires.isoformat() if expires else None}
        try:
            with self._open() as folder:
                folder.write_atomically(self._flag_name(name), json.dumps(record).encode())
        except (OSError, ValueError) as error:
            raise MutexUnavailable(_storage_problem(self.folder, error)) from None

    def get_flag(self, name: str) -> str | None:
        try:
            with self._open(create=False) as folder:
                data = folder.read(self._flag_name(name))
        except FileNotFoundError:
            return None
        if data is None:
            return None
        try:
            record = json.loads(data)
            expires = record.get("expires")
            if expires and datetime.fromisoformat(expires) <= datetime.now(UTC):
                return None
            return str(record.get("value"))
        except (ValueError, AttributeError, TypeError):
            return None

    def clear_flag(self, name: str) -> bool:
        raised = self.get_flag(name) is not None
        try:
            with self._open(create=False) as folder:
                folder.remove(self._flag_name(name))
        except FileNotFoundError:
            pass
        return raised


def _storage_problem(folder: Path, error: BaseException) -> str:
    """One line on why the mutex files in `folder` cannot be used."""
    if isinstance(error, UnsafeStorage):
        return str(error.strerror)
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return f"the mutex files in {folder} cannot be used: {reason}"


class FileHeld(HeldLock):
    """A hold on a file lock: the open, flock-ed descriptor of the holder's lock file."""

    def __init__(self, backend: FileMutexBackend, key: str, holder: Holder,
                 descriptor: int) -> None:
        self.backend, self.key, self.holder, self._descriptor = backend, key, holder, descriptor
        # A forked job must not inherit the lock: if this process dies, the lock must go
        # with it, whatever the job's child does.
        process.close_in_forked_jobs(descriptor)

    def release(self) -> None:
        if self._descriptor < 0:
            return
        self.backend._release(self.key, self.holder.token)
        process.keep_in_forked_jobs(self._descriptor)
        os.close(self._descriptor)  # closing the descriptor drops the flock
        self._descriptor = -1

    def descriptors(self) -> tuple[int, ...]:
        return (self._descriptor,) if self._descriptor >= 0 else ()

    def abandon(self) -> None:
        if self._descriptor >= 0:
            process.keep_in_forked_jobs(self._descriptor)
            os.close(self._descriptor)  # the supervisor's copy keeps the flock
            self._descriptor = -1


def _read_holder(folder: Folder, name: str) -> Holder | None:
    data = folder.read(name)
    if data is None:
        return None
    try:
        return Holder.from_json(data)
    except (ValueError, KeyError, TypeError):
        return None


def _lock_file(folder: Folder, name: str) -> int:
    descriptor = folder.open_file(name, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def _is_locked(folder: Folder, name: str) -> bool:
    """Whether a live process holds the lock file `name` (a FIFO or link planted in
    its place holds nothing: it is opened without blocking and refused)."""
    try:
        descriptor = folder.open_file(name, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


# -- Redis ---------------------------------------------------------------------------------

# Compare-and-set scripts: a run only ever renews, overrides or deletes the exact value
# it knows, so a run that outlived its lease cannot touch a newer holder's key.
# Renewal also restores a lease the store lost (a Redis restarted empty) if nobody took
# the key meanwhile: 1 renewed, 2 restored, 0 lost to another holder.
_RENEW = "local value = redis.call('get', KEYS[1]) " \
         "if value == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end " \
         "if not value then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end " \
         "return 0"
_DELETE = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
          "return redis.call('del', KEYS[1]) else return 0 end"
_REPLACE = "if redis.call('get', KEYS[1]) == ARGV[1] then " \
           "return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) else return false end"


class RedisMutexBackend(MutexBackend):
    """Mutexes in Redis, shared by every server that points at it."""

    def __init__(self, url: str, namespace: str, lease: timedelta = DEFAULT_LEASE) -> None:
        try:
            import redis
        except ImportError:
            raise MutexUnavailable(f"SCHEDULER_CACHE_URL is {redact(url)!r} but the redis "
                                   f"package is not installed (pip install redis)") from None
        self.url = url
        self.namespace = namespace
        self.lease = lease
        self.description = f"Redis at {redact(url)}"
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self._unreachable_errors: tuple[type[BaseException], ...] = (
            redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        # Set at the first time-out or refused connection: from then on every call fails
        # at once, so a Redis that accepts and never answers costs one time-out per tick,
        # not one per event.
        self._unreachable: str | None = None
        self._claims: dict[str, str] = {}  # the claims this process made: key, owner
        try:
            self.client = redis.Redis.from_url(url, socket_timeout=5,
                                               socket_connect_timeout=3)
        except ValueError:
            # Not the parser's own words: they may quote a piece of the password.
            raise MutexUnavailable(f"SCHEDULER_CACHE_URL {redact(url)!r} is not a valid "
                                   f"Redis URL") from None
        # A job forked from this process must not get its logged-in connections.
        process.hide_from_forked_jobs(self._socket_descriptors)

    def _socket_descriptors(self) -> list[int]:
        """The descriptors of this client's open connections (redis-py keeps them in
        its pool; no public call lists them)."""
        pool = self.client.connection_pool
        connections = [*getattr(pool, "_available_connections", ()),
                       *getattr(pool, "_in_use_connections", ())]
        sockets = [getattr(connection, "_sock", None) for connection in connections]
        return [sock.fileno() for sock in sockets if sock is not None and sock.fileno() >= 0]

    def _call(self, action: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        if self._unreachable is not None:
            raise MutexUnavailable(self._unreachable)
        try:
            return function(*args, **kwargs)
        except self._errors as error:
            message = f"Redis at {redact(self.url)} is unreachable ({action}): {error}"
            if isinstance(error, self._unreachable_errors):
                self._unreachable = (f"{message}; not asked again until the next tick")
            raise MutexUnavailable(message) from None

    def _key(self, kind: str, key: str) -> str:
        return f"scheduler:{self.namespace}:{kind}:{key}"

    def acquire(self, key: str, expiration: timedelta) -> Acquired | Blocked:
        name = self._key("overlap", key)
        me = Holder.me()
        value = me.to_json()
        lease_ms = int(self.lease.total_seconds() * 1000)
        if self._call("lock", self.client.set, name, value, nx=True, px=lease_ms):
            return Acquired(RedisHeld(self, name, me, value, expiration))
        current_value = self._call("lock", self.client.get, name)
        if current_value is None:  # it lapsed in between: try once more
            if self._call("lock", self.client.set, name, value, nx=True, px=lease_ms):
                return Acquired(RedisHeld(self, name, me, value, expiration))
            current_value = self._call("lock", self.client.get, name) or b"{}"
        try:
            current = Holder.from_json(current_value)
        except (ValueError, KeyError):
            current = Holder("?", 0, "?", datetime.now(UTC))
        if not current.older_than(expiration):
            return Blocked(current)
        replaced = self._call("lock", self.client.eval, _REPLACE, 1, name, current_value,
                              value, lease_ms)
        if not replaced:
            return Blocked(current)
        return Acquired(RedisHeld(self, name, me, value, expiration), stale=current)

    def claim(self, key: str, scheduled: datetime) -> bool:
        name = self._key("server", claim_key(key, scheduled))
        owner = f"{os.uname().nodename} {os.getpid()} {uuid.uuid4().hex}"
        ttl = int(CLAIM_TTL.total_seconds())
        if self._call("claim", self.client.set, name, owner, nx=True, ex=ttl):
            self._claims[name] = owner
            return True
        return False

    def confirm_claim(self, key: str, scheduled: datetime) -> bool:
        name = self._key("server", claim_key(key, scheduled))
        owner = self._claims.get(name)
        if owner is None:
            return False
        current = self._call("claim", self.client.get, name)
        if current is None:  # the store lost it: claim it again, unless someone is faster
            ttl = int(CLAIM_TTL.total_seconds())
            return bool(self._call("claim", self.client.set, name, owner, nx=True, ex=ttl))
        return bool(current.decode() == owner)

    def holders(self, keys: Iterable[str]) -> dict[str, Holder]:
        keys = list(keys)
        if not keys:
            return {}
        values = self._call("read", self.client.mget, [self._key("overlap", k) for k in keys])
        found = {}
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                with contextlib.suppress(ValueError, KeyError):
                    found[key] = Holder.from_json(value)
        return found

    def clear(self, keys: Iterable[str]) -> list[str]:
        removed = []
        for key in keys:
            if self._call("clear", self.client.delete, self._key("overlap", key)):
                removed.append(key)
        return removed


    def set_flag(self, name: str, value: str, expires: datetime | None = None) -> None:
        key = self._key("flag", name)
        if expires is None:
            self._call("flag", self.client.set, key, value)
            return
        milliseconds = int((expires - datetime.now(UTC)).total_seconds() * 1000)
        if milliseconds > 0:
            self._call("flag", self.client.set, key, value, px=milliseconds)

    def get_flag(self, name: str) -> str | None:
        value = self._call("flag", self.client.get, self._key("flag", name))
        return None if value is None else value.decode()

    def clear_flag(self, name: str) -> bool:
        return bool(self._call("flag", self.client.delete, self._key("flag", name)))


class RedisHeld(HeldLock):
    """A Redis lease, renewed by a thread until released or until the expiration."""

    def __init__(self, backend: RedisMutexBackend, name: str, holder: Holder, value: str,
                 expiration: timedelta) -> None:
        self.backend, self.name, self.holder, self.value = backend, name, holder, value
        self.expiration = expiration
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def keep_alive(self) -> None:
        """Start renewing the lease in the background (after any fork of this process)."""
        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, name="lease-renewal",
                                             daemon=True)
            self._renewer.start()

    def _renew(self) -> None:
        lease = self.backend.lease
        lease_ms = int(lease.total_seconds() * 1000)
        deadline = time.monotonic() + self.expiration.total_seconds()
        while not self._stop.wait(lease.total_seconds() / 3):
            # The expiration caps the lock: past it, the lease is left to lapse.
            if time.monotonic() >= deadline:
                return
            try:
                if not self.backend.client.eval(_RENEW, 1, self.name, self.value, lease_ms):
                    return  # lost (expired and taken over): nothing of ours to renew
            except self.backend._errors:
                continue  # a blip; the next round tries again before the lease ends

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        with contextlib.suppress(MutexUnavailable):
            self.backend._call("unlock", self.backend.client.eval, _DELETE, 1, self.name,
                               self.value)
