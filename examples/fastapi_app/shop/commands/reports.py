"""`artisan reports:summary`."""

from __future__ import annotations

import typer

from scheduler.cli import command
from shop.storage import read_reports


@command("reports:summary")
def reports_summary() -> None:
    """Print how many reports there are and the newest rates."""
    reports = read_reports()
    newest = reports[-1]["rates"] if reports else {}
    typer.echo(f"{len(reports)} reports; newest rates: {newest}")
