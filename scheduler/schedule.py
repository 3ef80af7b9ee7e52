"""Schedule: the registry of events, and which of them are due in a given minute.

Any frequency or modifier called on the schedule itself starts a group of events that
share it (`scheduler/groups.py`): `with schedule().daily().group() as nightly: ...`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, tzinfo

from scheduler import settings
from scheduler.cron import ZoneMinute
from scheduler.event import Event, InvalidSchedule
from scheduler.groups import GroupTemplate, SharesSettings
from scheduler.listeners import Listeners, check_event_name
from scheduler.maintenance import is_down
from scheduler.tasks import CommandTask, DispatchTask, JobTask, ShellTask
from scheduler.typing_names import TYPE_CHECKING, overload
from scheduler.zones import UTC, zone_named

if TYPE_CHECKING:
    from typing import Any, TypeVar

    L = TypeVar("L", bound=Callable[..., Any])


def floor_minute(moment: datetime) -> datetime:
    """The start of the minute containing the aware instant `moment`, in UTC."""
    if moment.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got the naive {moment.isoformat()}")
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


class Schedule(SharesSettings):
    """The events of one application, in the order they were declared.

    `schedule()` returns the process-wide instance the kernel fills; build a fresh
    `Schedule()` where you want one of your own (tests do). Its frequency and modifier
    methods (`daily()`, `timezone(...)`, ...) start a group, as in Laravel.
    """

    def __init__(self, timezone: str | tzinfo | None = None) -> None:
        self.events: list[Event] = []
        self.listeners = Listeners()
        self._timezone = zone_named(timezone) if isinstance(timezone, str) else timezone

    @property
    def default_timezone(self) -> tzinfo:
        """The zone of events that set none: this schedule's, else `APP_TIMEZONE`/local.

        (`timezone(...)` is the modifier that starts a group, as on an event.)
        """
        return self._timezone or settings.current().timezone

    def _template(self) -> GroupTemplate:
        return GroupTemplate(self)

    # -- defining events ------------------------------------------------------------------
    def job(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Event:
        """Run the Python callable `function(*args, **kwargs)` in a forked child."""
        if not callable(function):
            raise InvalidSchedule(f"job({function!r}): expected a callable")
        # The tuple JobTask(function, args, kwargs) builds, made without the Python-level
        # __new__ a NamedTuple generates (a good share of the cost of defining a job).
        return self._add(Event(tuple.__new__(JobTask, (function, args, kwargs))))

    def command(self, name: str | Callable[..., Any], *args: Any) -> Event:
        """Run the artisan command `name` with `args` (a list, never through a shell).

        `command("emails:send --force")` splits the string as a shell would; arguments
        may also be given one by one, as a list, or as a mapping of options:
        `command("backup:run", "--disk", "s3")`, `command("backup:run", {"--disk": "s3"})`.
        `name` may be the function of an artisan command (`@command("inspire")`); the
        event is then named by the command's help text.
        """
        description = None
        if callable(name):
            name, description = _artisan_command_of(name)
        if not isinstance(name, str) or not name.strip():
            raise InvalidSchedule(f"command({name!r}): expected an artisan command name")
        # shlex only where quoting needs it: a plain line splits on spaces, faster (and
        # without importing shlex).
        try:
            if "'" in name or '"' in name or "\\" in name:
                import shlex

                words = shlex.split(name)
            else:
                words = name.split()
        except ValueError as error:  # an unbalanced quote
            raise InvalidSchedule(f"command({name!r}): {error}") from None
        arguments = (*words[1:], *_words(args)) if args else tuple(words[1:])
        event = self._add(Event(CommandTask(words[0], arguments)))
        return event.name(description) if description else event

    def exec(self, line: str, *args: Any) -> Event:
        """Run `line` with `/bin/sh -c`, exactly as written, followed by `args`, each
        quoted for the shell as one word: `exec("pg_dump", "-f", path)`."""
        if not isinstance(line, str) or not line.strip():
            raise InvalidSchedule(f"exec({line!r}): expected a shell command line")
        words = _words(args) if args else None
        if words:
            import shlex

            line = f"{line} {shlex.join(words)}"
        return self._add(Event(ShellTask(line)))

    def dispatch(self, task: Any, *args: Any, queue: Any = None, **kwargs: Any) -> Event:
        """Send `task(*args, **kwargs)` to a queue at each due instant, for its workers to
        run, instead of running it here (see `scheduler.queues`).

        `task` is a Celery task, a function, or the dotted path of either
        (`"myapp.tasks.build_report"`: imported only when sent, so that ticks that send
        nothing never import Celery). `queue` is the Celery queue's name, an RQ `Queue`,
        or a name given to `scheduler.queues.register()` (an RQ queue or a dispatcher
        of your own); None sends a Celery task to its default queue.
        """
        if isinstance(task, str):
            if not task.strip() or "." not in task.replace(":", "."):
                raise InvalidSchedule(f"dispatch({task!r}): expected a dotted path to a task, "
                                      f"like 'myapp.tasks.build_report'")
        elif not callable(task):
            raise InvalidSchedule(f"dispatch({task!r}): expected a Celery task, a function or "
                                  f"the dotted path of one")
        if not (queue is None or isinstance(queue, str) or hasattr(queue, "enqueue_call")):
            raise InvalidSchedule(
                f"dispatch({DispatchTask(task).target_name!r}, queue={queue!r}): expected a "
                f"queue name, an RQ Queue or None")
        if isinstance(queue, str) and not queue.strip():
            raise InvalidSchedule(f"dispatch({DispatchTask(task).target_name!r}, queue=''): "
                                  f"a queue name cannot be empty (None: the default queue)")
        return self._add(Event(DispatchTask(task, args, kwargs, queue)))

    # -- task events ------------------------------------------------------------------------
    @overload
    def listen(self, name: str) -> Callable[[L], L]: ...

    @overload
    def listen(self, name: str, listener: L) -> L: ...

    def listen(self, name: str, listener: L | None = None) -> L | Callable[[L], L]:
        """Call `listener` at each task event `name` (`starting`, `finished`, `failed`,
        `skipped`, `background_finished`, `paused`, `resumed`); without `listener`, a
        decorator. It is called with the parameters it names: `event`, `outcome`,
        `output`, `exit_code`, `duration`, `reason`, `task_event`
        (see `scheduler.listeners`)."""
        try:
            check_event_name(name)
            if listener is not None:
                self.listeners.add(name, listener)
                return listener
        except ValueError as error:
            raise InvalidSchedule(str(error)) from None

        def subscribe(function: L) -> L:
            return self.listen(name, function)

        return subscribe

    def _add(self, event: Event) -> Event:
        self.events.append(event)
        return event

    # -- asking what is due -----------------------------------------------------------------
    def due_events(self, at: datetime, *, environment: str | None = None,
                   in_maintenance: bool | None = None) -> list[Event]:
        """The events due in the minute containing `at` (aware), in declaration order.

        An event is due when its expression matches that minute in its own zone (by
        cron's DST rules), its `between` windows allow it, its environments include
        `environment` (default `APP_ENV`) and maintenance mode allows it. `when`/`skip`
        conditions are user code and are checked by the runner, just before running.
        """
        current = settings.current()
        environment = current.app_env if environment is None else environment
        if in_maintenance is None:
            in_maintenance = is_down(current)
        return [event for event, _ in self.due_with_wall_times(at, environment, in_maintenance)]

    def due_with_wall_times(self, at: datetime, environment: str,
                            in_maintenance: bool) -> list[tuple[Event, datetime]]:
        """Like `due_events`, with the wall time each event is due for in its zone."""
        minute = floor_minute(at)
        default_zone = self.default_timezone
        zone_minutes: dict[tzinfo, ZoneMinute] = {}
        # Events of one compiled expression in one zone, without `between` windows, are
        # due alike: a schedule of thousands of events has far fewer such pairs.
        answers: dict[tuple[int, tzinfo], datetime | None] = {}
        due = []
        for event in self.events:
            if in_maintenance and not event.runs_in_maintenance:
                continue
            if not event.runs_in_environment(environment):
                continue
            zone = event.timezone_or(default_zone)
            now = zone_minutes.get(zone)
            if now is None:
                now = zone_minutes[zone] = ZoneMinute.at(minute, zone)
            if event.windows:
                wall = event.scheduled_wall_time(now)
            else:
                key = (id(event.cron_expression), zone)
                if key in answers:
                    wall = answers[key]
                else:
                    wall = answers[key] = event.scheduled_wall_time(now)
            if wall is not None:
                due.append((event, wall))
        return due

    def next_due(self, event: Event, after: datetime) -> datetime | None:
        """When `event` is next due after `after` (UTC), by frequency and windows.

        For an event that repeats within its minutes, this is the next offset second:
        later in this minute if the minute is one of its own, else the next such minute.
        """
        minute = floor_minute(after)
        if event.repeat_seconds:
            next_second = (after.second // event.repeat_seconds + 1) * event.repeat_seconds
            zone = event.timezone_or(self.default_timezone)
            if next_second < 60 and event.scheduled_wall_time(ZoneMinute.at(minute, zone)):
                return minute + timedelta(seconds=next_second)
        return event.next_due(minute + timedelta(seconds=59), self.default_timezone)


def _words(args: tuple[Any, ...]) -> list[str]:
    """Arguments as a list of words: each argument one word, a list or tuple its items,
    a mapping `{"--disk": "s3"}` `--disk=s3`: a bare flag for True, nothing for False or
    None, and the option once per item for a list (`--tag=a --tag=b`), as Laravel does."""
    words: list[str] = []
    for arg in args:
        if isinstance(arg, Mapping):
            for key, value in arg.items():
                if value is True:
                    words.append(str(key))
                elif isinstance(value, (list, tuple)):
                    words.extend(f"{key}={item}" for item in value)
                elif value is not None and value is not False:
                    words.append(f"{key}={value}")
        elif isinstance(arg, (list, tuple)):
            words.extend(map(str, arg))
        else:
            words.append(str(arg))
    return words


def _artisan_command_of(function: Callable[..., Any]) -> tuple[str, str | None]:
    """The name and first help line of the artisan command whose function this is."""
    from scheduler.cli.registry import registered  # only kernels that schedule this way

    for command in registered().values():
        if command.function is function:
            _check_runnable(command.name, function)
            import inspect  # for command tasks given as functions only

            lines = (command.help or inspect.getdoc(function) or "").strip().splitlines()
            return command.name, lines[0] if lines else None
    raise InvalidSchedule(
        f"command({getattr(function, '__qualname__', function)!r}): not an artisan command; "
        f"decorate it with @command('name') (from scheduler.cli), or use job() to run a "
        f"plain function")


def _check_runnable(name: str, function: Callable[..., Any]) -> None:
    """A command task runs `artisan NAME` in a new process, which knows the commands of
    the commands package only: one defined anywhere else could never run."""
    from scheduler.cli.registry import defined_in_package

    package = settings.current().commands_package
    if not defined_in_package(function, package):
        module = getattr(function, "__module__", "") or ""
        raise InvalidSchedule(
            f"command({name!r}): the command is defined in {module!r}, outside the commands "
            f"package {package!r} (SCHEDULER_COMMANDS), so artisan cannot run it; move it "
            f"into that package, or schedule the function with job()")


_process_schedule = Schedule()


def schedule() -> Schedule:
    """The process-wide schedule that `console/kernel.py` fills."""
    return _process_schedule


def reset_schedule() -> Schedule:
    """Start the process-wide schedule afresh (the kernel loader does, before each load)."""
    global _process_schedule
    _process_schedule = Schedule()
    return _process_schedule
