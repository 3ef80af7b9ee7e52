"""`schedule:run`, `schedule:list`, `schedule:test`, and the commands that act on the
schedule's shared state: `schedule:clear-cache`, `schedule:interrupt`, `schedule:pause`
and `schedule:resume` (alias `schedule:continue`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated

import typer

from scheduler import clock
from scheduler.cli.catalog import command_names
from scheduler.event import Event
from scheduler.execution import run_event
from scheduler.kernel import KernelError, kernel_timeout, load_schedule_within
from scheduler.mutex import MutexUnavailable, backend_for
from scheduler.pause import pause, paused_message, paused_since, resume
from scheduler.runner import INTERRUPT_FLAG, Tick, format_stamp, run_line
from scheduler.schedule import Schedule, floor_minute
from scheduler.settings import Settings, current
from scheduler.tasks import CommandTask
from scheduler.zones import zone_named

AtOption = Annotated[str | None, typer.Option(
    "--at", metavar="INSTANT",
    help="Act as if the clock read this ISO-8601 instant (e.g. 2026-03-08T07:00:00Z); "
         "without an offset it is read in APP_TIMEZONE.")]


@contextmanager
def _store_errors_end_the_command() -> Iterator[None]:
    """A mutex store that cannot be reached ends the command: its message, exit 1."""
    try:
        yield
    except MutexUnavailable as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


def _load(settings: Settings) -> Schedule:
    try:
        return load_schedule_within(settings, kernel_timeout(settings))
    except KernelError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


def _known_commands(context: typer.Context, schedule: Schedule) -> list[str] | None:
    """Every artisan command name, when the schedule has command tasks to check."""
    if not any(isinstance(event.task, CommandTask) for event in schedule.events):
        return None
    return command_names(context)


def _instant(at: str | None, settings: Settings) -> datetime:
    if at is None:
        return clock.now()
    try:
        return clock.parse_instant(at, settings.timezone)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--at") from None


def schedule_run(
    context: typer.Context,
    at: AtOption = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List what is due without running anything.")] = False,
) -> None:
    """Run the tasks that are due now (the system crontab calls this every minute)."""
    settings = current()
    moment = _instant(at, settings)
    schedule = _load(settings)
    tick = Tick(schedule, settings, moment, echo=typer.echo,
                known_commands=_known_commands(context, schedule))
    raise typer.Exit(tick.run(dry_run=dry_run))


def schedule_list(
    context: typer.Context,
    timezone: Annotated[str | None, typer.Option(
        "--timezone", help="Show times in this zone instead of each task's own.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    at: AtOption = None,
    environment: Annotated[str | None, typer.Option(
        "--environment", metavar="ENV",
        help="Only the tasks that run when APP_ENV is ENV.")] = None,
) -> None:
    """List the scheduled tasks and when each is next due.

    A paused schedule is said in a line before the table (on stderr with --json, where
    each task's "paused" says whether the pause holds it back).
    """
    from scheduler.listing import relative, running_holders, summarize  # list only
    settings = current()
    now = _instant(at, settings)
    try:
        display_zone = zone_named(timezone) if timezone else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--timezone") from None
    schedule = _load(settings)
    holders, problem = running_holders(schedule, settings)
    if problem:
        typer.echo(f"Warning: {problem}", err=True)
    try:
        since = paused_since(backend_for(settings))
    except MutexUnavailable as error:
        since = None
        typer.echo(f"Warning: could not tell whether the schedule is paused: {error}",
                   err=True)
    if since is not None:
        typer.echo(paused_message(since, settings.timezone), err=as_json)
    summaries = summarize(schedule, now, display_zone, _known_commands(context, schedule),
                          holders, environment=environment, paused=since is not None)
    if as_json:
        typer.echo(json.dumps([summary.as_json() for summary in summaries], indent=2))
        return
    if not summaries:
        typer.echo("No scheduled tasks have been defined." if environment is None else
                   f"No scheduled tasks run in the {environment!r} environment.")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("Expression", "Task", "Time zone", "Next due"):
        table.add_column(column, no_wrap=True)
    table.add_column("Flags")
    for summary in summaries:
        due = (f"{summary.next_due:%Y-%m-%d %H:%M %z} ({relative(summary.next_due, now)})"
               if summary.next_due else "never")
        table.add_row(summary.event.expression, summary.event.display_name, summary.timezone,
                      due, ", ".join(summary.flags()))
    console = Console()
    if not console.is_terminal:  # piped or logged: keep each task on one line
        console = Console(width=250)
    console.print(table)


def schedule_clear_cache() -> None:
    """Remove the overlap mutexes of this schedule's events (files or Redis)."""
    settings = current()
    schedule = _load(settings)
    events = {event.mutex_key: event for event in schedule.events
              if event.overlap_expiration is not None}
    with _store_errors_end_the_command():
        removed = backend_for(settings).clear(events)
    if not removed:
        typer.echo("No mutexes were found.")
    for key in removed:
        typer.echo(f"Deleting mutex for [{events[key].display_name}]")


def schedule_interrupt() -> None:
    """Interrupt the sub-minute loop of the running tick (for deploys); the signal ends
    with the current minute."""
    settings = current()
    now = clock.now()
    until = floor_minute(now) + timedelta(minutes=1)
    with _store_errors_end_the_command():
        backend_for(settings).set_flag(INTERRUPT_FLAG, now.isoformat(), expires=until)
    typer.echo("Broadcasting schedule interrupt signal.")


def schedule_pause() -> None:
    """Pause the schedule on every server sharing it, until `schedule:resume`: ticks run
    only the tasks marked even_when_paused()."""
    settings = current()
    with _store_errors_end_the_command():
        already = pause(backend_for(settings), clock.now())
    if already is not None:
        typer.echo(paused_message(already, settings.timezone))
        return
    typer.echo("The schedule is paused: ticks run only the tasks marked even_when_paused() "
               "until `artisan schedule:resume`.")


def schedule_resume() -> None:
    """Resume a schedule paused by `schedule:pause`."""
    settings = current()
    with _store_errors_end_the_command():
        was_paused = resume(backend_for(settings))
    typer.echo("The schedule is resumed." if was_paused else "The schedule was not paused.")


def schedule_test(
    name: Annotated[str | None, typer.Option(
        "--name", help="The task to run: its name, or a unique part of it.")] = None,
) -> None:
    """Run one scheduled task now, whatever its schedule and conditions say."""
    settings = current()
    schedule = _load(settings)
    if not schedule.events:
        typer.echo("No scheduled tasks have been defined.")
        raise typer.Exit(1)
    event = _choose(schedule.events, name)
    stamp = format_stamp(clock.now(), settings.timezone)
    typer.echo(f"{stamp}  Running {event.display_name} now.")
    outcome = run_event(event, settings, allow_background=False)
    if outcome.output:
        typer.echo(outcome.output.rstrip("\n"))
    status = "DONE" if outcome.succeeded else "FAIL"
    typer.echo(run_line(format_stamp(outcome.started, settings.timezone), event.display_name,
                        outcome.duration, status))
    for message in outcome.errors + outcome.hook_errors + outcome.warnings:
        typer.echo(message)
    if outcome.skipped or outcome.not_run:
        typer.echo(f"Skipping {event.display_name}: {outcome.skipped or outcome.not_run}")
    raise typer.Exit(0 if outcome.succeeded or outcome.skipped else 1)


def _choose(events: list[Event], name: str | None) -> Event:
    if name is not None:
        exact = [event for event in events if event.display_name == name]
        partial = [event for event in events if name.lower() in event.display_name.lower()]
        matches = exact or partial
        if len(matches) == 1:
            return matches[0]
        problem = "No scheduled task matches" if not matches else "Several tasks match"
        typer.echo(f"{problem} {name!r}. The tasks are:", err=True)
        for event in matches or events:
            typer.echo(f"  {event.display_name}", err=True)
        raise typer.Exit(1)
    for number, event in enumerate(events, 1):
        typer.echo(f"  [{number}] {event.display_name}  ({event.expression})")
    if not sys.stdin.isatty():
        typer.echo("Name the task to run with --name.", err=True)
        raise typer.Exit(1)
    while True:
        choice: int = typer.prompt("Which task should run (its number)", type=int)
        if 1 <= choice <= len(events):
            return events[choice - 1]
        typer.echo(f"Choose a number from 1 to {len(events)}.")


def register(app: typer.Typer) -> None:
    app.command("schedule:run")(schedule_run)
    app.command("schedule:list")(schedule_list)
    app.command("schedule:test")(schedule_test)
    app.command("schedule:clear-cache")(schedule_clear_cache)
    app.command("schedule:interrupt")(schedule_interrupt)
    app.command("schedule:pause")(schedule_pause)
    app.command("schedule:resume")(schedule_resume)
    app.command("schedule:continue", help="Alias of schedule:resume.")(schedule_resume)
