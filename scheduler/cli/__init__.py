"""The artisan command line: the framework's commands and the application's own."""

from scheduler.clash import check_own_package

# Before anything else of ours runs: a foreign `scheduler` package would otherwise fail
# later with an error that does not name the cause.
check_own_package()

from scheduler.cli.registry import command  # noqa: E402

__all__ = ["command", "console_main", "main"]


def main(root: str | None = None) -> None:
    """Run artisan for the project whose root folder is `root` (by default
    `$SCHEDULER_ROOT`, else the current directory)."""
    from scheduler.cli.entry import run

    run(root)


def console_main() -> None:
    """The `artisan` console script and `python -m scheduler`."""
    main()
