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
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from scheduler import process
from scheduler.event import Event
from scheduler.hooks import call_hook
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


def run_event(event: Event, settings: Settings) -> RunOutcome:
    """Run `event` now, in the foreground, and report what happened."""
    outcome = RunOutcome(event, started=datetime.now(UTC))
    clock = time.monotonic()
    _call_hooks("before", event.before_hooks, {"event": event}, outcome)
    with tempfile.TemporaryFile(prefix="scheduler-output-") as output:
        try:
            outcome.status = process.start(event.task, output, settings).wait()
        except OSError as error:
            outcome.errors.append(f"could not start the task: {error}")
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
    return outcome


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
