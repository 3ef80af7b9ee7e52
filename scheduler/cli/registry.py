"""Application commands: `@command("cache:clear")` on a function in `console/commands/`.

Every module of the commands package (`SCHEDULER_COMMANDS`, default `console.commands`)
is imported when artisan starts; each function decorated with `command` becomes an
artisan command whose options come from its signature, as with typer.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable

from scheduler.typing_names import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any, TypeVar
    F = TypeVar("F", bound=Callable[..., Any])

# A command name's pattern, compiled on first use (`re` keeps it): a tick imports this
# module with every kernel, and names only when command modules are imported.
NAME = r"^[a-z][a-z0-9_-]*(?::[a-z0-9_-]+)*$"


class AppCommand(NamedTuple):
    name: str
    function: Callable[..., Any]
    help: str | None


_commands: dict[str, AppCommand] = {}


def command(name: str, *, help: str | None = None) -> Callable[[F], F]:
    """Register the decorated function as the artisan command `name` (e.g. "cache:clear").

    Its docstring is the help text unless `help` is given.
    """
    if not re.match(NAME, name):
        raise ValueError(f"artisan command name {name!r}: use lowercase words separated by "
                         f"colons, such as 'cache:clear'")

    def register(function: F) -> F:
        _commands[name] = AppCommand(name, function, help)
        return function

    return register


def defined_in_package(function: Callable[..., Any], package: str) -> bool:
    """Whether `function` is defined in the commands package `package` (or below it):
    a command task runs `artisan NAME` in a new process, which knows only the commands
    of that package."""
    module = getattr(function, "__module__", "") or ""
    return module == package or module.startswith(package + ".")


def registered() -> dict[str, AppCommand]:
    """The application commands registered so far, by name."""
    return dict(_commands)


def discover(package: str) -> list[str]:
    """Import every module of `package`; return a warning for each that failed."""
    # Here, not at the top: every kernel imports this module (through `command`), and
    # a tick asks for the commands only when a command task is due.
    import pkgutil
    import traceback

    warnings = []
    try:
        root = importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name is not None and package.startswith(error.name):
            return []  # no commands package: the application has no commands of its own
        return [f"the commands package {package!r} could not be imported: {error}"]
    except Exception:
        return [f"the commands package {package!r} could not be imported:\n"
                f"{traceback.format_exc()}"]
    for module in pkgutil.iter_modules(getattr(root, "__path__", [])):
        name = f"{package}.{module.name}"
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception:
            warnings.append(f"the command module {name!r} could not be imported, so its "
                            f"commands are missing:\n{traceback.format_exc()}")
    return warnings
