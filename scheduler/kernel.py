"""Loading the application's kernel: import it, call its `schedule_tasks()`.

Whatever goes wrong in the user's code becomes a `KernelError` with one paragraph that
says what to fix and the traceback of the user's own frames (the loader's and
importlib's frames are left out: they are noise to the reader).
"""

from __future__ import annotations

import importlib
import sys
import traceback

from scheduler.expression_cache import cached_expressions
from scheduler.schedule import Schedule, reset_schedule
from scheduler.settings import Settings


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
    except Exception as error:
        raise KernelError(
            f"The kernel module {settings.kernel!r} could not be imported "
            f"(SCHEDULER_KERNEL; looked in {root} and PYTHONPATH). Fix the error below "
            f"and run the command again.\n\n{_user_traceback(error)}") from None
    define = getattr(module, "schedule_tasks", None)
    if not callable(define):
        raise KernelError(f"The kernel module {settings.kernel!r} ({module.__file__}) has no "
                          f"schedule_tasks() function; define one that declares the tasks.")
    try:
        with cached_expressions(settings):
            define()
    except Exception as error:
        raise KernelError(
            f"schedule_tasks() in {settings.kernel!r} raised an exception, so no task was "
            f"run. Fix the error below and run the command again.\n\n"
            f"{_user_traceback(error)}") from None
    return schedule


def _user_traceback(error: BaseException) -> str:
    report = traceback.TracebackException.from_exception(error)
    report.stack = traceback.StackSummary.from_list(
        [frame for frame in report.stack
         if not frame.filename.startswith("<frozen")
         and frame.filename not in (__file__, importlib.__file__)])
    return "".join(report.format()).rstrip()
