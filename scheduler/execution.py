"""One run of one event, start to finish: hooks, the child process, its output.

`run_event` is used by the tick for foreground events and by `schedule:test`; it never
raises for anything the task or the user's hooks do: every problem becomes part of the
returned `RunOutcome`, so one broken task never stops the others.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from scheduler import process
from scheduler import settings as settings_module
from scheduler.event import Event
from scheduler.hooks import call_hook
from scheduler.mutex import Blocked, HeldLock, MutexBackend, MutexUnavailable, backend_for
from scheduler.process import ExitStatus
from scheduler.settings import Settings
from scheduler.zones import UTC

# How much of a task's output is kept in memory for hooks and failure reports; the
# output files get all of it.
OUTPUT_KEPT = 1 << 20


@dataclass
class RunOutcome:
    """What happened when an event ran."""

    event: Event
    started: datetime
    duration: float = 0.0
    status: ExitStatus | None = None
    output: str = ""
    errors: list[str] = field(default_factory=list)
    hook_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Why the task was not run at all: a benign reason (another run holds the lock)...
    skipped: str | None = None
    # ...or a failing one (the mutex store is unreachable).
    not_run: str | None = None

    @property
    def task_succeeded(self) -> bool:
        """The task ran, exited 0 and its output was written where it was asked to go."""
        return self.status is not None and self.status.succeeded and not self.errors

    @property
    def succeeded(self) -> bool:
        """The task succeeded and none of its hooks raised."""
        return self.task_succeeded and not self.hook_errors

    @property
    def exit_code(self) -> int:
        return self.status.code if self.status is not None else 1

    def output_tail(self, lines: int = 20) -> list[str]:
        return self.output.rstrip("\n").splitlines()[-lines:] if self.output.strip() else []


def needs_mutex(event: Event) -> bool:
    """Whether running `event` involves the mutex store."""
    return event.one_server or event.overlap_expiration is not None


def run_event(event: Event, settings: Settings, *, scheduled: datetime | None = None,
              mutexes: Callable[[], MutexBackend] | None = None) -> RunOutcome:
    """Run `event` now, in the foreground, and report what happened.

    `scheduled` is the instant the run is for (the one-server claim is keyed by it);
    `mutexes` gives the mutex store, asked for only when the event needs one.
    """
    outcome = RunOutcome(event, started=datetime.now(UTC))
    lock = _take_mutexes(event, scheduled or outcome.started, mutexes, outcome)
    if outcome.skipped or outcome.not_run:
        return outcome
    try:
        _run_task(event, settings, lock, outcome)
    finally:
        if lock is not None:
            lock.release()
    return outcome


def _take_mutexes(event: Event, scheduled: datetime,
                  mutexes: Callable[[], MutexBackend] | None,
                  outcome: RunOutcome) -> HeldLock | None:
    """Claim the one-server slot and take the overlap lock that `event` asks for."""
    if not needs_mutex(event):
        return None
    try:
        backend = mutexes() if mutexes is not None else backend_for(settings_module.current())
        if event.one_server and not backend.claim(event.mutex_key, scheduled):
            outcome.skipped = "already ran on another server"
            return None
        if event.overlap_expiration is None:
            return None
        expiration = timedelta(minutes=event.overlap_expiration)
        taken = backend.acquire(event.mutex_key, expiration)
    except MutexUnavailable as error:
        outcome.not_run = str(error)
        return None
    if isinstance(taken, Blocked):
        outcome.skipped = f"the previous run is still running ({taken.holder.describe()})"
        return None
    if taken.stale is not None:
        outcome.warnings.append(
            f"the previous run ({taken.stale.describe()}) has held the lock for longer than "
            f"its expiration of {event.overlap_expiration} minutes; running anyway")
    return taken.lock


def _run_task(event: Event, settings: Settings, lock: HeldLock | None,
              outcome: RunOutcome) -> None:
    clock = time.monotonic()
    _call_hooks("before", event.before_hooks, {"event": event}, outcome)
    with tempfile.TemporaryFile(prefix="scheduler-output-") as output:
        try:
            child = process.start(event.task, output, settings)
        except OSError as error:
            outcome.errors.append(f"could not start the task: {error}")
        else:
            if lock is not None:
                lock.keep_alive()  # only now: a renewal thread must not exist at the fork
            outcome.status = child.wait()
        outcome.duration = time.monotonic() - clock
        output.seek(0)
        outcome.output = output.read(OUTPUT_KEPT).decode("utf-8", "replace")
        if event.output_path is not None:
            _write_output(event, settings, output, outcome)
    # A hook that raises is reported, and fails the tick, but the task's own result
    # decides which of on_success and on_failure run.
    available = {"event": event, "output": outcome.output, "exit_code": outcome.exit_code}
    _call_hooks("after", event.after_hooks, available, outcome)
    if outcome.task_succeeded:
        _call_hooks("on_success", event.success_hooks, available, outcome)
    else:
        _call_hooks("on_failure", event.failure_hooks, available, outcome)


def resolve_output_path(path: Path, settings: Settings) -> Path:
    """Output paths are relative to the project root, so cron's cwd does not matter."""
    return path if path.is_absolute() else settings.root / path


def _write_output(event: Event, settings: Settings, output: BinaryIO,
                  outcome: RunOutcome) -> None:
    assert event.output_path is not None
    path = resolve_output_path(event.output_path, settings)
    output.seek(0)
    data = output.read()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if event.append_output else os.O_TRUNC)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, flags, 0o644)
        try:
            # One write per run (looping only on a partial write), so runs appending to
            # the same file do not interleave inside each other's lines.
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
        finally:
            os.close(descriptor)
    except OSError as error:
        outcome.errors.append(f"could not write the output to {path}: {error.strerror}")


def _call_hooks(kind: str, hooks: Iterable[Callable[..., Any]], available: dict[str, Any],
                outcome: RunOutcome) -> None:
    for hook in hooks:
        try:
            call_hook(hook, available)
        except Exception:
            name = getattr(hook, "__qualname__", repr(hook))
            outcome.hook_errors.append(f"{kind} hook {name} raised:\n{traceback.format_exc()}")
