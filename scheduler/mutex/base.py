"""The mutex interface and its records, shared by every backend.

Two questions, two mechanisms:

* **Overlap** (`without_overlapping`): is a run of this event still in progress? The
  process that supervises a run holds a lock for the run's whole life. A holder older
  than the event's expiration no longer blocks a new run. Releasing only ever frees
  the releaser's own hold, never a newer run's.
* **One server** (`on_one_server`): has any server already taken this event's run for
  this scheduled minute? A claim keyed by event and scheduled instant (UTC), made once,
  atomically; it is never released, it just expires.

Keys are namespaced by `SCHEDULER_PREFIX` and `APP_ENV`, so staging and production
sharing one store never block each other.
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime, timedelta

# Defined with the package, which a tick imports without this module; named here too.
from scheduler.mutex import MutexUnavailable as MutexUnavailable
from scheduler.mutex import namespace as namespace
from scheduler.redaction import redact_url
from scheduler.typing_names import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import threading
from scheduler.zones import UTC

# A Redis overlap lock is a lease: renewed while the run lives, so a dead server's lock
# lapses within one lease instead of blocking the event for a day.
DEFAULT_LEASE = timedelta(seconds=60)
# One-server claims outlive any clock skew between servers and any tick's length.
CLAIM_TTL = timedelta(hours=1)


class Holder(NamedTuple):
    """Who holds an overlap lock: enough for a person to find the process."""

    token: str
    pid: int
    host: str
    started: datetime

    @classmethod
    def me(cls) -> Holder:
        # A random token as long as a UUID's hex (the uuid module imports `platform`).
        return cls(os.urandom(16).hex(), os.getpid(), os.uname().nodename, datetime.now(UTC))

    def to_json(self) -> str:
        import json

        return json.dumps({**self._asdict(), "started": self.started.isoformat()})

    @classmethod
    def from_json(cls, text: str | bytes) -> Holder:
        import json

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


class LeasedLock(HeldLock):
    """An overlap lock that is a lease in a shared store (Redis, PostgreSQL): a thread
    renews it every third of a lease until it is released, or until the event's
    expiration, past which it is left to lapse. A backend says how to renew and delete."""

    def __init__(self, holder: Holder, lease: timedelta, expiration: timedelta) -> None:
        import threading  # for the shared stores only: file locks need no thread

        self.holder, self.lease, self.expiration = holder, lease, expiration
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def keep_alive(self) -> None:
        """Start renewing the lease in the background (after any fork of this process)."""
        import threading

        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, name="lease-renewal",
                                             daemon=True)
            self._renewer.start()

    def _renew(self) -> None:
        deadline = time.monotonic() + self.expiration.total_seconds()
        try:
            while not self._stop.wait(self.lease.total_seconds() / 3):
                if time.monotonic() >= deadline:
                    return  # the expiration caps the lock: the lease is left to lapse
                if self.renew_once() is False:
                    return  # taken over after it expired: nothing of ours to renew
        finally:
            self.renewal_ended()

    def renew_once(self) -> bool | None:
        """Renew the lease (restoring it if the store lost it and nobody took the key):
        True when renewed, False when another holder has it, None for a blip (the next
        round tries again before the lease ends)."""
        raise NotImplementedError

    def renewal_ended(self) -> None:
        """Called in the renewing thread when it stops (to close what it opened)."""

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        with contextlib.suppress(MutexUnavailable):
            self.delete()

    def delete(self) -> None:
        """Delete the lease if it is still this holder's (compare-and-delete)."""
        raise NotImplementedError


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


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return redact_url(url)
