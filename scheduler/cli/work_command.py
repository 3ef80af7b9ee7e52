"""`schedule:work`: the scheduler in the foreground, for systemd, supervisor or Docker."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer

from scheduler.settings import current
from scheduler.ticklog import FORMAT_VARIABLE, TickLog


def schedule_work(
    grace: Annotated[float, typer.Option(
        "--grace", metavar="SECONDS", min=0,
        help="On SIGTERM or SIGINT, how long to wait for running schedule:run children "
             "and background runs before stopping them and their tasks (SIGTERM, then "
             "SIGKILL 5s later; the exit code is then 1).")] = 60.0,
    interval_seconds: Annotated[int, typer.Option(
        "--interval-seconds", metavar="N", min=1,
        help="For testing and debugging: the period between ticks; boundaries are "
             "multiples of N seconds since the epoch. Each child still gets --at the "
             "minute its boundary falls in, so below 60 the later ticks of a minute "
             "find it claimed by the first and run nothing.")] = 60,
) -> None:
    """Run the scheduler in the foreground, starting schedule:run every minute.

    At second 0 of each minute it starts `artisan schedule:run --at <minute>`
    as a child process, and prints what the child prints.

    SIGTERM or SIGINT stops it: it starts no more ticks, waits up to --grace
    seconds for the running ones and their background runs and exits 0; a
    second signal stops them now. SIGHUP changes nothing: every tick reads the
    kernel afresh.
    Under systemd, use KillMode=mixed and a TimeoutStopSec above the grace.
    """
    from scheduler.keeper import become_subreaper
    from scheduler.worker import Worker, adopted_runs, tick_launcher  # schedule:work only

    settings = current()
    # The worker's own lines as the ticks' (text or JSON, and the scheduler logger), so
    # that a container's log collector reads one format from this process's stdout.
    say = TickLog(log_format=settings.get(FORMAT_VARIABLE))
    # Background runs detach from their tick; as a subreaper the worker adopts them, so
    # a stop waits for them (and stops them after the grace) like the ticks.
    become_subreaper()
    worker = Worker(tick_launcher(settings.root), interval=interval_seconds,
                    grace=grace, echo=say, zone=settings.timezone, adopt=adopted_runs)

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.request_stop()

    def reload(signum: int, frame: FrameType | None) -> None:
        # Every tick is a new process that reads the kernel and .env afresh.
        say("SIGHUP: the next tick reads the kernel and .env afresh; running on.")

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    signal.signal(signal.SIGHUP, reload)
    every = "minute" if interval_seconds == 60 else f"{interval_seconds}s"
    say(f"Running the schedule every {every}; stop with Ctrl+C or SIGTERM.")
    raise typer.Exit(worker.run())


def register(app: typer.Typer) -> None:
    app.command("schedule:work")(schedule_work)
