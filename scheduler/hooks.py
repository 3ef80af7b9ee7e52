"""Calling user code: jobs, filters, hooks and listeners, sync or `async def`.

`call_user_code` is the one place where a callable of the user's is called: when it
returns an awaitable (an `async def` function, or a plain function that returns a
coroutine), the awaitable is run to completion on an event loop of its own, so async
code is never silently left unawaited.

A hook may take no arguments, or name any of `output` (the task's captured output as
text), `exit_code` (an int) and `event`; it is called with exactly those. This is the
Pythonic form of Laravel's `thenWithOutput`/`onFailureWithOutput`. A `when`/`skip`
filter may name `event`; a listener of task events names what it wants of its own list.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import CoroutineType, GeneratorType

from scheduler.deadline import seconds_setting
from scheduler.settings import Settings, current
from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from typing import Any

# The setting (environment or .env) that chooses the event loop of async user code:
# "asyncio" (the default), "uvloop" (needs the uvloop package), or "module:factory"
# naming a function that returns a new loop.
EVENT_LOOP_VARIABLE = "SCHEDULER_EVENT_LOOP"


def call_user_code(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `function`; if it returns an awaitable, run that to completion and return
    its result. Its exceptions propagate as the caller's own."""
    result = function(*args, **kwargs)
    if _is_awaitable(result):
        return run_awaitable(result)
    return result


# Generators that `types.coroutine` made awaitable carry this flag (inspect's
# CO_ITERABLE_COROUTINE; inspect itself is not imported, it costs a tick milliseconds).
_ITERABLE_COROUTINE = 0x100


def _is_awaitable(value: object) -> bool:
    """`inspect.isawaitable(value)`."""
    return (isinstance(value, CoroutineType | Awaitable)
            or (isinstance(value, GeneratorType)
                and bool(value.gi_code.co_flags & _ITERABLE_COROUTINE)))


def run_awaitable(awaitable: Awaitable[Any]) -> Any:
    """Run `awaitable` to completion on a new event loop (see SCHEDULER_EVENT_LOOP),
    close the loop, and return the result.

    A new loop each time, as `asyncio.run` does: the code runs in a forked child or a
    supervising process that has no loop running (`asyncio.run` itself takes no loop
    factory before Python 3.12).
    """
    import asyncio  # tens of milliseconds: only in the processes that run async code

    loop = new_event_loop(current().get(EVENT_LOOP_VARIABLE))
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(_as_coroutine(awaitable))
    finally:
        try:
            _cancel_leftover_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def new_event_loop(choice: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the kind `choice` names; ValueError, naming it, when unusable."""
    import asyncio

    choice = choice.strip()
    if choice in ("", "asyncio"):
        return asyncio.new_event_loop()
    module_name, _, factory_name = ("uvloop:new_event_loop" if choice == "uvloop"
                                    else choice).partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name or "new_event_loop")
    except (ImportError, AttributeError) as error:
        raise ValueError(f"{EVENT_LOOP_VARIABLE}={choice!r}: cannot load the event loop "
                         f"({error}); use 'asyncio', 'uvloop' (pip install uvloop) or "
                         f"'module:factory'") from None
    loop = factory()
    if not isinstance(loop, asyncio.AbstractEventLoop):
        raise ValueError(f"{EVENT_LOOP_VARIABLE}={choice!r}: {factory_name or 'new_event_loop'}"
                         f"() returned {loop!r}, not an event loop")
    return loop


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _cancel_leftover_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks the code started and did not wait for, as `asyncio.run` does."""
    import asyncio

    leftovers = asyncio.all_tasks(loop)
    for task in leftovers:
        task.cancel()
    if leftovers:
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))

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
        import inspect  # only kernels that give hooks or filters pay for it

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


class UserCodeExited(Exception):
    """User code called in the supervising process (a hook, a condition, a listener)
    called `sys.exit()`: an error of that code, reported like any other, never the end
    of the tick and of every task after it."""


def call_in_supervisor(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call_user_code`, with a `sys.exit()` in it turned into UserCodeExited, which the
    callers' `except Exception` reports."""
    try:
        return call_user_code(function, *args, **kwargs)
    except SystemExit as stop:
        raise UserCodeExited(f"it called sys.exit({stop.code!r})") from stop


def call_hook(hook: Callable[..., Any], available: Mapping[str, Any],
              allowed: tuple[str, ...] = HOOK_PARAMETERS) -> Any:
    """Call `hook` with the parameters it names, taken from `available`; return what it
    returns (an `async def` hook's result once it has run to completion)."""
    return call_with_parameters(hook, accepted_parameters(hook, allowed), available)


def call_with_parameters(hook: Callable[..., Any], names: Iterable[str],
                         available: Mapping[str, Any]) -> Any:
    """Call `hook` with the parameters `names`, taken from `available` (None for those
    it lacks), as `call_in_supervisor` does."""
    return call_in_supervisor(hook, **{name: available.get(name) for name in names})
