"""Mutexes in Redis, shared by every server that points at it (the `redis` extra;
redis-py is imported only by ticks configured for Redis)."""

from __future__ import annotations

import contextlib
import os
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
    claim_key,
    redact,
)
from scheduler.zones import UTC

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
        descriptors.hide_from_forked_jobs(self._socket_descriptors)

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
                self._unreachable = f"{message}; not asked again until the next tick"
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


class RedisHeld(LeasedLock):
    """A Redis lease (a key whose value names its holder)."""

    def __init__(self, backend: RedisMutexBackend, name: str, holder: Holder, value: str,
                 expiration: timedelta) -> None:
        super().__init__(holder, backend.lease, expiration)
        self.backend, self.name, self.value = backend, name, value

    def renew_once(self) -> bool | None:
        lease_ms = int(self.lease.total_seconds() * 1000)
        try:
            return bool(self.backend.client.eval(_RENEW, 1, self.name, self.value, lease_ms))
        except self.backend._errors:
            return None

    def delete(self) -> None:
        self.backend._call("unlock", self.backend.client.eval, _DELETE, 1, self.name,
                           self.value)
