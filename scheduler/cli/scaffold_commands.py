"""`artisan make:command NAME`: write a new application command from a template."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from scheduler.cli.registry import NAME
from scheduler.settings import current

TEMPLATE = '''"""The `{name}` artisan command."""

import typer

from scheduler.cli import command


@command("{name}")
def {function}(
    verbose: bool = typer.Option(False, "--verbose", help="Say more about what happens."),
) -> None:
    """Describe what {name} does (this line is its help in `artisan list`)."""
    typer.echo("{name} ran.")
'''


def make_command(
    name: Annotated[str, typer.Argument(help="The command's name, such as 'reports:send'.")],
) -> None:
    """Create a new artisan command in the application's commands folder."""
    settings = current()
    if not re.match(NAME, name):
        typer.echo(f"Invalid command name {name!r}: use lowercase words separated by colons, "
                   f"such as 'reports:send'.", err=True)
        raise typer.Exit(2)
    function = re.sub(r"[^a-z0-9_]", "_", name)
    folder = settings.root.joinpath(*settings.commands_package.split("."))
    path = folder / f"{function}.py"
    if path.exists():
        typer.echo(f"{path} already exists; nothing was written.", err=True)
        raise typer.Exit(1)
    folder.mkdir(parents=True, exist_ok=True)
    init = folder / "__init__.py"
    if not init.exists():
        init.write_text('"""The application\'s artisan commands, found automatically."""\n')
    path.write_text(TEMPLATE.format(name=name, function=function))
    typer.echo(f"Command {name} created: {path.relative_to(settings.root)}")


def register(app: typer.Typer) -> None:
    app.command("make:command")(make_command)
