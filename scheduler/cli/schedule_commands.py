"""`schedule:run`, `schedule:list`, `schedule:test`, and the commands that act on the
schedule's shared state: `schedule:clear-cache`, `schedule:interrupt`, `schedule:pause`
and `schedule:resume` (alias `schedule:continue`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from scheduler import clock
from scheduler.cli.catalog import command_names
from scheduler.cli.run_command import AT
from scheduler.event import Event
from scheduler.execution import run_event
from scheduler.kernel import KernelError, kernel_timeout, load_schedule, load_schedule_within
from scheduler.mutex import MutexBackend, MutexUnavailable, backend_for
from scheduler.pause import pause, paused_message, paused_since, resume
from scheduler.runner import INTERRUPT_FLAG, format_stamp, run_line
from scheduler.schedule import Schedule, floor_minute
from scheduler.settings import Settings, current
from scheduler.tasks import CommandTask, DispatchTask
from scheduler.zones import zone_named

if TYPE_CHECKING:
    from scheduler.history.store import RunRecord
    from scheduler.listing import EventSummary

    AtOption = str | None
else:  # declared once, in scheduler.cli.run_command, for typer and the tick alike
    AtOption = AT.typer_annotation()


@contextmanager
def _store_errors_end_the_command() -> Iterator[None]:
    """A mutex store that cannot be reached ends the command: its message, exit 1."""
    try:
        yield
    except MutexUnavailable as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None


def _load(settings: Settings, say_error: Callable[[str], None] | None = None) -> Schedule:
    """The schedule the kernel defines; a kernel that fails ends the command (exit 2)
    with its message on stderr (through `say_error`, when given)."""
    try:
        return load_schedule_within(settings, kernel_timeout(settings))
    except KernelError as error:
        if say_error is None:
            typer.echo(str(error), err=True)
        else:
            say_error(str(error))
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


def schedule_list(
    context: typer.Context,
    timezone: Annotated[str | None, typer.Option(
        "--timezone", help="Show times and expressions in this zone instead of "
                           "APP_TIMEZONE.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    at: AtOption = None,
    environment: Annotated[list[str] | None, typer.Option(
        "--environment", metavar="ENV",
        help="Only the tasks that run when APP_ENV is ENV (give it again for more).")] = None,
    by_next_due: Annotated[bool, typer.Option(
        "--next", help="Sort the tasks by when they are next due.")] = False,
) -> None:
    """List the scheduled tasks and when each is next due.

    A paused schedule is said in a line before the table (on stderr with --json, where
    each task's "paused" says whether the pause holds it back).
    """
    from scheduler.listing import running_holders, summarize  # list only
    settings = current()
    now = _instant(at, settings)
    try:
        display_zone = zone_named(timezone) if timezone else settings.timezone
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
    environments = environment or []
    summaries = summarize(schedule, now, display_zone, _known_commands(context, schedule),
                          holders, environments=environments, paused=since is not None,
                          by_next_due=by_next_due, last_runs=_last_runs(settings))
    if as_json:
        typer.echo(json.dumps([summary.as_json() for summary in summaries], indent=2))
        return
    if not summaries:
        named = " or ".join(repr(name) for name in environments)
        typer.echo("No scheduled tasks have been defined." if not environments else
                   f"No scheduled tasks run in the {named} environment"
                   f"{'s' if len(environments) > 1 else ''}.")
        return
    _print_table(summaries, now)


def _last_runs(settings: Settings) -> dict[str, RunRecord]:
    """The latest run of each task from the run history; none when it is off, and a
    warning when it cannot be read (the list is shown all the same)."""
    from scheduler.history import history_config, open_store
    from scheduler.history.store import StoreError

    try:
        config = history_config(settings)
    except ValueError as error:
        typer.echo(f"Warning: the last runs are not shown: {error}", err=True)
        return {}
    if not config.enabled:
        return {}
    store = open_store(config)
    try:
        if store.schema_version() == 0:
            return {}  # no tick has recorded anything yet
        return store.last_runs()
    except StoreError as error:
        typer.echo(f"Warning: the last runs are not shown: could not read {error}", err=True)
        return {}
    finally:
        store.close()


def _print_table(summaries: list[EventSummary], now: datetime) -> None:
    """One line per task (and one more for each further expression of a task whose
    expression the display zone splits), cut to the terminal's width, never wrapped."""
    import shutil

    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    from scheduler.listing import COLUMN_GAP, column_widths, relative

    header = ("Expression", "Task", "Time zone", "Next due", "Flags")
    rows = []
    for summary in summaries:
        due = (f"{summary.next_due:%Y-%m-%d %H:%M %z} ({relative(summary.next_due, now)})"
               if summary.next_due else "never")
        first, *more = summary.display_expressions
        rows.append((first, summary.event.display_name, summary.display_timezone, due,
                     ", ".join(summary.flags())))
        rows.extend((expression, "", "", "", "") for expression in more)
    # COLUMNS or the terminal's width; piped or logged without COLUMNS: no limit.
    terminal = shutil.get_terminal_size(fallback=(0, 0)).columns or None
    natural = [max(cell_len(row[index]) for row in (header, *rows))
               for index in range(len(header))]
    widths = column_widths(natural, terminal)
    table = Table(box=None, pad_edge=False, header_style="bold")
    for title, width in zip(header, widths, strict=True):
        table.add_column(title, width=width, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*row)
    Console(width=terminal or sum(widths) + 4 * COLUMN_GAP).print(table)


def schedule_clear_cache() -> None:
    """Remove the overlap mutexes of this schedule's events (files or Redis)."""
    settings = current()
    schedule = _load(settings)
    events = {event.mutex_key: event for event in schedule.events
              if event.overlap_expiration is not None}
    with _store_errors_end_the_command():
        backend = backend_for(settings)
        removed = backend.clear(events)
        forgotten = _forget_dispatched_jobs(backend, events.values())
    if not removed and not forgotten:
        typer.echo("No mutexes were found.")
    for key in removed:
        typer.echo(f"Deleting mutex for [{events[key].display_name}]")
    for event in forgotten:
        typer.echo(f"Forgetting the last dispatched job of [{event.display_name}]")


def _forget_dispatched_jobs(backend: MutexBackend, events: Iterable[Event]) -> list[Event]:
    """Forget the last job each dispatch without overlapping sent, so that the next due
    run is sent whatever became of it (a result that was lost, a purged queue)."""
    dispatches = [event for event in events if isinstance(event.task, DispatchTask)]
    if not dispatches:
        return []
    from scheduler.queues import overlap  # only schedules that dispatch

    return [event for event in dispatches if overlap.forget(event, backend)]


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
    _tell_listeners(settings, "paused")


def schedule_resume() -> None:
    """Resume a schedule paused by `schedule:pause`."""
    settings = current()
    with _store_errors_end_the_command():
        was_paused = resume(backend_for(settings))
    typer.echo("The schedule is resumed." if was_paused else "The schedule was not paused.")
    if was_paused:
        _tell_listeners(settings, "resumed")


def _tell_listeners(settings: Settings, task_event: str) -> None:
    """Tell the kernel's listeners of `task_event` (`paused`, `resumed`); the change is
    made already, so a kernel that cannot be loaded is only a warning."""
    try:
        schedule = load_schedule(settings)
    except KernelError as error:
        typer.echo(f"Warning: the {task_event!r} listeners were not told, because the kernel "
                   f"could not be loaded:\n{error}", err=True)
        return
    for problem in schedule.listeners.dispatch(task_event, {}):
        typer.echo(f"Warning: {problem}", err=True)


def schedule_test(
    name: Annotated[str | None, typer.Option(
        "--name", help="The task to run: its name or its command line (`artisan "
                       "cache:clear --force`, the shell line), or a unique part of "
                       "either.")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1, not 0, when there is no task or none matches --name.")]
        = False,
) -> None:
    """Run one scheduled task now, whatever its schedule and conditions say."""
    settings = current()
    schedule = _load(settings)
    nothing_to_run = typer.Exit(1 if strict else 0)
    if not schedule.events:
        typer.echo("No scheduled tasks have been defined.")
        raise nothing_to_run
    event = _choose(schedule.events, name)
    if event is None:
        raise nothing_to_run
    stamp = format_stamp(clock.now(), settings.timezone)
    typer.echo(f"{stamp}  Running {event.display_name} now.")
    _record_in_history(schedule, settings)
    outcome = run_event(event, settings, allow_background=False, listeners=schedule.listeners)
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


def _record_in_history(schedule: Schedule, settings: Settings) -> None:
    """Record a run started by hand like a tick's runs (without a scheduled instant), so
    the history and the status page see it."""
    from scheduler.history.recorder import record_runs

    recorder = record_runs(schedule, settings)
    if recorder is not None:
        recorder.safely(recorder.store.ensure_schema)


def _choose(events: list[Event], name: str | None) -> Event | None:
    """The event `name` picks (by name or command line, whole, else a part of either),
    else the one the user picks from a numbered list; None when `name` matches none."""
    if name is not None:
        def texts(event: Event) -> tuple[str, str]:
            return event.display_name, event.task.identity

        wanted = name.casefold()
        exact = [event for event in events if name in texts(event)]
        whole = [event for event in events
                 if wanted in (text.casefold() for text in texts(event))]
        partial = [event for event in events
                   if any(wanted in text.casefold() for text in texts(event))]
        matches = exact or whole or partial
        if len(matches) == 1:
            return matches[0]
        problem = "No scheduled task matches" if not matches else "Several tasks match"
        typer.echo(f"{problem} {name!r}. The tasks are:", err=True)
        for event in matches or events:
            command_line = event.task.identity
            typer.echo(f"  {event.display_name}" if command_line == event.display_name else
                       f"  {event.display_name}  ({command_line})", err=True)
        if not matches:
            return None
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
    app.command("schedule:list")(schedule_list)
    app.command("schedule:test")(schedule_test)
    app.command("schedule:clear-cache")(schedule_clear_cache)
    app.command("schedule:interrupt")(schedule_interrupt)
    app.command("schedule:pause")(schedule_pause)
    app.command("schedule:resume")(schedule_resume)
    app.command("schedule:continue", help="Alias of schedule:resume.")(schedule_resume)
