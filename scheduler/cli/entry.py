"""Starting artisan: the settings, `--app`, and the command named on the command line.

`schedule:run`, which cron starts every minute, is run without importing typer when its
arguments are the usual ones (see scheduler.cli.options); every other command, and
`schedule:run --help`, goes through the typer application (scheduler.cli.app).
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

from scheduler import settings as settings_module
from scheduler.settings import KERNEL_VARIABLE
from scheduler.streams import (
    ensure_standard_descriptors,
    make_standard_streams_forgiving,
    write_line,
)

APP_OPTION = "--app"


def run(root: str | None) -> None:
    """Load the project's settings and run the command named on the command line.

    `root` is the project folder (where `.env` and `storage/` live); None means
    `$SCHEDULER_ROOT`, else the current directory. `--app MODULE` before the command
    name chooses the kernel, as SCHEDULER_KERNEL does.
    """
    # No cyclic garbage collection until the kernel is loaded: the imports and the
    # definition of thousands of events make little garbage, and collecting it costs a
    # tick milliseconds. The tick then freezes what it loaded and turns collection back
    # on, so that the collections of the jobs it forks never touch those objects (the
    # pattern gc.freeze's documentation gives for processes that fork); every other
    # command turns it back on before it starts.
    gc.disable()
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
    if sys.argv[1] == "schedule:run":
        from scheduler.cli.run_command import run_without_typer

        code = run_without_typer(settings, sys.argv[2:])
        if code is not None:
            raise SystemExit(code)
    gc.enable()
    from scheduler.cli.app import run_with_typer

    run_with_typer(sys.argv[1])


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
