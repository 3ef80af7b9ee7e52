"""Running one task in a child process, with its output captured to a file.

* a job is a forked child of the tick: the kernel is already imported, nothing is
  loaded twice, and the function's exception becomes a traceback in its output;
* a command is `python -m scheduler <name> <args...>`, the arguments passed as a list;
* a shell task is `/bin/sh -c <line>`;
* a dispatch is a forked child too, which sends the job to its queue and hands the
  queue's id for it back through a pipe (`scheduler/queues`).

Every task runs under a keeper process (scheduler.keeper) in a session of its own, so
that stopping it (a timeout, or the death of its supervisor) stops everything it
started, and reads its standard input from /dev/null. An event with
`user("name")` runs its child as that user: only root can switch, so a tick running as
anyone else refuses such a run (with a message saying why) unless it is that user. Such
a child gets a clean environment and none of the tick's descriptors above 2: the tick
may hold secrets (a Redis URL with its password, MAIL_PASSWORD) and logged-in
connections that the other user must not get. No child, whoever it runs as, inherits
the tick's mutex lock descriptors or Redis sockets.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Collection, Mapping
from typing import Any, BinaryIO, NamedTuple, Protocol

from scheduler import streams
from scheduler.descriptors import closed_in_forked_jobs, drop_tick_descriptors
from scheduler.hooks import call_user_code
from scheduler.keeper import STOP_GRACE, keep
from scheduler.keeper import prepare as prepare_keeper
from scheduler.settings import Settings
from scheduler.tasks import CommandTask, DispatchTask, JobTask, ShellTask, Task


class ExitStatus(NamedTuple):
    """How a child ended: its exit code, or the signal that killed it."""

    code: int
    signal: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.code == 0 and self.signal is None

    @classmethod
    def from_returncode(cls, returncode: int) -> ExitStatus:
        """From a `subprocess` return code (negative: killed by that signal)."""
        if returncode < 0:
            return cls(128 - returncode, -returncode)
        return cls(returncode)

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"killed by {name}"
        return f"exit code {self.code}"


# What a task run as another user keeps of the tick's environment (besides its own
# HOME, USER, LOGNAME, SHELL and PATH): what cron passes on, the application's mode, and
# where the application is (a command task is artisan started again: without these it
# could not find the kernel and commands it was configured with). None is a secret.
KEPT_VARIABLES = ("LANG", "LC_ALL", "TZ", "APP_ENV", "SCHEDULER_ROOT", "SCHEDULER_KERNEL",
                  "SCHEDULER_COMMANDS")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class CannotSwitchUser(OSError):
    """The task asks for a user this process cannot run it as."""


class RunAs(NamedTuple):
    """A system user to run a task as: ids, supplementary groups and environment."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    shell: str
    passed: tuple[str, ...] = ()  # variables of the tick passed on, as user(env=...) names

    @classmethod
    def named(cls, name: str, passed: tuple[str, ...] = ()) -> RunAs:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise CannotSwitchUser(f"there is no user {name!r} on this machine") from None
        groups = tuple(os.getgrouplist(name, entry.pw_gid))
        return cls(name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir,
                   entry.pw_shell or "/bin/sh", passed)

    def environment(self, tick: Mapping[str, str]) -> dict[str, str]:
        """The task's whole environment, as `su -` and cron build it: who it is, where
        home is, a standard PATH, and only the listed variables of the `tick`'s."""
        kept = {name: tick[name] for name in (*KEPT_VARIABLES, *self.passed) if name in tick}
        return {"PATH": DEFAULT_PATH, **kept, "HOME": self.home, "USER": self.name,
                "LOGNAME": self.name, "SHELL": self.shell}


def switch_for(user: str | None, passed: tuple[str, ...] = ()) -> RunAs | None:
    """The user to switch to for a task run as `user`; None when no switch is needed.

    Raises CannotSwitchUser when one is needed and this process is not root.
    """
    if user is None:
        return None
    target = RunAs.named(user, passed)
    euid = os.geteuid()
    if euid == target.uid:
        return None
    if euid != 0:
        try:
            me = pwd.getpwuid(euid).pw_name
        except KeyError:
            me = f"uid {euid}"
        raise CannotSwitchUser(f"cannot run as user {user!r}: the tick runs as {me!r}, and "
                               f"only root can run tasks as another user")
    return target


class Child(Protocol):
    """A started task: its process id, and a way to wait for its end."""

    pid: int

    def wait(self, timeout: float | None = None) -> ExitStatus | None:
        """The exit status; None if `timeout` seconds passed and it still runs."""


# How long the keeper takes at most to stop a task, after which it is killed itself.
KEEPER_MARGIN = 2.0


def stop(child: Child) -> ExitStatus:
    """Stop `child` and everything it started: SIGTERM to its keeper's process group;
    the keeper passes it on to every descendant, even those in sessions of their own,
    and sends SIGKILL `STOP_GRACE` seconds later. A keeper that does not end by then is
    killed with its group."""
    for signum, wait in ((signal.SIGTERM, STOP_GRACE + KEEPER_MARGIN), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):  # gone already: the wait reaps it
            os.killpg(child.pid, signum)
        status = child.wait(wait)
        if status is not None:
            return status
    raise AssertionError("unreachable: a wait without timeout returns a status")


def flush_standard_streams() -> None:
    """Flush Python's buffered stdout and stderr, so that a child forked next does not
    print them a second time."""
    for stream in (sys.stdout, sys.stderr):
        streams.flush(stream)  # a full or broken stdout must not stop the fork


def fork_child(body: Callable[[], int]) -> int:
    """Fork a child that runs `body` and exits with the code it returns (1 if it
    raises); return the child's pid at once, without waiting for it."""
    flush_standard_streams()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, which never returns
        code = 1
        try:
            code = body()
        finally:
            flush_standard_streams()
            os._exit(code)
    return pid


class ForkedChild:
    """A forked child of this process: wait for its end."""

    pid: int

    def wait(self, timeout: float | None = None) -> ExitStatus | None:
        if timeout is not None and not _exits_within(self.pid, timeout):
            return None
        _, status = os.waitpid(self.pid, 0)
        return ExitStatus.from_returncode(os.waitstatus_to_exitcode(status))


class ForkedJob(ForkedChild):
    """A Python callable in a forked child with a session of its own, without a keeper:
    for the short sends to a queue (ForkedDispatch), which hold no lock."""

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: Mapping[str, Any], output: BinaryIO, run_as: RunAs | None = None) -> None:
        flush_standard_streams()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            with contextlib.suppress(OSError):
                os.setsid()  # so that `stop` can signal it as a group
            _run_in_child(function, args, kwargs, output, run_as)
        self.pid = pid


class KeptTask(ForkedChild):
    """A task running under its keeper (see scheduler.keeper): to the supervisor, the
    keeper's pid, exit code and signal are the task's."""

    def __init__(self, launch: Callable[[], int],
                 on_orphaned: Callable[[], None] | None = None,
                 lock_descriptors: Collection[int] = ()) -> None:
        supervisor = os.getpid()
        prepare_keeper()
        flush_standard_streams()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the keeper, which never returns
            try:
                drop_tick_descriptors(keeping=lock_descriptors)
            except BaseException:
                os._exit(1)  # never back into the supervisor's code
            keep(launch, supervisor, on_orphaned)
        self.pid = pid


def _fork_job(function: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any],
              output: BinaryIO, run_as: RunAs | None) -> int:  # pragma: no cover - keeper
    """Fork the child that calls `function`; its pid."""
    pid = os.fork()
    if pid == 0:
        _run_in_child(function, args, kwargs, output, run_as)
    return pid


class ForkedDispatch(ForkedJob):
    """A job sent to a queue by a forked child: the queue libraries are imported there,
    and a broker that hangs is stopped with the child. `job_id` is the queue's id for
    the job once the child has ended (None if it sent nothing)."""

    def __init__(self, task: DispatchTask, output: BinaryIO, run_as: RunAs | None = None) -> None:
        from scheduler import queues  # the queue code, only for the ticks that dispatch

        read, write = os.pipe()
        try:
            super().__init__(queues.send_from_child, (task, write), {}, output, run_as)
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        self._id_pipe = read
        self.job_id: str | None = None

    def wait(self, timeout: float | None = None) -> ExitStatus | None:
        status = super().wait(timeout)
        if status is not None and self._id_pipe >= 0:
            with os.fdopen(self._id_pipe, "rb") as pipe:
                self.job_id = pipe.read().decode() or None
            self._id_pipe = -1
        return status


def answer_from_child(body: Callable[[int], None], timeout: float) -> bytes | None:
    """Run `body(pipe)` in a forked child and return what it wrote to `pipe`; None when
    the child did not end within `timeout` seconds (it is killed). For questions to a
    server that may never answer, asked without importing its client into the tick."""
    read, write = os.pipe()

    def child() -> int:  # pragma: no cover - runs in the forked child
        for descriptor in (*closed_in_forked_jobs(), read):
            os.close(descriptor)
        body(write)
        return 0

    try:
        pid = fork_child(child)
    finally:
        os.close(write)
    with os.fdopen(read, "rb") as pipe:
        if not _exits_within(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        os.waitpid(pid, 0)
        return pipe.read()


def _exits_within(pid: int, timeout: float) -> bool:
    """Whether the child `pid` ends within `timeout` seconds (it is not reaped here)."""
    try:
        descriptor = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (old kernel): poll instead
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            time.sleep(0.01)
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    try:
        readable, _, _ = select.select([descriptor], [], [], timeout)
        return bool(readable)
    finally:
        os.close(descriptor)


def _run_in_child(function: Callable[..., Any], args: tuple[Any, ...],
                  kwargs: Mapping[str, Any], output: BinaryIO,
                  run_as: RunAs | None) -> None:  # pragma: no cover
    code = 1
    try:
        drop_tick_descriptors()
        # The keeper's handlers, reset; the job stays in the keeper's session and group.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            signal.signal(signum, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output.fileno(), 1)
        os.dup2(output.fileno(), 2)
        if run_as is not None:
            os.closerange(3, _descriptor_limit())  # nothing of the tick's but 0, 1, 2
            _drop_to(run_as)
        result = call_user_code(function, *args, **kwargs)  # an async job runs to the end
        # As in Laravel, a job that returns False has failed (None, or anything else,
        # is a success).
        if result is False:
            print("The job returned False.", file=sys.stderr)
        code = 1 if result is False else 0
    except SystemExit as stop:
        code = _exit_code_of(stop)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _drop_to(run_as: RunAs) -> None:  # pragma: no cover - runs in a forked job
    """Become `run_as` for good: groups first, then the gid, the uid last (after it, the
    process could no longer change the others)."""
    os.setgroups(list(run_as.groups))
    os.setgid(run_as.gid)
    os.setuid(run_as.uid)
    clean = run_as.environment(os.environ)
    os.environ.clear()
    os.environ.update(clean)
    # The tick's settings (MAIL_PASSWORD, the cache URL) are forgotten: the job reads
    # its own from the clean environment and whatever .env its user may read.
    from scheduler import settings as settings_module

    settings_module.forget()


def _descriptor_limit() -> int:  # pragma: no cover - runs in a forked job
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if 0 < soft < 1 << 20 else 1 << 16


def _exit_code_of(stop: SystemExit) -> int:
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code & 0xFF
    print(stop.code, file=sys.stderr)
    return 1


def _spawn(argv: list[str], output: BinaryIO, settings: Settings,
           run_as: RunAs | None) -> int:  # pragma: no cover - runs in the keeper
    """Start `argv` as a child of the keeper, in the keeper's session; its pid."""
    switch: dict[str, Any] = {}
    if run_as is not None:
        # Popen switches in the child between fork and exec: groups, gid, then uid.
        switch = {"user": run_as.uid, "group": run_as.gid,
                  "extra_groups": list(run_as.groups),
                  "env": run_as.environment(os.environ)}
    try:
        started = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            cwd=settings.root, close_fds=True,
            # The keeper's signal handlers must not leak into the program.
            restore_signals=True, **switch)
    except OSError as error:
        os.write(output.fileno(), f"could not start the task: {error}\n".encode())
        raise
    # The keeper reaps it; a Popen dropped now would reap it first in its __del__.
    _spawned.append(started)
    return started.pid


_spawned: list[subprocess.Popen[bytes]] = []


def command_argv(task: CommandTask, settings: Settings) -> list[str]:
    """The argument list of an artisan command task."""
    return [*artisan_argv(), task.name, *task.args]


def artisan_argv() -> list[str]:
    """How to start artisan again: the running interpreter with `-m scheduler`, in the
    project folder (SCHEDULER_ROOT, which the settings export). Never a path to an
    `artisan` file, which an installed application does not have."""
    return [sys.executable, "-m", "scheduler"]


def start(task: Task, output: BinaryIO, settings: Settings, user: str | None = None,
          passed: tuple[str, ...] = (), on_orphaned: Callable[[], None] | None = None,
          lock_descriptors: Collection[int] = ()) -> Child:
    """Start `task` under a keeper, with its stdout and stderr going to `output`, as
    `user` if given (with a clean environment plus the variables named in `passed`).

    `on_orphaned` is called (in the keeper) if this process dies before the task ends;
    the keeper holds `lock_descriptors` (the run's file lock) until the task is gone,
    and none of this process's other locks or sockets. (A dispatch to a queue is a short
    send in a forked child of its own, without a keeper.)

    Raises OSError (CannotSwitchUser for a user it cannot run as) when it cannot start.
    """
    run_as = switch_for(user, passed)
    if isinstance(task, DispatchTask):
        return ForkedDispatch(task, output, run_as)
    launch: Callable[[], int]
    if isinstance(task, JobTask):
        job = task
        def launch() -> int:
            return _fork_job(job.function, job.args, job.kwargs, output, run_as)
    elif isinstance(task, CommandTask):
        argv = command_argv(task, settings)
        def launch() -> int:
            return _spawn(argv, output, settings, run_as)
    elif isinstance(task, ShellTask):
        argv = ["/bin/sh", "-c", task.line]
        def launch() -> int:
            return _spawn(argv, output, settings, run_as)
    else:
        raise TypeError(f"not a task: {task!r}")
    return KeptTask(launch, on_orphaned, lock_descriptors)
