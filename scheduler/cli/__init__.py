"""The artisan command line: the framework's commands and the application's own."""

from scheduler.cli.registry import command

__all__ = ["command", "main"]


def main(root: str) -> None:
    """Run artisan for the project whose root folder is `root`."""
    from scheduler.cli.app import run

    run(root)
