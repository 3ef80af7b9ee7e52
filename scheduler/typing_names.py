"""The few names of `typing` that the tick's modules use at run time, without `typing`.

Every minute, on every server, cron starts a tick that imports the scheduler, and
importing `typing` costs it about 3 ms, a tenth of what a bare Python costs to start.
Annotations are never evaluated here (`from __future__ import annotations`), so at run
time the tick needs only `NamedTuple`'s class syntax (built below on
`collections.namedtuple`, which Python has loaded already), `overload` as a decorator,
and `Generic[P]` as a base class with its `ParamSpec`.
mypy reads typing's own names (TYPE_CHECKING), so type checking is unchanged.

Annotations-only names (`Any`, `NoReturn`, ...) are imported from `typing` under
`if TYPE_CHECKING:` in the modules that use them. Modules that the tick does not import
use `typing` as usual.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Generic as Generic
    from typing import NamedTuple as NamedTuple
    from typing import ParamSpec as ParamSpec
    from typing import overload as overload
else:
    from collections import namedtuple

    def overload(function):
        """typing.overload: only type checkers read the overloads."""
        return function

    class ParamSpec:
        """typing.ParamSpec: a name only type checkers read."""

        def __init__(self, name):
            self.__name__ = name

    class Generic:
        """typing.Generic as a base class: `Generic[P]` is this class itself."""

        def __class_getitem__(cls, parameters):
            return cls

    class _NamedTupleMeta(type):
        """Makes `class Point(NamedTuple): x: int; y: int = 0` a `collections.namedtuple`
        with those fields, defaults, methods and docstring, as typing.NamedTuple does."""

        def __new__(cls, name, bases, namespace):
            if not bases:  # NamedTuple itself
                return super().__new__(cls, name, bases, namespace)
            fields = list(namespace.get("__annotations__", {}))
            defaults = [namespace[field] for field in fields if field in namespace]
            if any(field in namespace for field in fields[:len(fields) - len(defaults)]):
                raise TypeError(f"{name}: a field without a default follows one with")
            record = namedtuple(name, fields, defaults=defaults,
                                module=namespace["__module__"])
            record.__annotations__ = dict(namespace.get("__annotations__", {}))
            for key, value in namespace.items():
                if key not in fields and key not in _NOT_COPIED:
                    setattr(record, key, value)
            return record

    _NOT_COPIED = frozenset({"__annotations__", "__module__", "__classcell__"})

    class NamedTuple(metaclass=_NamedTupleMeta):
        """typing.NamedTuple's class syntax (see the module's docstring)."""


__all__ = ["TYPE_CHECKING", "Generic", "NamedTuple", "ParamSpec", "overload"]
