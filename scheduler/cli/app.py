"""Assembling artisan: the framework's commands, the application's, and `list`."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

import typer

from scheduler import settings as settings_module
from scheduler.cli import (
    history_commands,
    maintenance_commands,
    scaffold_commands,
    schedule_commands,
    web_command,
    work_command,
)
from scheduler.cli.catalog import command_summaries
from scheduler.cli.registry import discover, registered
from scheduler.settings import KERNEL_VARIABLE
from scheduler.streams import (
    ensure_standard_descriptors,
    make_standard_streams_forgiving,
    write_line,
)

APP_OPTION = "--app"


def build_app(commands_package: str, only: str | None = None) -> tuple[typer.Typer, list[str]]:
    """The typer application, and the names of all the commands it knows.

    With `only` naming a command, the application holds just that one: typer reads the
    signature of every command it holds each time artisan starts, and a tick, which
    runs every minute, needs only its own.
    """
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                      help="Artisan: run and inspect the application's scheduled tasks.")
    app.command("list", help="List every artisan command.")(list_commands)
    schedule_commands.register(app)
    history_commands.register(app)
    maintenance_commands.register(app)
    scaffold_commands.register(app)
    work_command.register(app)
    web_command.register(app)
    for warning in discover(commands_package):
        write_line(sys.stderr, f"Warning: {warning}")
    for command in registered().values():
        app.command(command.name, help=command.help)(command.function)
    names = [str(info.name) for info in app.registered_commands]
    if only in names and only != "list":  # `list` describes them all
        app.registered_commands = [info for info in app.registered_commands
                                   if info.name == only]
        app.callback()(_artisan)  # a group still: `artisan <command>` keeps its shape
    return app, names


def _artisan() -> None:
    """Artisan: run and inspect the application's scheduled tasks."""


def list_commands(context: typer.Context) -> None:
    """Print every command with the first line of its help, grouped by namespace."""
    summaries = command_summaries(context)
    names = sorted(summaries, key=lambda name: (":" in name, name))
    width = max(map(len, names))
    namespace = None
    typer.echo("Available commands:")
    for name in names:
        space = name.split(":", 1)[0] if ":" in name else ""
        if space != namespace:
            namespace = space
            if space:
                typer.echo(f" {space}")
        typer.echo(f"  {name.ljust(width)}  {summaries[name]}")


def run(root: str | None) -> None:
    """Load the project's settings and run the command named on the command line.

    `root` is the project folder (where `.env` and `storage/` live); None means
    `$SCHEDULER_ROOT`, else the current directory. `--app MODULE` before the command
    name chooses the kernel, as SCHEDULER_KERNEL does.
    """
    ensure_standard_descriptors()
    make_standard_streams_forgiving()
    try:
        take_app_option(sys.argv, os.environ)
        settings = settings_module.configure(
            settings_module.Settings.load(Path(root) if root else None))
    except ValueError as error:
        write_line(sys.stderr, f"Configuration error: {error}")
        raise SystemExit(2) from None
    if str(settings.root) not in sys.path:
        sys.path.insert(0, str(settings.root))
    # The mode the tick runs in is the mode its tasks run in, `.env` or not: shell and
    # command tasks, and tasks run as another user, read it from their environment.
    os.environ.setdefault("APP_ENV", settings.app_env)
    if len(sys.argv) < 2:
        sys.argv.append("list")
    app, names = build_app(settings.commands_package, only=sys.argv[1])
    app(prog_name="artisan", obj=names)


def take_app_option(argv: list[str], environ: MutableMapping[str, str]) -> None:
    """Remove `--app MODULE` (or `--app=MODULE`) from before the command name in `argv`
    and make MODULE the kernel: in `environ`, so that the ticks and commands started
    from here load the same application."""
    for index, argument in enumerate(argv[1:], 1):
        if not argument.startswith("-"):
            return  # the command name: what follows is the command's own
        if argument != APP_OPTION and not argument.startswith(APP_OPTION + "="):
            continue
        value = argument.partition("=")[2] if "=" in argument else None
        end = index + 1
        if value is None and index + 1 < len(argv):
            value, end = argv[index + 1], index + 2
        if not value or value.startswith("-"):
            raise ValueError(f"{APP_OPTION} needs the kernel's module path, such as "
                             f"{APP_OPTION} myapp.schedule")
        del argv[index:end]
        environ[KERNEL_VARIABLE] = value
        return
