"""The keeper: a small process between a run's supervisor and its task.

The supervisor of a run (the tick, or a background run's supervisor) holds the run's
overlap lock and enforces its timeout. If the supervisor is killed (`kill -9`, the OOM
killer, a container stop), neither may outlive it while the task runs on: the task
would overlap the next run and pass its timeout unwatched. So every task runs under a
keeper, forked by the supervisor, which

* asks the kernel for a signal when the supervisor dies (`PR_SET_PDEATHSIG`), and then
  stops the task: SIGTERM to every process of it, SIGKILL `STOP_GRACE` seconds later;
* is a subreaper (`PR_SET_CHILD_SUBREAPER`): processes the task started, even in
  sessions of their own (`setsid`, `start_new_session=True`), stay its descendants, so
  a timeout stops them too;
* holds a copy of the overlap lock (it inherits the supervisor's descriptor, the task
  does not), so the lock is freed only when the supervisor and the keeper are both gone,
  and the keeper only goes once every process of a stopped task has ended;
* exits the way the task did (same code, or killed by the same signal), so to the
  supervisor it looks like the task itself.

A task that ends normally may leave processes behind (a daemon it started on purpose):
those are left alone, as cron leaves them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

# How long a stopped task gets between SIGTERM and SIGKILL.
STOP_GRACE = 5.0

# prctl(2) options (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


# The C library, through ctypes (there is no maintained binding of prctl without a C
# build): loaded by `prepare` in the process that forks keepers, once, so that each
# keeper inherits it instead of spending milliseconds on the import before its task
# can start. A tick that starts no task never loads it.
_libc: Any = None


def prepare() -> None:
    """Load what a keeper needs before it starts its task (call before forking one; a
    failure is left for the keeper to meet, where it is handled)."""
    global _libc
    if _libc is None:
        with contextlib.suppress(ImportError, OSError):
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    """Call prctl(2); OSError when it cannot be called (no ctypes) or fails."""
    prepare()
    if _libc is None:
        raise OSError(errno.ENOSYS, "prctl cannot be called here (no ctypes)")
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        import ctypes

        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def become_subreaper() -> None:
    """Make this process the subreaper of its descendants: orphans (a background run's
    supervisor whose tick has ended) become its children instead of init's."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def descendants(root: int) -> dict[int, int]:
    """Every descendant of `root` with its process group, read from /proc (empty where
    there is no /proc)."""
    parent_of: dict[int, tuple[int, int]] = {}  # pid: (parent pid, process group)
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:  # it ended while we looked
            continue
        # The command name may hold spaces or parentheses: the fields follow the last ")".
        fields = stat.rsplit(b")", 1)[1].split()
        parent_of[int(entry)] = (int(fields[1]), int(fields[2]))
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in parent_of.items():
        children.setdefault(parent, []).append(pid)
    found: dict[int, int] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found[child] = parent_of[child][1]
            stack.append(child)
    return found


def signal_descendants(signum: int) -> None:
    """Send `signum` to every descendant of this process."""
    for pid in descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def keep(launch: Callable[[], int], supervisor: int,
         on_orphaned: Callable[[], None] | None = None) -> None:  # pragma: no cover - forked
    """Run as the keeper (in a freshly forked child of `supervisor`); never returns.

    `launch` starts the task as a child of this process and returns its pid;
    `on_orphaned` is called when the supervisor died before the task ended.
    """
    state = {"stopping": False, "orphaned": False}

    def stop(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        if os.getppid() != supervisor:
            state["orphaned"] = True
        if not state["stopping"]:
            state["stopping"] = True
            signal_descendants(signal.SIGTERM)
            signal.setitimer(signal.ITIMER_REAL, STOP_GRACE)

    def kill(signum: int, frame: FrameType | None) -> None:
        signal_descendants(signal.SIGKILL)

    status = 1 << 8  # exit code 1, if the task cannot even be started
    try:
        os.setsid()  # no terminal's Ctrl-C reaches a session of its own
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGALRM, kill)
        try:
            become_subreaper()
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (ImportError, OSError):
            # No prctl (not Linux, or an interpreter this user cannot import ctypes
            # from): the task still runs, without these guarantees.
            pass
        if os.getppid() != supervisor:  # it died before the request took effect
            stop()
        task = launch()
        if state["stopping"]:  # stopped while the task was being started
            signal_descendants(signal.SIGTERM)
        status = _reap(task, state)
        if state["orphaned"] and on_orphaned is not None:
            on_orphaned()
    finally:
        _exit_like(status)


def _reap(task: int, state: dict[str, bool]) -> int:  # pragma: no cover - in the keeper
    """Reap children until the task has ended (and, once stopping, until every
    descendant has); return the task's wait status."""
    status: int | None = None
    while True:
        try:
            pid, child_status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == task:
            status = child_status
        if status is not None and not state["stopping"]:
            break
    signal.setitimer(signal.ITIMER_REAL, 0)
    return status if status is not None else 1 << 8


def _exit_like(status: int) -> None:  # pragma: no cover - in the keeper
    """End this process as the task ended: with its exit code, or by its signal."""
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
