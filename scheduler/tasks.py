"""What an event runs: a Python function, an artisan command, a shell line, or a job
sent to a queue for its workers to run.

A task knows its identity (stable across processes, used for mutex keys) and its default
display name; how it is started in a child process is `process.py`'s business.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import MappingProxyType, ModuleType

from scheduler.typing_names import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

# How deep objects' attributes are followed to name them (a cycle must not recurse).
NAMING_DEPTH = 3
# Where a task keeps its description once worked out (see `JobTask`).
_DESCRIBED = "_described_once"


def _arguments_text(args: tuple[Any, ...], kwargs: Mapping[str, Any], depth: int = 0) -> str:
    arguments = [_value_text(arg, depth) for arg in args]
    if kwargs:  # most jobs have none: no need to sort and format an empty mapping
        arguments += [f"{key}={_value_text(value, depth)}"
                      for key, value in sorted(kwargs.items())]
    return ", ".join(arguments)


def _value_text(value: Any, depth: int = 0) -> str:
    """`repr(value)`, or for an object whose repr is only its memory address, its class
    and attributes (`tasks.Client(region='eu')`), which are the same in every process."""
    text = repr(value)
    attributes = getattr(value, "__dict__", None)
    if (" at 0x" not in text or not attributes or isinstance(value, (type, ModuleType))
            or depth >= NAMING_DEPTH):
        return text
    kind = type(value)
    return (f"{kind.__module__}.{kind.__qualname__}"
            f"({_arguments_text((), attributes, depth + 1)})")


def _callable_path(function: Any) -> tuple[str, bool]:
    """`module.qualname` of a function, method, class or callable object, and whether
    that text names the same thing in every process.

    A lambda, or a function or class defined inside a function, has a name that many
    different callables share, so it is not stable. A callable object is named by its
    class, and a bound method by its class and name, each with the object's attributes
    when it has any (`tasks.Sync(region='eu')`, `tasks.Client(region='eu').sync`), so
    that two objects of one class that differ are two tasks, not one.
    """
    owner = getattr(function, "__self__", None)  # the object of a bound method
    if not hasattr(function, "__qualname__"):
        owner, function = function, type(function)  # a callable object: its class
    module = getattr(function, "__module__", None) or "?"
    name = getattr(function, "__qualname__", None) or repr(function)
    stable = "<lambda>" not in name and "<locals>" not in name and " at 0x" not in name
    if owner is None or isinstance(owner, (type, ModuleType)):
        return f"{module}.{name}", stable
    state, state_stable = _state_of(owner)
    if state:
        if not isinstance(function, type):  # a bound method: Class(state).method
            head, _, method = name.rpartition(".")
            name = f"{head}({state}).{method}" if head else f"{name}({state})"
        else:
            name = f"{name}({state})"
    return f"{module}.{name}", stable and state_stable


def _state_of(instance: Any) -> tuple[str, bool]:
    """An object's attributes as `key=value` text, and whether that text is the same in
    every process (no value shown as a memory address)."""
    attributes = getattr(instance, "__dict__", None)
    text = repr(instance) if attributes is None else _arguments_text((), attributes, depth=1)
    return text, " at 0x" not in text


class _JobFields(NamedTuple):
    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = MappingProxyType({})


class JobTask(_JobFields):
    """A Python callable, run in a forked child of the tick.

    A tuple of its fields (equal to any with the same values), whose description (the
    identity, and whether it is stable) is worked out on first use and kept with the
    instance: a tick asks for it at every mutex, log line and listing. An argument
    changed after that does not change it, so a run's mutex is released under the key
    it was taken with.
    """

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
        # The class has no __slots__ (a tuple subclass cannot add any), so each task
        # has a dict of its own to hold what was worked out.
        described: tuple[str, bool] | None = self.__dict__.get(_DESCRIBED)
        if described is None:
            described = self.__dict__[_DESCRIBED] = self._describe()
        return described

    def _describe(self) -> tuple[str, bool]:
        function, args, kwargs = self.function, self.args, self.kwargs
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
        import shlex  # not at the top: a tick that names no command task needs none

        return shlex.join(["artisan", self.name, *self.args])

    @property
    def stable_identity(self) -> str:
        return self.identity

    @property
    def default_name(self) -> str:
        import shlex

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


# How long sending a job to a queue may take when the event sets no timeout(): a broker
# that accepts the connection and then never answers must not hold up the tick.
SEND_TIMEOUT = 30.0


def target_path(target: Any) -> tuple[str, bool]:
    """The dotted name of what a dispatch sends, and whether it is the same in every
    process: a dotted path as given, a Celery task by its registered name, a function
    by `module.qualname`."""
    if isinstance(target, str):
        return target, True
    celery_name = getattr(target, "name", None)
    if hasattr(target, "apply_async") and isinstance(celery_name, str):
        return celery_name, True
    return _callable_path(target)


def queue_label(queue: Any) -> str:
    """A queue as messages name it: its name, or for an RQ queue `rq 'name'`."""
    if queue is None or isinstance(queue, str):
        return repr(queue) if queue else "its default queue"
    return f"{type(queue).__name__} {getattr(queue, 'name', None) or repr(queue)!r}"


class _DispatchFields(NamedTuple):
    target: Any
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = MappingProxyType({})
    queue: Any = None


class DispatchTask(_DispatchFields):
    """A job sent to a queue (Celery, RQ, or a dispatcher the application registered),
    for the queue's workers to run; the tick only sends it (`scheduler/queues`).

    `target` is a Celery task, a function, or the dotted path of either
    (`"myapp.tasks.build_report"`), imported only when it is sent; `queue` is a queue
    name, an RQ `Queue`, or None for the target's default. Like `JobTask`, it keeps its
    description once worked out.
    """

    @property
    def kind(self) -> str:
        return "dispatch"

    @property
    def target_name(self) -> str:
        """The target's dotted name, with its arguments when it has any."""
        path, _ = target_path(self.target)
        if not self.args and not self.kwargs:
            return path
        return f"{path}({_arguments_text(self.args, self.kwargs)})"

    @property
    def identity(self) -> str:
        """`dispatch myapp.tasks.report('daily') to 'reports'`."""
        return self._described()[0]

    @property
    def stable_identity(self) -> str | None:
        text, stable = self._described()
        return text if stable else None

    def _described(self) -> tuple[str, bool]:
        described: tuple[str, bool] | None = self.__dict__.get(_DESCRIBED)
        if described is None:
            _, stable = target_path(self.target)
            text = f"dispatch {self.target_name} to {queue_label(self.queue)}"
            described = self.__dict__[_DESCRIBED] = (text, stable and " at 0x" not in text)
        return described

    @property
    def default_name(self) -> str:
        return self.identity


Task = JobTask | CommandTask | ShellTask | DispatchTask
