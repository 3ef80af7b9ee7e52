"""`schedule:work`'s loop: start `schedule:run` at every minute boundary, in the foreground.

The worker does what cron does for `schedule:run`, for hosts without cron (a container,
a systemd service, supervisor):

* at second 0 of every wall-clock minute it starts `artisan schedule:run --at <minute>`
  as a child process, so the child evaluates that exact minute even if it starts a
  little late, and a kernel edited since the last minute is read afresh;
* it never starts one boundary twice: it remembers the next boundary due, so a late
  wake-up or a clock set back runs nothing again, and a wake-up several boundaries late
  starts only the current one and says how many were missed;
* it does not wait for one tick before starting the next (a tick whose tasks run long
  overlaps the next, as under cron); it reaps the finished ones as it goes;
* asked to stop (`request_stop`, which the command calls on SIGTERM or SIGINT) it starts
  nothing more and waits up to `grace` seconds for the running ticks; then it stops
  them and everything they started (SIGTERM, SIGKILL `kill_after` seconds later) and
  exits 1. A second stop request ends the grace period at once, a third skips to SIGKILL.

The clock (`now`, `sleep`) and the way a tick is started (`launch`) are parameters, so
the loop can be driven by a fake clock in tests.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Protocol

from scheduler.keeper import descendants
from scheduler.process import ExitStatus, artisan_argv
from scheduler.runner import format_stamp
from scheduler.zones import UTC

# The longest the loop sleeps at once: how soon it notices a stop request or a finished
# tick. (A signal does not cut `time.sleep` short: Python resumes it after the handler.)
POLL_SECONDS = 0.25
KILL_AFTER_SECONDS = 5.0

Echo = Callable[[str], None]


class TickProcess(Protocol):
    """A started `schedule:run`: poll it, and stop it together with what it started."""

    pid: int

    def poll(self) -> int | None:
        """Its return code once it has ended (negative: killed by that signal), else None."""
        ...

    def terminate(self) -> None:
        """Send SIGTERM to the tick and to every process it started."""
        ...

    def kill(self) -> None:
        """Send SIGKILL to the tick and to every process it started."""
        ...


Launch = Callable[[datetime], TickProcess]
# The processes the worker has adopted (see AdoptedRun) that it does not know yet.
Adopt = Callable[[set[int]], list[TickProcess]]


class Worker:
    """The foreground loop of `schedule:work`."""

    def __init__(self, launch: Launch, *, interval: int = 60, grace: float = 60.0,
                 kill_after: float = KILL_AFTER_SECONDS,
                 now: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 echo: Echo = print, zone: tzinfo = UTC,
                 adopt: Adopt = lambda known: []) -> None:
        if interval < 1:
            raise ValueError(f"the interval must be at least 1 second, not {interval}")
        self.launch = launch
        self.interval = interval
        self.grace = grace
        self.kill_after = kill_after
        self.now = now
        self.sleep = sleep
        self.echo = echo
        self.zone = zone
        self.adopt = adopt
        self.running: list[tuple[int, TickProcess]] = []  # (boundary, tick)
        self.stop_requests = 0

    def request_stop(self) -> None:
        """Start no more ticks (first call), stop waiting for them (second), kill (third).

        Safe to call from a signal handler: it only counts.
        """
        self.stop_requests += 1

    def boundary_at_or_before(self, moment: float) -> int:
        """The latest boundary (a multiple of the interval since the epoch) not after `moment`."""
        return math.floor(moment / self.interval) * self.interval

    def run(self) -> int:
        """Start ticks until asked to stop, then wind down; return the exit code."""
        # The boundary the worker starts in has passed (cron, or the worker this one
        # replaces, ran it): the first tick is the next one.
        due = self.boundary_at_or_before(self.now()) + self.interval
        while not self.stop_requests:
            self._reap()
            now = self.now()
            if now < due:  # early, or the clock was set back: nothing is due yet
                self.sleep(min(due - now, POLL_SECONDS))
                continue
            boundary = self.boundary_at_or_before(now)
            missed = (boundary - due) // self.interval
            if missed:
                self.echo(f"Missed {missed} tick(s) from {self._stamp(due)}: the worker woke "
                          f"late or the clock jumped; starting only {self._stamp(boundary)}.")
            self._start(boundary)
            due = boundary + self.interval
        return self._wind_down()

    def _start(self, boundary: int) -> None:
        at = datetime.fromtimestamp(boundary - boundary % 60, UTC)  # the boundary's minute
        self.echo(f"{self._stamp(boundary)}  Running schedule:run")
        try:
            tick = self.launch(at)
        except OSError as error:  # e.g. out of processes: report it, try again next time
            self.echo(f"Could not start schedule:run: {error}")
            return
        self.running.append((boundary, tick))

    def _reap(self) -> None:
        # Background runs outlive their tick: the worker waits for them and stops them
        # as it does for ticks.
        known = {tick.pid for _, tick in self.running}
        self.running += [(0, adopted) for adopted in self.adopt(known)]
        for boundary, tick in list(self.running):
            code = tick.poll()
            if code is None:
                continue
            self.running.remove((boundary, tick))
            if code < 0:  # a failing task only makes it exit 1, and it says so itself
                status = ExitStatus.from_returncode(code).describe()
                self.echo(f"schedule:run of {self._stamp(boundary)} was {status}.")

    def _wind_down(self) -> int:
        self._reap()
        if not self.running:
            self.echo("Stopped.")
            return 0
        self.echo(f"Stopping: waiting up to {self.grace:g}s for {len(self.running)} running "
                  f"schedule:run (signal again to stop them now).")
        self._wait(self.grace, lambda: self.stop_requests < 2)
        if not self.running:
            self.echo("Stopped.")
            return 0
        stopped = [tick for _, tick in self.running]
        self.echo(f"Stopping {len(stopped)} schedule:run still running, and their tasks.")
        for tick in stopped:
            tick.terminate()
        self._wait(self.kill_after, lambda: self.stop_requests < 3)
        # Even a tick that ended may have left a task behind that ignores SIGTERM.
        for tick in stopped:
            tick.kill()
        self._wait(self.kill_after, lambda: True)  # reap them: leave no zombie behind
        self.echo("Stopped, after killing running ticks.")
        return 1

    def _wait(self, seconds: float, keep_waiting: Callable[[], bool]) -> None:
        """Reap ticks until none runs, `seconds` pass, or `keep_waiting` says no."""
        deadline = self.now() + seconds
        self._reap()
        while self.running and keep_waiting():
            left = deadline - self.now()
            if left <= 0:
                return
            self.sleep(min(left, POLL_SECONDS))
            self._reap()

    def _stamp(self, boundary: int) -> str:
        return format_stamp(datetime.fromtimestamp(boundary, UTC), self.zone)


class TickChild:
    """`python -m scheduler schedule:run --at <minute>` (the same command line as
    artisan) in a process group and session of its own.

    Its own session keeps a Ctrl-C in the worker's terminal from reaching it (the worker
    decides when ticks stop) and lets it be signalled as a group. The tasks it starts
    are in sessions of their own too (see scheduler.process), so stopping a tick also
    finds its descendants in /proc and signals their process groups.
    """

    def __init__(self, root: Path, at: datetime) -> None:
        argv = [*artisan_argv(), "schedule:run", "--at", at.strftime("%Y-%m-%dT%H:%M:%SZ")]
        # Output is inherited: the children write straight to the worker's stdout/stderr.
        self._process = subprocess.Popen(argv, cwd=root, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.pid = self._process.pid
        self._groups = {self.pid}

    def poll(self) -> int | None:
        return self._process.poll()

    def terminate(self) -> None:
        # Freeze the tick while its tree is read, so it cannot start a task in between;
        # the SIGTERM it is sent meanwhile is delivered when it continues.
        _signal_groups([self.pid], signal.SIGSTOP)
        self._groups |= self._descendant_groups()
        _signal_groups(self._groups, signal.SIGTERM)
        _signal_groups([self.pid], signal.SIGCONT)

    def kill(self) -> None:
        self._groups |= self._descendant_groups()
        _signal_groups(self._groups, signal.SIGKILL)

    def _descendant_groups(self) -> set[int]:
        if self._process.returncode is not None:  # reaped: its pid may be someone else's
            return set()
        return process_groups_below(self.pid)


class AdoptedRun:
    """A background run's supervisor, adopted by the worker (a subreaper) when the tick
    that started it ended; signalled with everything it started, like a tick."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._code: int | None = None
        self._groups = {pid}  # a supervisor leads a session of its own

    def poll(self) -> int | None:
        if self._code is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self._code = 0
            else:
                if pid:  # its keeper logs how its task ended; the worker need not say
                    self._code = max(0, os.waitstatus_to_exitcode(status))
        return self._code

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        if self._code is None:
            self._groups |= process_groups_below(self.pid)
        _signal_groups(self._groups, signum)


def adopted_runs(known: set[int]) -> list[TickProcess]:
    """The children of this process that it did not start: orphans it adopted."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as handle:
            children = {int(pid) for pid in handle.read().split()}
    except OSError:
        return []
    return [AdoptedRun(pid) for pid in sorted(children - known)]


def process_groups_below(root: int) -> set[int]:
    """The process groups of every descendant of `root`, read from /proc.

    Empty where there is no /proc (not Linux): then only the tick's own group is
    signalled, and tasks it started in sessions of their own outlive it.
    """
    groups = set(descendants(root).values())
    groups.discard(os.getpgrp())  # never the worker's own group
    return groups


def _signal_groups(groups: Iterable[int], signum: int) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)


def tick_launcher(root: Path) -> Launch:
    """Start ticks of the project in the folder `root`, with the entry point that runs."""
    return lambda at: TickChild(root, at)
