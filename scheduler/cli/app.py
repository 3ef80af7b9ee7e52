"""Assembling artisan: the framework's commands, the application's, and `list`."""

from __future__ import annotations

import sys

import typer

from scheduler.cli import (
    history_commands,
    maintenance_commands,
    run_command,
    scaffold_commands,
    schedule_commands,
    web_command,
    work_command,
)
from scheduler.cli.catalog import command_summaries
from scheduler.cli.registry import discover, registered
from scheduler.streams import write_line


def build_app(commands_package: str, only: str | None = None) -> tuple[typer.Typer, list[str]]:
    """The typer application, and the names of all the commands it knows.

    With `only` naming a command, the application holds just that one: typer reads the
    signature of every command it holds each time artisan starts, and a tick, which
    runs every minute, needs only its own.
    """
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                      help="Artisan: run and inspect the application's scheduled tasks.")
    app.command("list", help="List every artisan command.")(list_commands)
    run_command.register(app)
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


def run_with_typer(command_name: str) -> None:
    """Run `command_name`, named on the command line, through typer (the settings are
    loaded)."""
    from scheduler.settings import current

    app, names = build_app(current().commands_package, only=command_name)
    app(prog_name="artisan", obj=names)
