"""One run of one event, start to finish: the task's whole lifecycle.

1. claim the one-server slot and take the overlap lock, if the event asks for them;
2. `before` hooks and pings;
3. the task in a child process (stopped if it outlives its `timeout`); a dispatched
   task's child sends the job to its queue, and the queue's id for it is recorded;
4. its output to the files and e-mails it asks for;
5. `on_success` or `on_failure` hooks and pings, then `after` hooks and pings;
6. release the lock, and tell the listeners (the run history is one) how it ended.

`run_event` does all of it in the calling process, or for `run_in_background` events
hands steps 2-6 to a detached supervisor process and returns at once. It never raises
for anything the task or the user's hooks do: every problem becomes part of the
returned `RunOutcome`, so one broken task never stops the others.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from scheduler import output as output_module
from scheduler import process
from scheduler.deadline import DeadlinePassed, within
from scheduler.event import Event
from scheduler.hooks import call_hook, call_in_supervisor, hook_timeout_or_default
from scheduler.listeners import Listeners
from scheduler.mutex import Blocked, HeldLock, MutexBackend, MutexUnavailable, backend_for
from scheduler.process import ExitStatus
from scheduler.settings import Settings
from scheduler.storage import UnsafeStorage
from scheduler.tasks import SEND_TIMEOUT, DispatchTask
from scheduler.zones import UTC

# Health-check services answer in milliseconds; a slow one must not hold up the tick.
PING_TIMEOUT = 10.0
# A whole e-mail may take this many times MAIL_TIMEOUT.
MAIL_DEADLINE_FACTOR = 3


@dataclass
class RunOutcome:
    """What happened when an event ran."""

    event: Event
    started: datetime
    duration: float = 0.0
    status: ExitStatus | None = None
    # The end of the task's output (output.TAIL_BYTES at most), and how many bytes of
    # its beginning were left out; the output files get all of it.
    output: str = ""
    output_cut: int = 0
    errors: list[str] = field(default_factory=list)
    hook_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Why the task was not run at all: a benign reason (another run holds the lock),
    # with its code from listeners.SKIP_REASONS...
    skipped: str | None = None
    skip_code: str | None = None
    # ...or a failing one (the mutex store is unreachable).
    not_run: str | None = None
    timed_out: bool = False
    background: bool = False
    # The instant the run was due for (None for a run started by hand, schedule:test).
    scheduled: datetime | None = None
    # A dispatched task: the id the queue gave the job (None if none was sent).
    job_id: str | None = None

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

    def listener_arguments(self) -> dict[str, Any]:
        """What a task event's listeners may ask for (listeners.LISTENER_PARAMETERS)."""
        return {"event": self.event, "outcome": self,
                "output": self.output, "duration": self.duration,
                "exit_code": self.status.code if self.status is not None else None,
                "reason": self.skip_code or self.not_run, "job_id": self.job_id}

    def output_tail(self, lines: int = 20) -> list[str]:
        return self.output.rstrip("\n").splitlines()[-lines:] if self.output.strip() else []

    @property
    def result(self) -> str:
        """How a run that started ended: `success`, `failure` or `timeout`."""
        return ("timeout" if self.timed_out else
                "success" if self.task_succeeded else "failure")


def needs_mutex(event: Event) -> bool:
    """Whether running `event` involves the mutex store."""
    return event.one_server or event.overlap_expiration is not None


def run_event(event: Event, settings: Settings, *, scheduled: datetime | None = None,
              mutexes: Callable[[], MutexBackend] | None = None,
              allow_background: bool = True,
              listeners: Listeners | None = None,
              on_start: Callable[[], None] | None = None) -> RunOutcome:
    """Run `event` now and report what happened.

    `scheduled` is the instant the run is for (the one-server claim is keyed by it);
    `mutexes` gives the mutex store, asked for only when the event needs one. With
    `allow_background` false a background event runs in the foreground too.
    `listeners` are told of the run's task events, in the process that supervises it.
    `on_start` is called once the run is sure to go ahead, just before its task starts
    (for a background run: before it is handed to its supervisor).
    """
    listeners = listeners or Listeners()
    outcome = RunOutcome(event, started=datetime.now(UTC), scheduled=scheduled)
    lock = _take_mutexes(event, settings, scheduled or outcome.started, mutexes, outcome)
    if outcome.skipped:
        report_event(listeners, "skipped", outcome)
        return outcome
    if outcome.not_run:
        report_event(listeners, "failed", outcome)
        return outcome
    claim = _ClaimCheck(event, scheduled or outcome.started, mutexes, settings)
    if event.background and allow_background:
        if on_start is not None:
            on_start()
        _hand_to_supervisor(event, settings, lock, outcome, listeners, mutexes, claim)
        return outcome
    _run_and_finish(event, settings, lock, outcome, listeners, mutexes, claim, on_start)
    return outcome


class _ClaimCheck:
    """The one-server claim, asked again just before the task starts (after the before
    hooks): a second line of defence for a store that lost it (Redis restarted empty)."""

    def __init__(self, event: Event, scheduled: datetime,
                 mutexes: Callable[[], MutexBackend] | None, settings: Settings) -> None:
        self.event, self.scheduled, self.mutexes, self.settings = (
            event, scheduled, mutexes, settings)

    def lost(self) -> str | None:
        """Why the claim no longer stands, or None while it does (or is not needed)."""
        if not self.event.one_server:
            return None
        try:
            backend = self.mutexes() if self.mutexes is not None else backend_for(self.settings)
            if backend.confirm_claim(self.event.mutex_key, self.scheduled):
                return None
        except MutexUnavailable:
            return None  # it was claimed; a store gone now cannot say otherwise
        return ("already ran on another server (the store lost this server's claim and "
                "another server claimed the run)")


def report_event(listeners: Listeners, name: str, outcome: RunOutcome) -> None:
    """Tell the listeners of `name` about `outcome`; what they raise becomes a warning."""
    if listeners:
        outcome.warnings.extend(listeners.dispatch(name, outcome.listener_arguments()))


def _run_and_finish(event: Event, settings: Settings, lock: HeldLock | None,
                    outcome: RunOutcome, listeners: Listeners,
                    mutexes: Callable[[], MutexBackend] | None,
                    claim: _ClaimCheck | None = None,
                    on_start: Callable[[], None] | None = None) -> None:
    try:
        report_event(listeners, "starting", outcome)
        _run_task(event, settings, lock, outcome, listeners, claim, on_start)
        if outcome.job_id and lock is not None and isinstance(event.task, DispatchTask):
            _remember_dispatch(event, settings, mutexes, outcome)
    finally:
        if lock is not None:
            lock.release()
        report_event(listeners, "finished", outcome)
        if not outcome.task_succeeded:
            report_event(listeners, "failed", outcome)
        if outcome.background:
            report_event(listeners, "background_finished", outcome)


def _hand_to_supervisor(event: Event, settings: Settings, lock: HeldLock | None,
                        outcome: RunOutcome, listeners: Listeners,
                        mutexes: Callable[[], MutexBackend] | None,
                        claim: _ClaimCheck | None = None) -> None:
    """Fork a detached supervisor that runs the task's whole lifecycle, and return.

    The supervisor is a grandchild in a session of its own, so it outlives the tick and
    no terminal or cron signal reaches it; it inherits the held lock.
    """
    clock = time.monotonic()

    def supervise() -> int:  # pragma: no cover - runs in the supervisor
        _detach_standard_streams()
        outcome.background = True
        _run_and_finish(event, settings, lock, outcome, listeners, mutexes, claim)
        return 0 if outcome.succeeded else 1

    def detach() -> int:  # pragma: no cover - runs in the intermediate child
        os.setsid()
        process.fork_child(supervise)
        return 0

    os.waitpid(process.fork_child(detach), 0)  # the intermediate child exits at once
    if lock is not None:
        lock.abandon()  # the supervisor holds it now
    outcome.background = True
    outcome.duration = time.monotonic() - clock


def _detach_standard_streams() -> None:  # pragma: no cover - runs in the supervisor
    null = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(null, descriptor)
    os.close(null)


def _take_mutexes(event: Event, settings: Settings, scheduled: datetime,
                  mutexes: Callable[[], MutexBackend] | None,
                  outcome: RunOutcome) -> HeldLock | None:
    """Claim the one-server slot and take the overlap lock that `event` asks for."""
    if not needs_mutex(event):
        return None
    try:
        backend = mutexes() if mutexes is not None else backend_for(settings)
        if event.one_server and not backend.claim(event.mutex_key, scheduled):
            outcome.skipped, outcome.skip_code = "already ran on another server", "other_server"
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
        outcome.skip_code = "overlap"
        return None
    if isinstance(event.task, DispatchTask) and not _previous_dispatch_ended(event, backend,
                                                                             outcome):
        taken.lock.release()
        return None
    if taken.stale is not None:
        outcome.warnings.append(
            f"the previous run ({taken.stale.describe()}) has held the lock for longer than "
            f"its expiration of {event.overlap_expiration} minutes; running anyway")
    return taken.lock


def _previous_dispatch_ended(event: Event, backend: MutexBackend, outcome: RunOutcome) -> bool:
    """For a dispatched task without overlapping: whether the workers have finished the
    job of its previous dispatch. If not, or if the queue cannot be asked, `outcome`
    says why it is not sent again (skipped, or not run)."""
    from scheduler.queues import DispatchFailed, overlap  # only for ticks that dispatch

    try:
        previous = overlap.previous_run(event, backend)
    except (DispatchFailed, MutexUnavailable) as error:
        outcome.not_run = str(error)
        return False
    if previous is None or previous.finished:
        return True
    if previous.finished is None:
        outcome.warnings.append(
            f"the queue cannot tell whether the previous run (task id {previous.job_id}) has "
            f"finished (a Celery result backend can), so without_overlapping() only keeps "
            f"two dispatches apart")
        return True
    outcome.skipped = (f"the previous run (task id {previous.job_id}) has not finished on "
                       f"the workers")
    outcome.skip_code = "overlap"
    return False


def _remember_dispatch(event: Event, settings: Settings,
                       mutexes: Callable[[], MutexBackend] | None, outcome: RunOutcome) -> None:
    from scheduler.queues import overlap  # only for ticks that dispatch

    assert outcome.job_id is not None
    try:
        backend = mutexes() if mutexes is not None else backend_for(settings)
        overlap.remember(event, backend, outcome.job_id)
    except MutexUnavailable as error:
        outcome.warnings.append(f"the next dispatch cannot know when this run ends: {error}")


def _run_task(event: Event, settings: Settings, lock: HeldLock | None,
              outcome: RunOutcome, listeners: Listeners, claim: _ClaimCheck | None = None,
              on_start: Callable[[], None] | None = None) -> None:
    clock = time.monotonic()
    hook_limit = hook_timeout_or_default(settings)
    _call_hooks("before", event.before_hooks, {"event": event}, outcome, hook_limit)
    _ping(event, "before", outcome, hook_limit)
    lost = claim.lost() if claim is not None else None
    if lost is not None:
        outcome.skipped, outcome.skip_code = lost, "other_server"
        return
    with output_module.open_spool(settings) as output:
        def orphaned() -> None:  # pragma: no cover - runs in the keeper
            # The supervisor was killed: the keeper stopped the task; tell the listeners
            # (the run history among them) that it failed.
            outcome.errors.append("its supervisor was killed while it ran, so it was stopped")
            outcome.duration = time.monotonic() - clock
            for task_event in ("finished", "failed"):
                report_event(listeners, task_event, outcome)

        if on_start is not None:
            on_start()
        try:
            child = process.start(event.task, output, settings, user=event.run_as,
                                  passed=event.run_as_env, on_orphaned=orphaned,
                                  lock_descriptors=lock.descriptors() if lock else ())
        except OSError as error:
            outcome.errors.append(f"could not start the task: {error}")
        else:
            if lock is not None:
                lock.keep_alive()  # only now: a renewal thread must not exist at the fork
            timeout = event.timeout_seconds
            if timeout is None and isinstance(event.task, DispatchTask):
                timeout = SEND_TIMEOUT  # a broker that never answers must not hang the tick
            outcome.status = _wait(child, timeout, outcome)
            outcome.job_id = getattr(child, "job_id", None)
        outcome.duration = time.monotonic() - clock
        tail = output_module.read_tail(output)
        outcome.output, outcome.output_cut = tail
        if event.output_path is not None:
            _write_output(event, settings, output, outcome)
    _send_mail(event, settings, outcome)
    # A hook that raises is reported, and fails the tick, but the task's own result
    # decides which of on_success and on_failure run.
    available = {"event": event, "output": outcome.output, "exit_code": outcome.exit_code}
    if outcome.task_succeeded:
        _call_hooks("on_success", event.success_hooks, available, outcome, hook_limit)
        _ping(event, "success", outcome, hook_limit)
    else:
        _call_hooks("on_failure", event.failure_hooks, available, outcome, hook_limit)
        _ping(event, "failure", outcome, hook_limit)
    _call_hooks("after", event.after_hooks, available, outcome, hook_limit)
    _ping(event, "after", outcome, hook_limit)


def _wait(child: process.Child, timeout: float | None, outcome: RunOutcome) -> ExitStatus:
    status = child.wait(timeout)
    if status is None:
        status = process.stop(child)
        outcome.timed_out = True
        outcome.errors.append(f"timed out after {timeout:g}s and was stopped")
    return status


def resolve_output_path(path: Path, settings: Settings) -> Path:
    """Output paths are relative to the project root, so cron's cwd does not matter."""
    return path if path.is_absolute() else settings.root / path


def _write_output(event: Event, settings: Settings, output: BinaryIO,
                  outcome: RunOutcome) -> None:
    assert event.output_path is not None
    path = resolve_output_path(event.output_path, settings)
    try:
        output_module.copy_to_file(output, path, append=event.append_output)
    except UnsafeStorage as error:
        outcome.errors.append(f"could not write the output: {error.strerror}")
    except OSError as error:
        outcome.errors.append(f"could not write the output to {path}: {error.strerror}")


def _send_mail(event: Event, settings: Settings, outcome: RunOutcome) -> None:
    """E-mail the output as asked; a mail problem is reported and fails nothing."""
    recipients = list(event.mail_to) if event.mail_to and (
        outcome.output.strip() or not event.mail_only_if_output) else []
    if not outcome.task_succeeded:
        recipients += [address for address in event.mail_on_failure_to
                       if address not in recipients]
    if not recipients:
        return
    from scheduler import notify  # the mail machinery, only for the runs that send mail

    try:
        mail = notify.MailSettings.from_settings(settings)
    except ValueError as error:
        outcome.warnings.append(f"no e-mail was sent: {error}")
        return
    subject = notify.output_mail_subject(event.display_name, outcome.task_succeeded,
                                         outcome.exit_code)
    # MAIL_TIMEOUT bounds each exchange with the server; the deadline bounds the whole
    # e-mail, which a server answering one byte at a time would otherwise stretch.
    limit = MAIL_DEADLINE_FACTOR * mail.timeout
    body = output_module.cut_notice(output_module.Tail(outcome.output, outcome.output_cut))
    body += outcome.output
    try:
        with within(limit, f"the e-mail to {', '.join(recipients)}"):
            problem = notify.send_mail(mail, recipients, subject, body)
    except DeadlinePassed as error:
        problem = f"{error} (three times MAIL_TIMEOUT); it was given up on"
    if problem:
        outcome.warnings.append(problem)


def _ping(event: Event, moment: str, outcome: RunOutcome, condition_timeout: float) -> None:
    for ping_moment, condition, url in event.pings:
        if ping_moment != moment:
            continue
        try:
            with within(condition_timeout, f"the condition of the ping to {url}"):
                wanted = call_in_supervisor(condition) if callable(condition) else condition
        except DeadlinePassed as error:
            outcome.warnings.append(f"{error} (SCHEDULER_HOOK_TIMEOUT); no ping was sent")
            continue
        except Exception as error:
            outcome.warnings.append(f"the condition of the ping to {url} raised {error!r}")
            continue
        if wanted:
            from scheduler.notify import ping  # urllib, only for the runs that ping

            # PING_TIMEOUT bounds each read; the deadline bounds the whole request, which
            # a server trickling one byte at a time would otherwise stretch for minutes.
            try:
                with within(PING_TIMEOUT, f"the ping to {url}"):
                    problem = ping(url, timeout=PING_TIMEOUT)
            except DeadlinePassed as error:
                problem = f"{error}; it was given up on"
            if problem:
                outcome.warnings.append(problem)


def _call_hooks(kind: str, hooks: Iterable[Callable[..., Any]], available: dict[str, Any],
                outcome: RunOutcome, timeout: float) -> None:
    for hook in hooks:
        name = getattr(hook, "__qualname__", repr(hook))
        try:
            with within(timeout, f"the {kind} hook {name}"):
                call_hook(hook, available)
        except DeadlinePassed as error:
            outcome.hook_errors.append(f"{error} (SCHEDULER_HOOK_TIMEOUT) and was given up on")
        except Exception:
            outcome.hook_errors.append(f"{kind} hook {name} raised:\n{traceback.format_exc()}")
