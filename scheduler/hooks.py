"""Calling user hooks, filters and listeners with what they ask for.

A hook may take no arguments, or name any of `output` (the task's captured output as
text), `exit_code` (an int) and `event`; it is called with exactly those. This is the
Pythonic form of Laravel's `thenWithOutput`/`onFailureWithOutput`. A `when`/`skip`
filter may name `event`; a listener of task events names what it wants of its own list.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from scheduler.deadline import seconds_setting
from scheduler.settings import Settings

HOOK_PARAMETERS = ("output", "exit_code", "event")

# How long a hook or a `when`/`skip` condition may run before it is given up on
# (SCHEDULER_HOOK_TIMEOUT): long enough for a real check, short of holding up the tick.
DEFAULT_HOOK_TIMEOUT = 60.0


def hook_timeout(settings: Settings) -> float:
    """`SCHEDULER_HOOK_TIMEOUT` in seconds; ValueError naming the value if it is not a
    positive number."""
    return seconds_setting(settings.get("SCHEDULER_HOOK_TIMEOUT"), "SCHEDULER_HOOK_TIMEOUT",
                           DEFAULT_HOOK_TIMEOUT)


def hook_timeout_or_default(settings: Settings) -> float:
    """`hook_timeout`, or the default for a bad value (the tick reports it at its start)."""
    try:
        return hook_timeout(settings)
    except ValueError:
        return DEFAULT_HOOK_TIMEOUT


def accepted_parameters(hook: Callable[..., Any],
                        allowed: tuple[str, ...] = HOOK_PARAMETERS) -> frozenset[str]:
    """The parameters `hook` asks for by name, from `allowed`; raise ValueError for any
    other."""
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    wanted = set()
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            return frozenset(allowed)
        if parameter.kind is parameter.VAR_POSITIONAL or parameter.default is not parameter.empty:
            continue
        if parameter.name not in allowed:
            raise ValueError(f"its parameters must be named from {', '.join(allowed)}"
                             f"; {parameter.name!r} is not")
        wanted.add(parameter.name)
    return frozenset(wanted)


def call_hook(hook: Callable[..., Any], available: Mapping[str, Any],
              allowed: tuple[str, ...] = HOOK_PARAMETERS) -> Any:
    """Call `hook` with the parameters it names, taken from `available`; return what it
    returns."""
    names = accepted_parameters(hook, allowed)
    return hook(**{name: available.get(name) for name in names})
