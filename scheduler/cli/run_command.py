"""`schedule:run`: run the tasks that are due now (the system crontab calls it every
minute).

Its options are declared once, below; `run_without_typer` reads them for the tick
cron starts, and `register` builds the typer command from the same declarations for
everything else (`--help`, mistakes). See scheduler.cli.options for why.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Sequence

from scheduler import clock
from scheduler.cli.options import Option, parse_options, typer_command
from scheduler.settings import Settings, current

TYPE_CHECKING = False
if TYPE_CHECKING:
    import typer

COMMAND = "schedule:run"
HELP = "Run the tasks that are due now (the system crontab calls this every minute)."
# The exit code typer gives a command that Ctrl-C (SIGINT) stopped.
INTERRUPTED = 130


def _check_instant(text: str) -> object:
    return clock.parse_instant(text, current().timezone)


AT = Option("--at", metavar="INSTANT", check=_check_instant,
            help="Act as if the clock read this ISO-8601 instant (e.g. "
                 "2026-03-08T07:00:00Z); without an offset it is read in APP_TIMEZONE.")
DRY_RUN = Option("--dry-run", takes_value=False,
                 help="List what is due without running anything.")
OPTIONS = (AT, DRY_RUN)

KnownCommands = Callable[[], Collection[str]]


def run_tick(settings: Settings, known_commands: KnownCommands, *, at: str | None = None,
             dry_run: bool = False) -> int:
    """Load the kernel and run (or list) the due tasks; return the exit code.

    `known_commands` names every artisan command; it is asked only when a command task
    is due, since finding them imports every module of the commands package."""
    from scheduler.kernel import KernelError, kernel_timeout, load_schedule_within
    from scheduler.runner import Tick
    from scheduler.ticklog import ERROR, FORMAT_VARIABLE, TickLog, write_stderr

    moment = clock.now() if at is None else clock.parse_instant(at, settings.timezone)
    try:
        schedule = load_schedule_within(settings, kernel_timeout(settings))
    except KernelError as error:
        gc.enable()
        # Like every line of the tick, a broken kernel's message goes through the
        # scheduler logger and in SCHEDULER_LOG_FORMAT (on stderr, where cron mails it).
        TickLog(write_stderr, settings.get(FORMAT_VARIABLE))(str(error), level=ERROR)
        return 2
    if not gc.isenabled():  # artisan's own process (see entry.run), not a caller's
        gc.freeze()  # what the kernel loaded lives as long as the tick
        gc.enable()
    return Tick(schedule, settings, moment, known_commands=known_commands).run(
        dry_run=dry_run)


def run_without_typer(settings: Settings, arguments: Sequence[str]) -> int | None:
    """Run `schedule:run` with `arguments` (what follows the command's name) and return
    its exit code, or None when typer must read them (`--help`, a mistake)."""
    values = parse_options(OPTIONS, arguments)
    if values is None:
        return None

    def known_commands() -> list[str]:
        from scheduler.cli.app import build_app
        from scheduler.cli.registry import defined_in_package, registered

        # Asked after the kernel loaded (typer's reading asks before): a command the
        # kernel registered outside the commands package is one that the `artisan`
        # process a command task starts, which loads no kernel, does not know.
        before = registered()
        names = build_app(settings.commands_package)[1]
        foreign = {name for name, command in registered().items()
                   if before.get(name) is command
                   and not defined_in_package(command.function, settings.commands_package)}
        return [name for name in names if name not in foreign]

    try:
        return run_tick(settings, known_commands, **values)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return INTERRUPTED  # as typer ends a command that Ctrl-C stopped: no traceback


def _schedule_run(context: typer.Context, at: str | None, dry_run: bool) -> None:
    import typer

    from scheduler.cli.catalog import command_names

    raise typer.Exit(run_tick(current(), lambda: command_names(context), at=at,
                              dry_run=dry_run))


def register(app: typer.Typer) -> None:
    app.command(COMMAND)(typer_command(_schedule_run, OPTIONS, doc=HELP, with_context=True))
