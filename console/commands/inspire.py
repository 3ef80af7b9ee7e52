"""`artisan inspire`: print an inspiring quote."""

import random

import typer

from scheduler.cli import command

QUOTES = (
    "Simplicity is the ultimate sophistication. - Leonardo da Vinci",
    "Well begun is half done. - Aristotle",
    "Act only according to that maxim whereby you can, at the same time, will that it "
    "should become a universal law. - Immanuel Kant",
    "Very little is needed to make a happy life. - Marcus Aurelius",
    "It is quality rather than quantity that matters. - Lucius Annaeus Seneca",
)


@command("inspire")
def inspire() -> None:
    """Display an inspiring quote."""
    typer.echo(random.choice(QUOTES))
