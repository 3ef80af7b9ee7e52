"""The commands that read the run history: `schedule:history`, `schedule:monitor`,
`schedule:metrics`, and `schedule:migrate`, which brings its schema up to date."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from scheduler import clock
from scheduler.cli.schedule_commands import AtOption, _instant, _load
from scheduler.runner import format_duration, format_stamp
from scheduler.settings import Settings, current

if TYPE_CHECKING:
    from scheduler.history.lateness import TaskHealth
    from scheduler.history.store import RunRecord, Store

DEFAULT_LIMIT = 50
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def open_history(settings: Settings, unreachable_code: int = 1) -> Store:
    """The configured store, schema up to date; exits 2 with the reason when the history
    is off or its settings are wrong, `unreachable_code` when it cannot be reached."""
    from scheduler.history import history_config, open_store

    try:
        config = history_config(settings)
    except ValueError as error:
        typer.echo(f"Configuration error: {error}", err=True)
        raise typer.Exit(2) from None
    if not config.enabled:
        typer.echo("The run history is off (SCHEDULER_HISTORY=off).", err=True)
        raise typer.Exit(2)
    store = open_store(config)
    with store_errors_end_the_command(unreachable_code):
        store.ensure_schema()
    return store


@contextmanager
def store_errors_end_the_command(code: int = 1) -> Iterator[None]:
    """A store that cannot be reached or read ends the command: its message, exit `code`."""
    from scheduler.history.store import StoreError

    try:
        yield
    except StoreError as error:
        typer.echo(f"Could not read {error}", err=True)
        raise typer.Exit(code) from None


def parse_since(text: str, now: datetime, settings: Settings) -> datetime:
    """`--since`: a duration back from now (`90s`, `30m`, `2h`, `7d`, `1w`, `1h30m`) or
    an ISO-8601 instant."""
    compact = text.strip().lower().replace(" ", "")
    if compact and _DURATION.sub("", compact) == "":
        seconds = sum(float(amount) * _UNIT_SECONDS[unit]
                      for amount, unit in _DURATION.findall(compact))
        return now - timedelta(seconds=seconds)
    try:
        return clock.parse_instant(text, settings.timezone)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither a duration (30m, 2h, 7d) nor an "
                                 f"ISO-8601 instant", param_hint="--since") from None


def history_line(record: RunRecord, settings: Settings) -> str:
    """`#12  2026-03-08 07:00:00  success    12ms  web-1  backup` (and why, if skipped)."""
    duration = "" if record.duration is None else format_duration(record.duration)
    status = record.status + (" (background)" if record.background else "")
    line = (f"#{record.id:<6} {format_stamp(record.started, settings.timezone)}  "
            f"{status:<22} {duration:>7}  {record.host}  {record.task}")
    if record.reason:
        line += f"  [{record.reason}{' on ' + record.ran_on if record.ran_on else ''}]"
    elif record.status in ("failure", "timeout") and record.exit_code is not None:
        line += f"  [exit code {record.exit_code}" + (
            f", signal {record.signal}]" if record.signal else "]")
    return line


def schedule_history(
    task: Annotated[str | None, typer.Option("--task", metavar="NAME",
                                             help="Only the runs of this task.")] = None,
    failed: Annotated[bool, typer.Option(
        "--failed", help="Only the runs that failed or timed out.")] = False,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DURATION|INSTANT",
        help="Only the runs started since then: 30m, 2h, 7d, or an ISO-8601 instant.")]
        = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many runs.")]
        = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
    output: Annotated[int | None, typer.Option(
        "--output", metavar="RUN_ID", help="Print the stored output of one run.")] = None,
) -> None:
    """Show the recorded runs, newest first: status, duration, host."""
    settings = current()
    store = open_history(settings)
    with store_errors_end_the_command():
        if output is not None:
            text = store.output(output)
            if text is None:
                typer.echo(f"There is no run #{output} in the history.", err=True)
                raise typer.Exit(1)
            sys.stdout.write(text)
            return
        start = parse_since(since, clock.now(), settings) if since else None
        records = store.runs(task=task, statuses=("failure", "timeout") if failed else (),
                             since=start, limit=limit)
    if as_json:
        typer.echo(json.dumps([record.as_json() for record in records], indent=2))
        return
    if not records:
        typer.echo("No runs are recorded" + (" that match." if task or failed or since
                                             else " yet."))
        return
    for record in records:
        typer.echo(history_line(record, settings))


def schedule_monitor(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
    at: AtOption = None,
) -> None:
    """Check the schedule's health: exit 0 when all is well, 1 when a task failed its
    last run, is late or runs too long, 2 when the scheduler has not ticked for more
    than two minutes (or its history cannot be read)."""
    from scheduler.history.lateness import check

    settings = current()
    now = _instant(at, settings)
    schedule = _load(settings)
    store = open_history(settings, unreachable_code=2)
    with store_errors_end_the_command(code=2):
        health = check(schedule, store, now, settings)
    if as_json:
        typer.echo(json.dumps(health.as_json(), indent=2))
        raise typer.Exit(health.exit_code)
    tick = health.last_tick
    if tick is None:
        typer.echo("DOWN  the scheduler has never ticked (no tick in the run history)")
    else:
        state = "DOWN" if health.down else "OK"
        typer.echo(f"{state:<5} last tick for {format_stamp(tick.minute, settings.timezone)} "
                   f"on {tick.host}")
    for task in health.tasks:
        typer.echo(f"{task.state.upper():<13} {task.name}  {_health_detail(task, settings)}")
    raise typer.Exit(health.exit_code)


def _health_detail(task: TaskHealth, settings: Settings) -> str:
    if task.late_since is not None and not task.failed:
        return (f"due {format_stamp(task.late_since, settings.timezone)}, no run recorded "
                f"(grace {task.grace_minutes:g} min)")
    if task.long_running is not None and not task.failed:
        return (f"running since {format_stamp(task.long_running.started, settings.timezone)}"
                f" on {task.long_running.host}, expected at most "
                f"{task.event.expected_runtime_minutes:g} min")
    run = task.last_run
    if run is None:
        return "no run recorded yet"
    duration = "" if run.duration is None else f" in {format_duration(run.duration)}"
    return (f"last run {run.status}{duration} at "
            f"{format_stamp(run.started, settings.timezone)} on {run.host}")


def schedule_metrics(at: AtOption = None) -> None:
    """Print the history's metrics in Prometheus' text format (runs by task and status,
    last success, last duration, lateness, ticks)."""
    from scheduler.history.lateness import check
    from scheduler.history.metrics import exposition

    settings = current()
    now = _instant(at, settings)
    schedule = _load(settings)
    store = open_history(settings)
    with store_errors_end_the_command():
        health = check(schedule, store, now, settings)
        try:
            text = exposition(health, store)
        except RuntimeError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
    sys.stdout.write(text.decode())


def schedule_migrate() -> None:
    """Bring the run history's schema up to date (ticks do it by themselves)."""
    from scheduler.history import history_config, open_store

    settings = current()
    try:
        config = history_config(settings)
    except ValueError as error:
        typer.echo(f"Configuration error: {error}", err=True)
        raise typer.Exit(2) from None
    store = open_store(config)
    with store_errors_end_the_command():
        before, after = store.migrate()
    if before == after:
        typer.echo(f"The run history at {config.display_url} is up to date "
                   f"(schema version {after}).")
    else:
        typer.echo(f"Migrated the run history at {config.display_url} from schema version "
                   f"{before} to {after}.")


def register(app: typer.Typer) -> None:
    app.command("schedule:history")(schedule_history)
    app.command("schedule:monitor")(schedule_monitor)
    app.command("schedule:metrics")(schedule_metrics)
    app.command("schedule:migrate")(schedule_migrate)
