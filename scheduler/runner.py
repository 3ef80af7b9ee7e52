"""One tick of the scheduler, start to exit: what `artisan schedule:run` does.

The tick finds the events due in its minute and runs them in the order they were
declared, one after another, each in a child process. Each run is first claimed for
this host and marked started (`scheduler.claims`), so a second tick of the minute runs
only what never started: nothing, after a tick that finished; the rest, after one
that was killed. Events that repeat within the minute
(`every(30)`) are started at their offsets by a loop process of their own, which keeps
the tick alive until the minute ends. The tick prints one line per task and exits
non-zero if anything it ran failed; one failing task never stops the others.

While the schedule is paused (`schedule:pause`), a tick says so in one line and runs
only the events marked `even_when_paused()`; its sub-minute loop checks the pause
before starting each run, so a pause raised mid-minute holds back the rest of it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection
from datetime import datetime, tzinfo

from scheduler.deadline import DeadlinePassed, within
from scheduler.event import Event
from scheduler.hooks import DEFAULT_HOOK_TIMEOUT, hook_timeout, hook_timeout_or_default
from scheduler.maintenance import is_down
from scheduler.mutex import MutexUnavailable, backend_for, flags_for, namespace
from scheduler.pause import paused_message, paused_since
from scheduler.schedule import Schedule, floor_minute
from scheduler.settings import Settings
from scheduler.storage import UnsafeStorage, name_part, storage_folder
from scheduler.tasks import CommandTask
from scheduler.ticklog import ERROR, FORMAT_VARIABLE, INFO, WARNING, TickLog
from scheduler.zones import UTC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from scheduler.claims import HostClaims, RunClaim
    from scheduler.execution import RunOutcome
    from scheduler.history.tick import TickHistory
    from scheduler.mutex.base import MutexBackend
    from scheduler.mutex.file_flags import FileFlags

LINE_WIDTH = 79
NOTHING_DUE = "No scheduled tasks are ready to run."
# The flag `schedule:interrupt` raises, until the end of the minute.
INTERRUPT_FLAG = "interrupt"
# How early a repeating event's run is forked before its instant (a fork of the tick
# takes a few milliseconds; the child then waits for the instant itself).
REPEAT_LEAD_SECONDS = 0.05

Echo = Callable[[str], None]


class Tick:
    """One run of the schedule for one minute.

    Every line it says goes to `echo` (default: stdout, which may be closed or full
    without stopping anything) in the format of SCHEDULER_LOG_FORMAT, and through the
    `scheduler` logger (see scheduler.ticklog).
    """

    def __init__(self, schedule: Schedule, settings: Settings, at: datetime, *,
                 echo: Echo | None = None,
                 known_commands: Callable[[], Collection[str]] | None = None) -> None:
        self.schedule = schedule
        self.settings = settings
        self.minute = floor_minute(at)
        self.echo = TickLog(echo, settings.get(FORMAT_VARIABLE))
        self.known_commands = known_commands
        self._known: Collection[str] | None = None
        self._unknown: set[int] = set()
        self.failed = False
        self.dry_run = False
        self._mutexes: MutexBackend | None = None
        self._flags: FileFlags | MutexBackend | None = None
        self._pause_reported = False
        self.hook_timeout = hook_timeout_or_default(settings)
        self._host_claims: HostClaims | None = None
        self._claim_keys: dict[int, str] = {}
        self._claims_warned = False
        self._history: TickHistory | None = None

    @property
    def _claims(self) -> HostClaims:
        """This host's claims on runs, set up when a run is first claimed: a tick that
        runs nothing adds no claim, so it need not clear away the old ones either."""
        if self._host_claims is None:
            from scheduler.claims import HostClaims

            self._host_claims = HostClaims(
                self.settings, name_part(f"{namespace(self.settings)}-{self.settings.host}"))
            self._host_claims.forget_old(self.minute)
        return self._host_claims

    def mutexes(self) -> MutexBackend:
        """The mutex store, set up on first use (most ticks need none)."""
        if self._mutexes is None:
            self._mutexes = backend_for(self.settings)
        return self._mutexes

    def flags(self) -> FileFlags | MutexBackend:
        """Where the pause and interrupt flags are: the mutex store once it is set up, a
        reader of the flag files alone before (every tick reads the pause flag)."""
        if self._mutexes is not None or self.settings.cache_url:
            return self.mutexes()  # one connection to a shared store, not two
        if self._flags is None:
            self._flags = flags_for(self.settings)
        return self._flags

    def run(self, *, dry_run: bool = False) -> int:
        """Run (or with `dry_run`, list) the due events; return the exit code."""
        self.dry_run = dry_run
        refusal = self._storage_refusal()
        if refusal is not None:
            self.echo(refusal)
            return 2
        if not dry_run:
            from scheduler.history.tick import TickHistory  # not for dry runs

            self._history = TickHistory.begin(self.schedule, self.settings, self.minute)
        try:
            hook_timeout(self.settings)
        except ValueError as error:
            self._fail(f"{error}; using {DEFAULT_HOOK_TIMEOUT:g} seconds.")
        due = self._without_unknown_commands([
            event for event, _wall in self.schedule.due_with_wall_times(
                self.minute, self.settings.app_env, in_maintenance=False)])
        if due:
            self._record_runs()
        if is_down(self.settings):
            due = self._hold_back(due, lambda event: event.runs_in_maintenance, "maintenance",
                                  "the application is in maintenance mode")
        paused = self._paused_since()
        if paused is not None:
            self.echo(paused_message(paused, self.settings.timezone))
            due = self._hold_back(due, lambda event: event.runs_when_paused, "paused",
                                  "the schedule is paused")
        repeating = [event for event in due if event.repeat_seconds]
        if dry_run:
            return self._list(due, quiet=paused is not None)
        late = self._missed_runs(paused is not None)
        runnable = {id(event) for event in self._without_unknown_commands(
            [event for event, _missed in late])}
        late = [(event, missed) for event, missed in late if id(event) in runnable]
        if late:
            self._record_runs()
        loop = self._start_sub_minute_loop(repeating) if repeating else None
        ran_any = loop is not None
        already = []
        if repeating and loop is None:
            already.append("The sub-minute tasks of this minute run in another tick of "
                           "this host.")
        for event, missed in late:
            if self._conditions_pass(event):
                # Claimed per event and instant like an on-time run: made once, and a
                # tick for that minute (`--at` going backwards) finds it started.
                ran_any |= self._run_claimed(event, missed, already, late=True)
        for event in due:
            if event.repeat_seconds or not self._conditions_pass(event):
                continue
            ran_any |= self._run_claimed(event, self.minute, already)
        if loop is not None:
            _, status = os.waitpid(loop, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                self.failed = True
        if already and not ran_any:
            self.echo(f"A tick already ran for {self._stamp(self.minute)} on this host "
                      f"({self.settings.host}); nothing to do.")
        else:
            for line in already:
                self.echo(line)
            if not ran_any and not repeating and paused is None:  # a paused tick said why
                self.echo(NOTHING_DUE)
        return 1 if self.failed else 0

    def _record_runs(self) -> None:
        """Have the run history record this tick's runs and skips (before the first)."""
        if self._history is not None and not self.dry_run:
            self._history.record_runs()

    def _without_unknown_commands(self, events: list[Event]) -> list[Event]:
        """`events` without the command tasks whose artisan command does not exist;
        each of those is said once and fails the tick. The commands are looked up only
        when a command task is due: finding them imports the commands package."""
        commands = [event for event in events if isinstance(event.task, CommandTask)]
        if not commands or self.known_commands is None:
            return events
        if self._known is None:
            self._known = set(self.known_commands())
        for event in commands:
            name = event.task.name  # type: ignore[union-attr]
            if name in self._known or id(event) in self._unknown:
                continue
            self._unknown.add(id(event))
            self._fail(f"Skipping {event.display_name}: there is no artisan command "
                       f"named {name!r} (artisan list shows them)",
                       task=event.display_name, status="SKIPPED")
        return [event for event in events if id(event) not in self._unknown]

    def _missed_runs(self, paused: bool) -> list[tuple[Event, datetime]]:
        """The fixed-time runs due in the minutes since the last one processed (this
        host's, or the shared store's for `on_one_server` events), which run late now;
        records this minute as processed."""
        from scheduler import catchup  # its work is small, but only ticks need it

        try:
            default = catchup.catch_up_window(self.settings)
        except ValueError as error:
            self._fail(f"{error}; catching up within the default "
                       f"{catchup.DEFAULT_CATCH_UP} instead.")
            default = catchup.DEFAULT_CATCH_UP
        try:
            host_since = catchup.advance_host_minute(
                self.settings, name_part(f"{namespace(self.settings)}-{self.settings.host}"),
                self.minute)
        except (OSError, ValueError) as error:  # a full or read-only storage, say
            self.echo(f"Warning: missed minutes are not caught up: the last minute "
                      f"processed cannot be kept ({error}).")
            host_since = None
        events = [event for event in self.schedule.events
                  if catchup.catches_up(event, default)
                  and (event.runs_when_paused or not paused)]
        shared = [event for event in events if event.one_server]
        shared_since = None
        if shared:
            try:
                shared_since = catchup.advance_shared_minute(self.mutexes(), self.minute)
            except MutexUnavailable:
                shared = []  # their runs need the store anyway; the tick said it is down
        down = is_down(self.settings)
        missed = [
            *catchup.missed_runs(self.schedule, [event for event in events
                                                 if not event.one_server],
                                 self.minute, host_since, default, self.settings.app_env, down),
            *catchup.missed_runs(self.schedule, shared, self.minute, shared_since, default,
                                 self.settings.app_env, down)]
        order = {id(event): index for index, event in enumerate(self.schedule.events)}
        return sorted(missed, key=lambda pair: order[id(pair[0])])

    def _run_claimed(self, event: Event, instant: datetime, already: list[str], *,
                     late: bool = False) -> bool:
        """Run `event` for `instant` unless this host started that run already (then
        say why in `already`); whether it ran."""
        claim = self._claim(event, instant)
        if isinstance(claim, str):
            already.append(f"Skipping {event.display_name}: {claim}")
            return False
        if late:
            self.echo(f"Catching up {event.display_name}: it was due at "
                      f"{self._stamp(instant)}, a minute no tick processed; running it late.")
        from scheduler.execution import run_event  # only ticks that run something

        try:
            outcome = run_event(event, self.settings, scheduled=instant,
                                mutexes=self.mutexes, listeners=self.schedule.listeners,
                                on_start=self._starter(claim))
        finally:
            if claim is not None:
                claim.release()
        self._report(outcome)
        return True

    def _storage_refusal(self) -> str | None:
        """Why the storage folder may not be used (others can write to it), or None.

        A storage folder that is missing, or cannot be opened at all, is no reason to
        refuse: the tasks that need it make it, or say why they cannot, one by one.
        """
        try:
            with storage_folder(self.settings, create=False):
                return None
        except UnsafeStorage as error:
            return str(error.strerror)
        except OSError:
            return None

    def _claim(self, event: Event, instant: datetime) -> RunClaim | str | None:
        """This host's claim on `event`'s run for `instant`: a RunClaim (run it, and
        mark it started with `_starter`), a reason to skip it (it started already), or
        None when the claims cannot be read or written: then it runs anyway, after one
        warning per tick, since a full or read-only disk must not stop a task that
        needs no storage."""
        if not self._claim_keys:
            self._claim_keys = claim_keys(self.schedule)
        try:
            return self._claims.claim(self._claim_keys[id(event)], instant)
        except (OSError, ValueError) as error:
            self._warn_claims_unavailable(error)
            return None

    def _starter(self, claim: RunClaim | None) -> Callable[[], None] | None:
        """What `run_event` calls just before the task starts: record "started" (as
        late as possible, so a tick killed earlier leaves the run to a retry)."""
        if claim is None:
            return None

        def mark_started() -> None:
            try:
                claim.mark_started()
            except (OSError, ValueError) as error:
                self._warn_claims_unavailable(error)

        return mark_started

    def _warn_claims_unavailable(self, error: BaseException) -> None:
        if self._claims_warned:
            return
        self._claims_warned = True
        from scheduler.claims import FOLDER

        reason = getattr(error, "strerror", None) or str(error)
        # The folder, not `self._claims`: setting those up may be what failed.
        where = self.settings.storage.joinpath(*FOLDER)
        self.echo(f"Warning: cannot record which tasks started in {where} "
                  f"({reason}); running them without the guard against a second tick "
                  f"of this minute.")

    def _paused_since(self) -> str | None:
        """When the schedule was paused, or None; an unreachable store fails the tick
        but holds nothing back (a pause that cannot be read cannot be honoured)."""
        try:
            return paused_since(self.flags())
        except MutexUnavailable as error:
            self._fail(f"Could not tell whether the schedule is paused ({error}); running "
                       f"as if it were not.")
            return None

    def _list(self, due: list[Event], *, quiet: bool = False) -> int:
        stamp = self._stamp(self.minute)
        listed = []
        for event in due:
            if not self._conditions_pass(event):
                continue
            every = f" every {event.repeat_seconds} seconds" if event.repeat_seconds else ""
            name = event.display_name
            listed.append((f"{stamp}  Would run {name}{every}", name))
        self.echo.lines(listed)
        if not listed and not quiet:
            self.echo(NOTHING_DUE)
        return 1 if self.failed else 0

    # -- sub-minute events: a loop process for the rest of the minute -----------------------
    def _start_sub_minute_loop(self, events: list[Event]) -> int | None:
        """Fork the process that starts the repeating events at their offsets.

        A process of its own, so that its runs start on time whatever the foreground
        tasks of this tick are doing; each run is a child of it, so a slow run never
        delays the next offset.
        """
        from scheduler import descriptors
        from scheduler.keeper import prepare as prepare_keeper
        from scheduler.process import fork_child
        from scheduler.subminute import SubMinuteLoop  # only ticks with such events

        minute_start = float(int(time.time()) // 60 * 60)
        try:
            guard = self._claims.hold_loop(self.minute)
        except (OSError, ValueError) as error:
            self._warn_claims_unavailable(error)
            guard = -1
        if guard is None:
            return None  # the loop of another tick of this minute is alive

        def loop_process() -> int:  # pragma: no cover - runs in the forked loop process
            self.failed = False
            if guard >= 0:
                descriptors.close_in_forked_jobs(guard)  # it dies with this loop, not its runs
            # What each run's keeper needs, loaded once here, not by each run after its
            # instant has come.
            prepare_keeper()
            runs: list[int] = []
            loop = SubMinuteLoop(events, minute_start,
                                 lambda event, at: self._start_repeat(event, at, runs),
                                 self._interrupted, lead=REPEAT_LEAD_SECONDS)
            if not loop.run():
                self.echo("Sub-minute loop interrupted (schedule:interrupt).")
            for run in runs:
                _, status = os.waitpid(run, 0)
                self.failed |= os.waitstatus_to_exitcode(status) != 0
            return 1 if self.failed else 0

        try:
            return fork_child(loop_process)
        finally:
            if guard >= 0:
                os.close(guard)  # the loop process holds it now

    def _start_repeat(self, event: Event, at: float, runs: list[int]) -> None:
        """Fork the run of `event` for the instant `at`, a moment away (the loop calls
        this REPEAT_LEAD_SECONDS early): the child waits for the instant itself, so the
        cost of forking does not make the run late. The filters are asked for each run,
        in the child, at the instant itself, so that they see the time the run is for."""
        from scheduler.execution import run_event
        from scheduler.process import fork_child

        instant = datetime.fromtimestamp(at, UTC)
        if not event.runs_when_paused and self._paused_now():
            self._skipped(event, "paused", "the schedule is paused", instant)
            return
        claim = self._claim(event, instant)
        if isinstance(claim, str):
            return  # a run of this instant started in an earlier loop of the minute
        starter = self._starter(claim)

        def one_run() -> int:  # pragma: no cover - runs in the forked child
            self.failed = False
            time.sleep(max(0.0, at - time.time()))
            if is_down(self.settings) and not event.runs_in_maintenance:
                self._skipped(event, "maintenance", "the application is in maintenance mode",
                              instant)
                return 0
            if not self._conditions_pass(event, instant):
                return 1 if self.failed else 0
            self._report(run_event(event, self.settings, scheduled=instant,
                                   mutexes=self.mutexes, listeners=self.schedule.listeners,
                                   on_start=starter))
            return 1 if self.failed else 0

        try:
            runs.append(fork_child(one_run))
        finally:
            if claim is not None:
                claim.release()  # the run's process holds it now, until it starts

    def _paused_now(self) -> bool:
        """Whether a pause holds back the sub-minute loop's next run (said once)."""
        try:
            since = paused_since(self.flags())
        except MutexUnavailable:
            return False  # the tick reported the store at its start; runs go on
        if since is not None and not self._pause_reported:
            self._pause_reported = True
            self.echo(paused_message(since, self.settings.timezone))
        return since is not None

    def _interrupted(self) -> bool:
        try:
            return self.flags().get_flag(INTERRUPT_FLAG) is not None
        except MutexUnavailable:
            return False

    def _conditions_pass(self, event: Event, scheduled: datetime | None = None) -> bool:
        if not event.conditions:
            return True  # nothing to ask, and no alarm to set for it
        try:
            with within(self.hook_timeout, f"the when/skip condition of {event.display_name}"):
                if event.conditions_pass():
                    return True
        except DeadlinePassed as error:
            self._fail(f"Skipping {event.display_name}: {error} (SCHEDULER_HOOK_TIMEOUT).")
            return False
        except Exception:
            import traceback

            self._fail(f"Skipping {event.display_name}: its when/skip condition raised:\n"
                       + _indent(traceback.format_exc()), task=event.display_name,
                       status="SKIPPED")
            return False
        self._skipped(event, "filter", "its when/skip conditions said no", scheduled)
        return False

    def _hold_back(self, due: list[Event], exempt: Callable[[Event], bool], code: str,
                   reason: str) -> list[Event]:
        """The due events that `exempt` lets run; the others are reported skipped."""
        running = []
        for event in due:
            if exempt(event):
                running.append(event)
            else:
                self._skipped(event, code, reason)
        return running

    def _skipped(self, event: Event, code: str, reason: str,
                 scheduled: datetime | None = None) -> None:
        """Tell the listeners that a due run of `event` (for the instant `scheduled`,
        default this tick's minute) was not started, and why."""
        if not self.schedule.listeners or self.dry_run:
            return
        from scheduler.execution import RunOutcome, report_event

        outcome = RunOutcome(event, started=datetime.now(UTC), skipped=reason, skip_code=code,
                             scheduled=scheduled or self.minute)
        report_event(self.schedule.listeners, "skipped", outcome)
        for warning in outcome.warnings:
            self.echo(f"Warning: {event.display_name}: {warning}")

    def _report(self, outcome: RunOutcome) -> None:
        name = outcome.event.display_name
        for warning in outcome.warnings:
            self.echo(f"Warning: {name}: {warning}", task=name, level=WARNING)
        if outcome.skipped:
            self.echo(f"Skipping {name}: {outcome.skipped}", task=name, status="SKIPPED")
            return
        if outcome.not_run:
            self._fail(f"Skipping {name}: {outcome.not_run}", task=name, status="SKIPPED")
            return
        if outcome.background:
            self.echo(run_line(self._stamp(outcome.started), f"{name} in the background",
                               outcome.duration, "STARTED"),
                      task=name, status="STARTED", duration=outcome.duration)
            return
        status = "DONE" if outcome.succeeded else "FAIL"
        level = INFO if outcome.succeeded else ERROR
        self.echo(run_line(self._stamp(outcome.started), outcome.event.display_name,
                           outcome.duration, status),
                  task=name, status=status, duration=outcome.duration, level=level)
        if outcome.job_id:
            self.echo(f"    sent as task id {outcome.job_id}", task=name, status=status,
                      level=level)
        if not outcome.task_succeeded:
            reason = outcome.status.describe() if outcome.status else "did not run"
            self.echo(f"    {reason}", task=name, status=status, level=level)
            for line in outcome.output_tail():
                self.echo(f"    | {line}", task=name, status=status, level=level)
        for error in outcome.errors + outcome.hook_errors:
            self.echo(_indent(error), task=name, status=status, level=ERROR)
        if not outcome.succeeded:
            self.failed = True

    def _fail(self, message: str, *, task: str | None = None, status: str | None = None) -> None:
        self.failed = True
        self.echo(message, task=task, status=status, level=ERROR)

    def _stamp(self, moment: datetime) -> str:
        return format_stamp(moment, self.settings.timezone)


def claim_keys(schedule: Schedule) -> dict[int, str]:
    """Each event's name in this host's claims (by `id`): its mutex key, and which of
    the events sharing that key it is (two identical declarations are two runs)."""
    seen: dict[str, int] = {}
    keys = {}
    for event in schedule.events:
        index = seen[event.mutex_key] = seen.get(event.mutex_key, -1) + 1
        keys[id(event)] = event.mutex_key if index == 0 else f"{event.mutex_key}.{index}"
    return keys


def format_stamp(moment: datetime, zone: tzinfo) -> str:
    """A moment as the tick prints it: local wall time in the application's zone."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def run_line(stamp: str, name: str, seconds: float, status: str) -> str:
    """`2026-03-08 02:00:00  Running backup ........... 12ms DONE`"""
    left = f"{stamp}  Running {name} "
    right = f" {format_duration(seconds)} {status}"
    dots = "." * max(3, LINE_WIDTH - len(left) - len(right))
    return f"{left}{dots}{right}"


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.rstrip("\n").splitlines())
