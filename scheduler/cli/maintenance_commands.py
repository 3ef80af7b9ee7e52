"""`artisan down` and `artisan up`: maintenance mode."""

from __future__ import annotations

from typing import Annotated

import typer

from scheduler.maintenance import come_up, go_down
from scheduler.settings import current


def down(message: Annotated[str, typer.Option(help="Why the application is down.")] = "") -> None:
    """Put the application into maintenance mode (only tasks marked
    even_in_maintenance_mode run)."""
    if go_down(current(), message):
        typer.echo("The application is now in maintenance mode.")
    else:
        typer.echo("The application is already down.")


def up() -> None:
    """Bring the application out of maintenance mode."""
    if come_up(current()):
        typer.echo("The application is now live.")
    else:
        typer.echo("The application is already up.")


def register(app: typer.Typer) -> None:
    app.command("down")(down)
    app.command("up")(up)
