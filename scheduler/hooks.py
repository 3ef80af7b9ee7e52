"""Calling user hooks with what they ask for.

A hook may take no arguments, or name any of `output` (the task's captured output as
text), `exit_code` (an int) and `event`; it is called with exactly those. This is the
Pythonic form of Laravel's `thenWithOutput`/`onFailureWithOutput`.
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


def accepted_parameters(hook: Callable[..., Any]) -> frozenset[str]:
    """The hook parameters `hook` asks for by name; raise ValueError for any other."""
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    wanted = set()
    for parameter in parameters:
        if parameter.kind is parameter.VAR_KEYWORD:
            return frozenset(HOOK_PARAMETERS)
        if parameter.kind is parameter.VAR_POSITIONAL or parameter.default is not parameter.empty:
            continue
        if parameter.name not in HOOK_PARAMETERS:
            raise ValueError(f"a hook's parameters must be named from {', '.join(HOOK_PARAMETERS)}"
                             f"; {parameter.name!r} is not")
        wanted.add(parameter.name)
    return frozenset(wanted)


def call_hook(hook: Callable[..., Any], available: Mapping[str, Any]) -> None:
    """Call `hook` with the parameters it names, taken from `available`."""
    names = accepted_parameters(hook)
    hook(**{name: available.get(name) for name in names})
