"""Task events: the one place where a run is reported to whoever listens.

Laravel dispatches `ScheduledTaskStarting`, `ScheduledTaskFinished`,
`ScheduledTaskFailed`, `ScheduledTaskSkipped`, `ScheduledBackgroundTaskFinished`,
`SchedulePaused` and `ScheduleResumed`; here they are names a listener subscribes to:

    @schedule().listen("failed")
    def tell_the_team(event, outcome):
        chat.post(f"{event.display_name} failed: {outcome.output[-500:]}")

| name                  | when                                                            |
| --------------------- | --------------------------------------------------------------- |
| `starting`            | a run is about to start (its mutexes taken, before its hooks)   |
| `finished`            | a run ended, whatever its result                                |
| `failed`              | a run failed, or could not start (its mutex store unreachable)  |
| `skipped`             | a due run was not started: `reason` says why (see SKIP_REASONS) |
| `background_finished` | a `run_in_background` run ended (after `finished`)              |
| `paused` / `resumed`  | `schedule:pause` / `schedule:resume` changed the schedule       |

A listener is called in the process that supervises the run (the tick for a foreground
run, the detached supervisor for a background one), with the parameters it names, from
LISTENER_PARAMETERS. A listener that raises, or runs longer than SCHEDULER_HOOK_TIMEOUT,
is reported as a warning; it changes neither the run's result nor the other listeners'
calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from scheduler.deadline import DeadlinePassed, within
from scheduler.hooks import accepted_parameters, call_with_parameters, hook_timeout_or_default
from scheduler.settings import current
from scheduler.typing_names import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    Listener = Callable[..., Any]

TASK_EVENTS = ("starting", "finished", "failed", "skipped", "background_finished",
               "paused", "resumed")
# What a listener may ask for by name: the Event, its RunOutcome (scheduler.execution),
# and from the outcome its output, exit code (None until it ended, or when it did not
# run), duration in seconds and, for `skipped`/`failed` runs that never started, the
# reason; `job_id` is the queue's id for a dispatched task's job (None before it was
# sent, and for other tasks); `task_event` is the name the listener was called for.
LISTENER_PARAMETERS = ("event", "outcome", "output", "exit_code", "duration", "reason",
                       "job_id", "task_event")
# The `reason` codes of skipped runs, as `RunOutcome.skip_code` holds them.
SKIP_REASONS = ("overlap", "other_server", "filter", "maintenance", "paused")


class Listeners:
    """The listeners of one schedule, by task event name."""

    def __init__(self) -> None:
        # Each listener with the parameters it takes, found once, when it is added.
        self._by_name: dict[str, tuple[tuple[Listener, frozenset[str]], ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_name)

    def add(self, name: str, listener: Listener, *,
            parameters: frozenset[str] | None = None) -> None:
        """Subscribe `listener` to the task event `name`; raise ValueError if either is
        not one that can be. `parameters`, for the framework's own listeners, names
        what `listener` takes instead of reading its signature (reading one imports
        `inspect`, which every tick recording the run history would pay for)."""
        check_event_name(name)
        if not callable(listener):
            raise ValueError(f"listen({name!r}, {listener!r}): expected a callable")
        if parameters is None:
            try:
                parameters = accepted_parameters(listener, LISTENER_PARAMETERS)
            except ValueError as error:
                raise ValueError(f"listen({name!r}, {_name_of(listener)}): {error}") from None
        self._by_name[name] = (*self._by_name.get(name, ()), (listener, parameters))

    def dispatch(self, name: str, available: Mapping[str, Any]) -> list[str]:
        """Call the listeners of `name` in the order they were added; return a report
        of each that raised or outlived SCHEDULER_HOOK_TIMEOUT (the others are called all
        the same)."""
        problems = []
        listeners = self._by_name.get(name, ())
        limit = hook_timeout_or_default(current()) if listeners else None
        values = {**available, "task_event": name}
        for listener, parameters in listeners:
            try:
                with within(limit, f"the {name!r} listener {_name_of(listener)}"):
                    call_with_parameters(listener, parameters, values)
            except DeadlinePassed as error:
                problems.append(f"{error} (SCHEDULER_HOOK_TIMEOUT) and was given up on")
            except Exception:
                import traceback  # only when a listener fails

                problems.append(f"the {name!r} listener {_name_of(listener)} raised:\n"
                                f"{traceback.format_exc().rstrip()}")
        return problems


def check_event_name(name: str) -> None:
    """Raise ValueError unless `name` is a task event."""
    if name not in TASK_EVENTS:
        raise ValueError(f"listen({name!r}): there is no task event {name!r}; "
                         f"choose from {', '.join(TASK_EVENTS)}")


def _name_of(listener: Listener) -> str:
    return str(getattr(listener, "__qualname__", None) or repr(listener))
