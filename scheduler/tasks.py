"""What an event runs: a Python function, an artisan command or a shell line.

A task knows its identity (stable across processes, used for mutex keys) and its default
display name; how it is started in a child process is `process.py`'s business.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple


class JobTask(NamedTuple):
    """A Python callable, run in a forked child of the tick."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = MappingProxyType({})

    @property
    def kind(self) -> str:
        return "job"

    @property
    def identity(self) -> str:
        """`module.function`, with the arguments when it has any: `tasks.backup('db')`.

        Arguments are part of the identity so that one function scheduled for several
        arguments makes several events with mutexes of their own.
        """
        module = getattr(self.function, "__module__", None) or "?"
        name = getattr(self.function, "__qualname__", None) or repr(self.function)
        if not self.args and not self.kwargs:
            return f"{module}.{name}"
        arguments = [repr(arg) for arg in self.args]
        arguments += [f"{key}={value!r}" for key, value in sorted(self.kwargs.items())]
        return f"{module}.{name}({', '.join(arguments)})"

    @property
    def default_name(self) -> str:
        return self.identity


class CommandTask(NamedTuple):
    """An artisan command, run as `artisan <name> <args...>` without a shell."""

    name: str
    args: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "command"

    @property
    def identity(self) -> str:
        return shlex.join(["artisan", self.name, *self.args])

    @property
    def default_name(self) -> str:
        return shlex.join([self.name, *self.args])


class ShellTask(NamedTuple):
    """A shell line, run as `/bin/sh -c <line>` exactly as the user wrote it."""

    line: str

    @property
    def kind(self) -> str:
        return "exec"

    @property
    def identity(self) -> str:
        return self.line

    @property
    def default_name(self) -> str:
        return self.line


Task = JobTask | CommandTask | ShellTask
