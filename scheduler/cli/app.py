"""Assembling artisan: the framework's commands, the application's, and `list`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from scheduler import settings as settings_module
from scheduler.cli import (
    history_commands,
    maintenance_commands,
    scaffold_commands,
    schedule_commands,
    work_command,
)
from scheduler.cli.catalog import command_summaries
from scheduler.cli.registry import discover, registered


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
    for warning in discover(commands_package):
        print(f"Warning: {warning}", file=sys.stderr)
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


def run(root: str) -> None:
    """Load the project's settings and run the command named on the command line."""
    try:
        settings = settings_module.configure(settings_module.Settings.load(Path(root)))
    except ValueError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if str(settings.root) not in sys.path:
        sys.path.insert(0, str(settings.root))
    if len(sys.argv) < 2:
        sys.argv.append("list")
    app, names = build_app(settings.commands_package, only=sys.argv[1])
    app(prog_name="artisan", obj=names)
