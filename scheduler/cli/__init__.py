"""The artisan command line: the framework's commands and the application's own."""

from scheduler.clash import check_own_package

# Before anything else of ours runs: a foreign `scheduler` package would otherwise fail
# later with an error that does not name the cause.
check_own_package()

TYPE_CHECKING = False
if TYPE_CHECKING:
    from scheduler.cli.registry import command as command

__all__ = ["command", "console_main", "main"]


def __getattr__(name: str) -> object:
    """`command`, the decorator of application commands, imported when first asked for:
    artisan imports this package every minute, and a tick imports no command module
    unless a command task is due."""
    if name == "command":
        from scheduler.cli.registry import command

        return command
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(root: str | None = None) -> None:
    """Run artisan for the project whose root folder is `root` (by default
    `$SCHEDULER_ROOT`, else the current directory)."""
    from scheduler.cli.entry import run

    run(root)


def console_main() -> None:
    """The `artisan` console script and `python -m scheduler`."""
    main()
