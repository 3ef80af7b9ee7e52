"""This host's record of which runs started: each event's run for each scheduled
instant starts at most once on this host, and a run that never started is not lost.

A tick (or a second tick of the same minute: a second crontab line, `schedule:work`
restarting a killed tick) asks for each due event in turn:

1. take an `flock` on `<event>:<instant>.lock` without waiting; if another live tick
   holds it, that tick is about to run the event: skip it;
2. if `<event>:<instant>.started` exists, a tick already started the run: skip it;
3. otherwise run the event: just before its task starts (after its mutexes and
   `before` hooks), write `.started` (whole: a temporary file linked into place) and
   release the lock.

A tick killed before step 3 of an event leaves no `.started` and its lock dies with
it, so a retry of the minute runs exactly the events that never started. A run that
did not start (its overlap lock was held, its mutex store unreachable) is not marked
either: a retry may run it. The one moment a kill loses a run is between writing
`.started` and starting the task, a fork's length. The files
live in `storage/framework/ticks/<minute>/` and are removed after `KEPT`.

The sub-minute loop of a minute is guarded the same way by an `flock` alone (a dead
loop's retry starts a new loop, whose runs are claimed per instant).
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timedelta

from scheduler import descriptors
from scheduler.settings import Settings
from scheduler.storage import Folder, storage_folder
from scheduler.zones import UTC

# How long the records of a minute are kept: longer than any retry of it.
KEPT = timedelta(days=1)
FOLDER = ("framework", "ticks")


class RunClaim:
    """This tick's claim on one event's run for one instant, held until it is marked
    started (or given up)."""

    def __init__(self, claims: HostClaims, minute: str, name: str, descriptor: int) -> None:
        self._claims, self._minute, self._name = claims, minute, name
        self._descriptor = descriptor
        descriptors.close_in_forked_jobs(descriptor)

    def mark_started(self) -> None:
        """Record that the run starts now, then let go of the claim. Raises OSError when
        the record cannot be written (full disk, read-only storage)."""
        record = {"pid": os.getpid(), "started": datetime.now(UTC).isoformat()}
        try:
            with self._claims.folder(self._minute) as folder:
                # Not synced: a record a crash loses reads as absent (the run may then
                # happen again after the crash), and ticks with many tasks stay quick.
                folder.create_exclusively(f"{self._name}.started",
                                          json.dumps(record).encode(), durable=False)
        finally:
            self.release()

    def release(self) -> None:
        if self._descriptor >= 0:
            descriptors.keep_in_forked_jobs(self._descriptor)
            os.close(self._descriptor)  # drops the flock
            self._descriptor = -1


class HostClaims:
    """The runs this host started, per event and scheduled instant."""

    def __init__(self, settings: Settings, prefix: str) -> None:
        self.settings = settings
        self.prefix = prefix
        self.path = settings.storage.joinpath(*FOLDER)

    def folder(self, minute: str, *, create: bool = True) -> Folder:
        return storage_folder(self.settings, *FOLDER, minute, create=create)

    def claim(self, key: str, instant: datetime) -> RunClaim | str:
        """A claim on the run of `key` for `instant`, or why there is none: it started
        already, or another tick of this host is starting it now. Raises OSError (or
        ValueError for a key that is no file name) when the storage cannot be used."""
        minute = _minute(instant)
        name = f"{self.prefix}-{key}:{instant.astimezone(UTC):%Y%m%dT%H%M%S}"
        with self.folder(minute) as folder:
            descriptor = folder.open_file(f"{name}.lock", os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return "another tick of this host is starting it"
            if folder.read(f"{name}.started") is not None:
                os.close(descriptor)
                return "already started for this minute on this host"
        return RunClaim(self, minute, name, descriptor)

    def hold_loop(self, instant: datetime) -> int | None:
        """An flock-ed descriptor guarding this minute's sub-minute loop, or None when a
        live loop of another tick holds it. Raises OSError when storage is unusable."""
        with self.folder(_minute(instant)) as folder:
            descriptor = folder.open_file(f"{self.prefix}-sub-minute-loop.lock",
                                          os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        return descriptor

    def forget_old(self, now: datetime) -> None:
        """Remove the records of minutes older than KEPT (never through a link)."""
        oldest = _minute(now - KEPT)
        try:
            with storage_folder(self.settings, *FOLDER, create=False) as folder:
                for name in folder.names():
                    if name < oldest:
                        folder.remove_tree(name)
        except (OSError, ValueError):
            pass  # clean-up is best effort; the next tick tries again


def _minute(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y%m%dT%H%M}"
