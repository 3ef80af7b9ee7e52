"""Loading the application's kernel: import it, call its `schedule_tasks()`.

Whatever goes wrong in the user's code becomes a `KernelError` with one paragraph that
says what to fix and the traceback of the user's own frames (the loader's and
importlib's frames are left out: they are noise to the reader).
"""

from __future__ import annotations

import importlib
import os
import sys
from types import TracebackType

from scheduler.deadline import DeadlinePassed, seconds_setting, within
from scheduler.expression_cache import cached_expressions
from scheduler.schedule import Schedule, reset_schedule
from scheduler.settings import Settings
from scheduler.ticklog import scheduler_logger


class KernelError(Exception):
    """The kernel could not be loaded; the message says why, for a person to read."""


def load_schedule(settings: Settings) -> Schedule:
    """Import `settings.kernel`, call its `schedule_tasks()`, return the filled schedule."""
    root = str(settings.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    schedule = reset_schedule()
    try:
        module = importlib.import_module(settings.kernel)
    except SystemExit as error:
        raise KernelError(_exit_message(f"importing the kernel module {settings.kernel!r}",
                                        error)) from None
    except Exception as error:
        raise KernelError(
            f"The kernel module {settings.kernel!r} could not be imported "
            f"(SCHEDULER_KERNEL; looked in {root} and PYTHONPATH). Fix the error below "
            f"and run the command again.\n\n{_user_traceback(error)}") from None
    # An application that imported logging may log through the `scheduler` logger
    # itself: it gets its NullHandler now (not at the tick's first line), so that those
    # records never reach logging's last-resort handler on stderr.
    scheduler_logger()
    define = getattr(module, "schedule_tasks", None)
    if not callable(define):
        raise KernelError(f"The kernel module {settings.kernel!r} ({module.__file__}) has no "
                          f"schedule_tasks() function; define one that declares the tasks.")
    try:
        with cached_expressions(settings):
            define()
    except SystemExit as error:
        raise KernelError(_exit_message(f"schedule_tasks() in {settings.kernel!r}",
                                        error)) from None
    except Exception as error:
        raise KernelError(
            f"schedule_tasks() in {settings.kernel!r} raised an exception, so no task was "
            f"run. Fix the error below and run the command again.\n\n"
            f"{_user_traceback(error)}") from None
    return schedule


def _exit_message(what: str, stop: SystemExit) -> str:
    """A kernel that exits (`sys.exit(0)` too) is a broken kernel: no task was run."""
    return (f"{what} called sys.exit({stop.code!r}), so no task was run. The kernel must "
            f"only declare the tasks; remove the exit.")


# Below a minute, so that a tick whose kernel hangs has given up before cron starts the
# next one: ticks never pile up behind a hung import.
DEFAULT_KERNEL_TIMEOUT = 45.0


def kernel_timeout(settings: Settings) -> float:
    """`SCHEDULER_KERNEL_TIMEOUT` in seconds (default 45); KernelError if it is not a
    positive number."""
    try:
        return seconds_setting(settings.get("SCHEDULER_KERNEL_TIMEOUT"),
                               "SCHEDULER_KERNEL_TIMEOUT", DEFAULT_KERNEL_TIMEOUT)
    except ValueError as error:
        raise KernelError(str(error)) from None


def load_schedule_within(settings: Settings, seconds: float) -> Schedule:
    """`load_schedule`, given up after `seconds` (a kernel whose import hangs must not
    keep a tick alive into the next minute, where cron starts another, and another)."""
    try:
        with within(seconds, f"Loading the kernel {settings.kernel!r}"):
            return load_schedule(settings)
    except DeadlinePassed as error:
        raise KernelError(
            f"{error} (SCHEDULER_KERNEL_TIMEOUT), so no task was run; "
            f"something in its import or in schedule_tasks() hangs.\n\n"
            f"{_where(error.__traceback__)}") from None


def _where(trace: TracebackType | None) -> str:
    """Where the kernel was stuck, as a short stack."""
    framework = os.path.dirname(__file__)
    import traceback  # only for a kernel that failed

    stack = [summary for summary in traceback.extract_tb(trace)
             if not summary.filename.startswith(("<frozen", framework))
             and summary.filename != importlib.__file__]
    return "It was stuck here:\n" + "".join(traceback.format_list(stack[-5:])).rstrip()


def _user_traceback(error: BaseException) -> str:
    import traceback

    report = traceback.TracebackException.from_exception(error)
    report.stack = traceback.StackSummary.from_list(
        [frame for frame in report.stack
         if not frame.filename.startswith("<frozen")
         and frame.filename not in (__file__, importlib.__file__)])
    return "".join(report.format()).rstrip()
