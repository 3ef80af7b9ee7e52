"""What an event runs: a Python function, an artisan command or a shell line.

A task knows its identity (stable across processes, used for mutex keys) and its default
display name; how it is started in a child process is `process.py`'s business.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple


def _arguments_text(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    arguments = [repr(arg) for arg in args]
    arguments += [f"{key}={value!r}" for key, value in sorted(kwargs.items())]
    return ", ".join(arguments)


def _callable_path(function: Any) -> tuple[str, bool]:
    """`module.qualname` of a function, method, class or callable object, and whether
    that text names the same thing in every process.

    A lambda, or a function or class defined inside a function, has a name that many
    different callables share, so it is not stable. A callable object is named by its
    class.
    """
    if not hasattr(function, "__qualname__"):
        function = type(function)  # a callable object: its class names it
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or repr(function)
    stable = "<lambda>" not in name and "<locals>" not in name and " at 0x" not in name
    return f"{module}.{name}", stable


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
        arguments makes several events with mutexes of their own. A callable object is
        named by its class (`tasks.Sync`), a `functools.partial` by its function and all
        of its arguments (`tasks.backup('db', full=True)`).
        """
        return self._described()[0]

    @property
    def stable_identity(self) -> str | None:
        """The identity, if it is the same text in every process (else None: a lambda,
        a closure, an argument whose repr is a memory address)."""
        text, stable = self._described()
        return text if stable else None

    def _described(self) -> tuple[str, bool]:
        function, args, kwargs = self.function, self.args, dict(self.kwargs)
        while isinstance(function, functools.partial):
            args = (*function.args, *args)
            kwargs = {**function.keywords, **kwargs}
            function = function.func
        path, stable = _callable_path(function)
        if not args and not kwargs:
            return path, stable
        arguments = _arguments_text(args, kwargs)
        return f"{path}({arguments})", stable and " at 0x" not in arguments

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
    def stable_identity(self) -> str:
        return self.identity

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
    def stable_identity(self) -> str:
        return self.line

    @property
    def default_name(self) -> str:
        return self.line


Task = JobTask | CommandTask | ShellTask
