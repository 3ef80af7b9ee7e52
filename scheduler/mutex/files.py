"""Mutexes as files under the storage folder: for the processes of one machine."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from scheduler import descriptors
from scheduler.mutex.base import (
    CLAIM_TTL,
    Acquired,
    Blocked,
    HeldLock,
    Holder,
    MutexBackend,
    MutexUnavailable,
    claim_key,
)
from scheduler.mutex.file_flags import FileFlags, storage_problem
from scheduler.storage import Folder, Trust, check_name, lock_within
from scheduler.zones import UTC

# A holder's token names its lock file: only what `Holder.me()` makes is trusted (a
# pattern, compiled on first use: a tick that takes no lock never needs it).
_TOKEN = r"[0-9a-f]{32}"
# How long a state change waits for another process's guard before giving up.
GUARD_TIMEOUT = 30.0


class FileMutexBackend(FileFlags, MutexBackend):
    """Mutexes as files in one folder: for the processes of one machine (its flags are
    the files FileFlags reads and writes, next to the locks).

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
        super().__init__(folder, namespace, base=base, trust=trust)
        self.description = f"files in {folder}"

    def _base(self, key: str) -> str:
        return check_name(f"{self.namespace}-{key}")

    def _holder_name(self, key: str, token: str) -> str:
        if not re.fullmatch(_TOKEN, token):
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
            if not lock_within(descriptor, GUARD_TIMEOUT):
                raise MutexUnavailable(
                    f"the mutex guard for {key} in {self.folder} stayed locked for "
                    f"{GUARD_TIMEOUT:g} seconds")
            yield
        finally:
            os.close(descriptor)  # closing drops the flock

    def acquire(self, key: str, expiration: timedelta) -> Acquired | Blocked:
        try:
            with self.open_folder() as folder, self._guard(folder, key):
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
            raise MutexUnavailable(storage_problem(self.folder, error)) from None

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
            with self.open_folder(create=False) as folder, self._guard(folder, key):
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
            with self.open_folder() as folder:
                with folder.child("claims") as claims, claims.child(minute) as claimed:
                    record = f"{os.uname().nodename} {os.getpid()}\n".encode()
                    if not claimed.create_exclusively(name, record):
                        return False
                    self._forget_old_claims(claims, scheduled)
                return True
        except (OSError, ValueError) as error:
            raise MutexUnavailable(storage_problem(self.folder, error)) from None

    @staticmethod
    def _forget_old_claims(claims: Folder, scheduled: datetime) -> None:
        oldest = f"{scheduled.astimezone(UTC) - CLAIM_TTL:%Y%m%dT%H%M}"
        for name in claims.names():
            if name < oldest:
                claims.remove_tree(name)  # never follows a link planted in its place

    def holders(self, keys: Iterable[str]) -> dict[str, Holder]:
        try:
            folder = self.open_folder(create=False)
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
            folder = self.open_folder(create=False)
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


class FileHeld(HeldLock):
    """A hold on a file lock: the open, flock-ed descriptor of the holder's lock file."""

    def __init__(self, backend: FileMutexBackend, key: str, holder: Holder,
                 descriptor: int) -> None:
        self.backend, self.key, self.holder, self._descriptor = backend, key, holder, descriptor
        # A forked job must not inherit the lock: if this process dies, the lock must go
        # with it, whatever the job's child does.
        descriptors.close_in_forked_jobs(descriptor)

    def release(self) -> None:
        if self._descriptor < 0:
            return
        self.backend._release(self.key, self.holder.token)
        descriptors.keep_in_forked_jobs(self._descriptor)
        os.close(self._descriptor)  # closing the descriptor drops the flock
        self._descriptor = -1

    def descriptors(self) -> tuple[int, ...]:
        return (self._descriptor,) if self._descriptor >= 0 else ()

    def abandon(self) -> None:
        if self._descriptor >= 0:
            descriptors.keep_in_forked_jobs(self._descriptor)
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
