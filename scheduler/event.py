"""Event: one scheduled task with its frequency, filters, hooks and run options.

Every modifier returns the event, so calls chain:

    schedule().job(cleanup).daily_at("02:00").timezone("Europe/Paris").without_overlapping()

Bad input raises `InvalidSchedule` (a ValueError) at once, naming the task, the method
and the value, so a mistake in the kernel shows up when the schedule is defined, not at
2 a.m.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from pathlib import Path

from scheduler.cron import EVERY_MINUTE, CronError, CronExpression, ZoneMinute, compile_expression
from scheduler.frequencies import ManagesFrequencies, parse_time
from scheduler.hooks import accepted_parameters, call_hook
from scheduler.tasks import Task
from scheduler.typing_names import TYPE_CHECKING
from scheduler.zones import UTC, zone_label, zone_named

if TYPE_CHECKING:
    from typing import Any, NoReturn

    from scheduler.windows import TimeWindow

    Condition = bool | Callable[..., Any]
    AttributeValue = str | int | float | bool | None
    Hook = Callable[..., Any]

# What a `when`/`skip` filter may ask for by parameter name.
FILTER_PARAMETERS = ("event",)
# How many distinct five-field tuples `_compiled_by_fields` keeps (as many as
# `compile_expression` caches texts); past that, the others are compiled each time.
FIELDS_CACHE_SIZE = 4096

# Each tuple of five fields an event was given, with its compiled expression, so that
# a frequency method whose fields another event already had costs one dict look-up
# instead of joining the text and asking `compile_expression` (and the events share
# one tuple of fields). Only valid expressions are stored: an invalid one goes through
# `compile_expression` and raises every time.
_compiled_by_fields: dict[tuple[str, ...], tuple[tuple[str, ...], CronExpression]] = {}


class InvalidSchedule(ValueError):
    """A frequency or modifier was given a value it cannot take."""


class Event(ManagesFrequencies):
    """A task and when and how to run it. Build events with `Schedule.job/command/exec`."""

    # Defaults live on the class: an event stores only what its definition changed, so
    # a schedule of thousands of events is quick to build and small in memory. The
    # collections are tuples, replaced (never mutated) when a modifier adds to them.
    _fields: tuple[str, ...] = ("*",) * 5
    _compiled: CronExpression = EVERY_MINUTE
    repeat_seconds: int | None = None
    zone: tzinfo | None = None
    _name: str | None = None
    _mutex_name: str | Callable[[Event], str] | None = None
    _attributes: tuple[tuple[str, AttributeValue], ...] = ()
    environment_names: tuple[str, ...] = ()
    runs_in_maintenance = False
    runs_when_paused = False
    run_as: str | None = None  # the user a task runs as; None: the tick's own
    run_as_env: tuple[str, ...] = ()  # variables passed on to a task run as another user
    windows: tuple[TimeWindow, ...] = ()
    conditions: tuple[tuple[bool, Condition], ...] = ()  # (run_when_true, condition)
    before_hooks: tuple[Hook, ...] = ()
    after_hooks: tuple[Hook, ...] = ()
    success_hooks: tuple[Hook, ...] = ()
    failure_hooks: tuple[Hook, ...] = ()
    overlap_expiration: int | None = None  # minutes; None = overlapping allowed
    one_server = False
    background = False
    output_path: Path | None = None
    append_output = False
    mail_to: tuple[str, ...] = ()
    mail_only_if_output = True
    mail_on_failure_to: tuple[str, ...] = ()
    # Health-check pings: (moment, condition, url), moment one of "before", "success",
    # "failure", "after".
    pings: tuple[tuple[str, Condition, str], ...] = ()
    timeout_seconds: float | None = None
    # For schedule:monitor: how late a run may start, how long it may run (minutes).
    grace_minutes: float | None = None
    expected_runtime_minutes: float | None = None
    # How many minutes late a missed run may still be made up (None: SCHEDULER_CATCH_UP).
    catch_up_minutes: int | None = None

    def __init__(self, task: Task) -> None:
        self.task = task

    # -- what it is ---------------------------------------------------------------------
    @property
    def expression(self) -> str:
        """The five-field cron expression, e.g. `0 9 * * 1-5`."""
        return " ".join(self._fields)

    @property
    def cron_expression(self) -> CronExpression:
        """The compiled expression, as the evaluator matches it."""
        return self._compiled

    @property
    def display_name(self) -> str:
        """The name set with `name()`, else the task's own (`module.function`, the command)."""
        return self._name or self.task.default_name

    @property
    def mutex_key(self) -> str:
        """A key for this event that is the same in every process.

        It is the `mutex_name()` when one was given (events that share it share their
        mutexes), else the expression and the task's identity; a job whose identity is
        not stable across processes (a lambda, a closure) is identified by its `name()`.
        """
        if self._mutex_name is not None:
            custom = self._mutex_name(self) if callable(self._mutex_name) else self._mutex_name
            text = f"mutex-name\0{custom}"
        else:
            identity = self.task.stable_identity
            if identity is None:
                identity = self.task.identity if self._name is None else f"name\0{self._name}"
            text = f"{self.expression}\0{identity}"
        import hashlib  # not for ticks that need no mutex (it loads OpenSSL)

        return f"schedule-{hashlib.sha1(text.encode()).hexdigest()}"

    @property
    def attributes(self) -> dict[str, AttributeValue]:
        """The labels set with `with_attributes()` (a copy), e.g. `{"team": "platform"}`."""
        return dict(self._attributes)

    def __repr__(self) -> str:
        return f"<Event {self.expression!r} {self.task.kind} {self.display_name!r}>"

    # -- the frequency machinery behind ManagesFrequencies ------------------------------
    def _set_fields(self, method: str, argument: object, minute: str | None = None,
                    hour: str | None = None, day: str | None = None, month: str | None = None,
                    weekday: str | None = None) -> Event:
        current = self._fields
        fields = (current[0] if minute is None else minute,
                  current[1] if hour is None else hour,
                  current[2] if day is None else day,
                  current[3] if month is None else month,
                  current[4] if weekday is None else weekday)
        known = _compiled_by_fields.get(fields)
        if known is None:
            try:
                known = fields, compile_expression(" ".join(fields))
            except CronError as error:
                self._invalid(method, argument, str(error))
            if len(_compiled_by_fields) < FIELDS_CACHE_SIZE:
                _compiled_by_fields[fields] = known
        self._fields, self._compiled = known
        return self

    def _invalid(self, method: str, argument: object, reason: str) -> NoReturn:
        shown = "" if argument is None else repr(argument)
        raise InvalidSchedule(f"{self.task.kind} {self.display_name!r}: {method}({shown}): "
                              f"{reason}")

    # -- naming and zones ---------------------------------------------------------------
    def name(self, text: str) -> Event:
        """Set the name shown in output and `schedule:list`.

        It does not change the mutex of a task whose identity is stable (a function, a
        command, a shell line); a lambda or closure job is keyed by its name.
        """
        if not isinstance(text, str) or not text.strip():
            self._invalid("name", text, "expected a non-empty string")
        self._name = text.strip()
        return self

    def with_attributes(self, attributes: Mapping[str, AttributeValue]) -> Event:
        """Label the event: `with_attributes({"team": "platform"})`. Merged with labels
        set before, a later value winning (an event's own over its group's); shown by
        `schedule:list --json` and passed to whoever is told of its runs."""
        if not isinstance(attributes, Mapping):
            self._invalid("with_attributes", attributes, "expected a mapping of names to values")
        merged = dict(self._attributes)
        for key, value in attributes.items():
            if not isinstance(key, str) or not key:
                self._invalid("with_attributes", key, "attribute names must be non-empty strings")
            if not isinstance(value, (str, int, float, bool)) and value is not None:
                self._invalid("with_attributes", value,
                              f"the value of {key!r} must be a string, number, bool or None")
            merged[key] = value
        self._attributes = tuple(merged.items())
        return self

    def description(self, text: str) -> Event:
        """Alias of `name()`, as in Laravel."""
        return self.name(text)

    def timezone(self, zone: str | tzinfo) -> Event:
        """Evaluate the frequency in this zone: `timezone("America/New_York")`."""
        if isinstance(zone, tzinfo):
            self.zone = zone
            return self
        try:
            self.zone = zone_named(zone)
        except ValueError as error:
            self._invalid("timezone", zone, str(error))
        return self

    def timezone_or(self, default: tzinfo) -> tzinfo:
        """This event's zone, or `default` when none was set."""
        return self.zone or default

    # -- filters ------------------------------------------------------------------------
    def environments(self, *names: str | Iterable[str]) -> Event:
        """Run only when `APP_ENV` is one of `names`: `environments("production")`."""
        flat: list[str] = []
        for name in names:
            flat.extend([name] if isinstance(name, str) else name)
        if not flat or not all(isinstance(name, str) and name for name in flat):
            self._invalid("environments", names, "expected one or more environment names")
        self.environment_names = tuple(flat)
        return self

    def even_in_maintenance_mode(self) -> Event:
        """Run even while the application is down (`artisan down`)."""
        self.runs_in_maintenance = True
        return self

    def even_when_paused(self) -> Event:
        """Run even while the schedule is paused (`artisan schedule:pause`)."""
        self.runs_when_paused = True
        return self

    def when(self, condition: Condition) -> Event:
        """Run only when `condition` (a bool, or a callable checked each time) is true.

        A callable may take the event as a parameter named `event`."""
        self.conditions = (*self.conditions, (True, self._condition("when", condition)))
        return self

    def skip(self, condition: Condition) -> Event:
        """Skip the run when `condition` (a bool, or a callable checked each time) is true."""
        self.conditions = (*self.conditions, (False, self._condition("skip", condition)))
        return self

    def _condition(self, method: str, condition: Condition) -> Condition:
        if not isinstance(condition, bool) and not callable(condition):
            self._invalid(method, condition, "expected a bool or a callable")
        if callable(condition):
            try:
                accepted_parameters(condition, FILTER_PARAMETERS)
            except ValueError as error:
                self._invalid(method, condition, str(error))
        return condition

    def between(self, start: str, end: str) -> Event:
        """Run only between two wall-clock times (both included), e.g. "9:00", "17:00"."""
        return self._window("between", start, end, inside=True)

    def unless_between(self, start: str, end: str) -> Event:
        """Do not run between two wall-clock times (both included)."""
        return self._window("unless_between", start, end, inside=False)

    def _window(self, method: str, start: str, end: str, *, inside: bool) -> Event:
        try:
            from scheduler.windows import TimeWindow  # for kernels with windows only

            window = TimeWindow(parse_time(start), parse_time(end), inside)
        except ValueError as error:
            self._invalid(method, (start, end), str(error))
        self.windows = (*self.windows, window)
        return self

    # -- hooks ----------------------------------------------------------------------------
    def before(self, hook: Hook) -> Event:
        """Call `hook` in the tick just before the task starts."""
        return self._hook("before", "before_hooks", hook)

    def after(self, hook: Hook) -> Event:
        """Call `hook` after the task ends, whatever its result.

        A hook may take `output` and/or `exit_code` parameters to receive them.
        """
        return self._hook("after", "after_hooks", hook)

    def then(self, hook: Hook) -> Event:
        """Alias of `after()`."""
        return self._hook("then", "after_hooks", hook)

    def on_success(self, hook: Hook) -> Event:
        """Call `hook` after the task ends with exit code 0."""
        return self._hook("on_success", "success_hooks", hook)

    def on_failure(self, hook: Hook) -> Event:
        """Call `hook` after the task fails (non-zero exit, exception, signal)."""
        return self._hook("on_failure", "failure_hooks", hook)

    # Laravel's names for hooks that receive the output. Any hook may already ask for
    # `output` by naming the parameter; these call `hook(output)` whatever its name.
    def then_with_output(self, hook: Callable[[str], Any]) -> Event:
        """Call `hook(output)` after the task ends, whatever its result."""
        return self._hook("then_with_output", "after_hooks",
                          self._with_output("then_with_output", hook))

    def on_success_with_output(self, hook: Callable[[str], Any]) -> Event:
        """Call `hook(output)` after the task ends with exit code 0."""
        return self._hook("on_success_with_output", "success_hooks",
                          self._with_output("on_success_with_output", hook))

    def on_failure_with_output(self, hook: Callable[[str], Any]) -> Event:
        """Call `hook(output)` after the task fails."""
        return self._hook("on_failure_with_output", "failure_hooks",
                          self._with_output("on_failure_with_output", hook))

    def _with_output(self, method: str, hook: Callable[[str], Any]) -> Hook:
        if not callable(hook):
            self._invalid(method, hook, "expected a callable")

        def with_output(output: str) -> Any:
            return hook(output)

        # Reports of a raising hook name the user's function, not this wrapper.
        with_output.__qualname__ = getattr(hook, "__qualname__", repr(hook))
        return with_output

    def _hook(self, method: str, hooks: str, hook: Hook) -> Event:
        if not callable(hook):
            self._invalid(method, hook, "expected a callable")
        try:
            accepted_parameters(hook)
        except ValueError as error:
            self._invalid(method, hook, str(error))
        setattr(self, hooks, (*getattr(self, hooks), hook))
        return self

    # -- run options ----------------------------------------------------------------------
    def without_overlapping(self, expiration: int = 1440) -> Event:
        """Skip a run while the previous one is still running (lock older than
        `expiration` minutes no longer blocks).

        A job that is a lambda or a closure must be given a `name()` first: its mutex
        is keyed by that name, as nothing else about it is the same in every process.
        """
        if isinstance(expiration, bool) or not isinstance(expiration, int) or expiration <= 0:
            self._invalid("without_overlapping", expiration,
                          "expiration must be a positive number of minutes")
        self._require_mutex_identity("without_overlapping", expiration)
        self.overlap_expiration = expiration
        return self

    def on_one_server(self) -> Event:
        """Run on only one of the servers that share this schedule, each scheduled minute.

        A job that is a lambda or a closure must be given a `name()` first."""
        self._require_mutex_identity("on_one_server", None)
        self.one_server = True
        return self

    def mutex_name(self, name: str | Callable[[Event], str]) -> Event:
        """Key this event's overlap and one-server mutexes by `name` (or by what
        `name(event)` returns), instead of its expression and task. Events given the
        same name share one mutex: `mutex_name("reports")`."""
        if callable(name):
            self._mutex_name = name
            return self
        if not isinstance(name, str) or not name.strip():
            self._invalid("mutex_name", name, "expected a non-empty string or a callable")
        self._mutex_name = name.strip()
        return self

    def _require_mutex_identity(self, method: str, argument: object) -> None:
        if self.task.stable_identity is None and self._name is None \
                and self._mutex_name is None:
            self._invalid(method, argument,
                          "this job (a lambda, a closure, or an argument without a stable "
                          "repr) has no identity that is the same in every process, so its "
                          "mutex could not be found again; call name('...') (or "
                          "mutex_name('...')) before " + method + "()")

    def run_in_background(self) -> Event:
        """Let the tick hand the task to a detached supervisor instead of waiting for it."""
        self.background = True
        return self

    def user(self, name: str, env: Iterable[str] = ()) -> Event:
        """Run a command, shell or job task as the system user `name` (the tick must run
        as root, or as that user already).

        The task gets a clean environment, as cron and `su -` give: HOME, USER, LOGNAME,
        SHELL and PATH of that user, LANG, TZ and APP_ENV from the tick, and the
        variables named in `env` (`user("www-data", env=["DATABASE_URL"])`); nothing
        else of the tick's environment, and none of its open descriptors. A job's forked
        child drops to that user (its groups, then its uid) before calling the function.
        The user must exist when the schedule is defined.
        """
        if not isinstance(name, str) or not name.strip():
            self._invalid("user", name, "expected a user name")
        import pwd

        try:
            pwd.getpwnam(name)
        except KeyError:
            self._invalid("user", name, "there is no such user on this machine")
        names = (env,) if isinstance(env, str) else tuple(env)
        for variable in names:
            if not isinstance(variable, str) or not variable or "=" in variable:
                self._invalid("user", variable, "env= takes names of environment variables")
        self.run_as = name
        self.run_as_env = names
        return self

    def send_output_to(self, path: str | Path) -> Event:
        """Write the task's output (stdout and stderr) to `path`, replacing it each run."""
        return self._output("send_output_to", path, append=False)

    def append_output_to(self, path: str | Path) -> Event:
        """Append the task's output (stdout and stderr) to `path`."""
        return self._output("append_output_to", path, append=True)

    def _output(self, method: str, path: str | Path, *, append: bool) -> Event:
        if not isinstance(path, (str, Path)) or not str(path).strip():
            self._invalid(method, path, "expected a file path")
        self.output_path, self.append_output = Path(path), append
        return self

    def email_output_to(self, addresses: str | Iterable[str],
                        only_if_output: bool = True) -> Event:
        """E-mail the task's output after each run (by default only when there is some).

        Sent with the MAIL_* settings; the subject names the task and its result.
        """
        self.mail_to = self._addresses("email_output_to", addresses)
        self.mail_only_if_output = bool(only_if_output)
        return self

    def email_output_on_failure(self, addresses: str | Iterable[str]) -> Event:
        """E-mail the task's output when a run fails."""
        self.mail_on_failure_to = self._addresses("email_output_on_failure", addresses)
        return self

    def _addresses(self, method: str, addresses: str | Iterable[str]) -> tuple[str, ...]:
        listed = [addresses] if isinstance(addresses, str) else list(addresses)
        if not listed:
            self._invalid(method, addresses, "expected one or more e-mail addresses")
        from scheduler.validation import validate_address  # for kernels that e-mail

        for address in listed:
            problem = validate_address(address) if isinstance(address, str) else "not a string"
            if problem:
                self._invalid(method, address, problem)
        return tuple(listed)

    # -- health-check pings (an HTTP GET; a failed ping is reported, never fails the task)
    def ping_before(self, url: str) -> Event:
        """GET `url` just before the task starts."""
        return self._ping("ping_before", "before", url, True)

    def ping_before_if(self, condition: Condition, url: str) -> Event:
        """GET `url` before the task starts, if `condition` holds."""
        return self._ping("ping_before_if", "before", url, condition)

    def then_ping(self, url: str) -> Event:
        """GET `url` after the task ends, whatever its result."""
        return self._ping("then_ping", "after", url, True)

    def then_ping_if(self, condition: Condition, url: str) -> Event:
        """GET `url` after the task ends, if `condition` holds."""
        return self._ping("then_ping_if", "after", url, condition)

    def ping_on_success(self, url: str) -> Event:
        """GET `url` after the task succeeds."""
        return self._ping("ping_on_success", "success", url, True)

    def ping_on_success_if(self, condition: Condition, url: str) -> Event:
        """GET `url` after the task succeeds, if `condition` holds."""
        return self._ping("ping_on_success_if", "success", url, condition)

    def ping_on_failure(self, url: str) -> Event:
        """GET `url` after the task fails."""
        return self._ping("ping_on_failure", "failure", url, True)

    def ping_on_failure_if(self, condition: Condition, url: str) -> Event:
        """GET `url` after the task fails, if `condition` holds."""
        return self._ping("ping_on_failure_if", "failure", url, condition)

    def _ping(self, method: str, moment: str, url: str, condition: Condition) -> Event:
        from scheduler.validation import validate_url  # for kernels that ping

        problem = validate_url(url) if isinstance(url, str) else "expected a URL"
        if problem:
            self._invalid(method, url, problem)
        self.pings = (*self.pings, (moment, self._condition(method, condition), url))
        return self

    def timeout(self, seconds: float) -> Event:
        """Stop the task if it still runs after `seconds` (SIGTERM, then SIGKILL), as a
        failure; its hooks still run and its mutex is released."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            self._invalid("timeout", seconds, "expected a positive number of seconds")
        self.timeout_seconds = float(seconds)
        return self

    def grace(self, minutes: float) -> Event:
        """Let a run start up to `minutes` after its due instant before
        `schedule:monitor` calls the task late (default 5 minutes)."""
        self.grace_minutes = self._minutes("grace", minutes)
        return self

    def expected_runtime(self, minutes: float) -> Event:
        """Expect a run to take at most `minutes`: `schedule:monitor` reports a run
        still going after that as long-running."""
        self.expected_runtime_minutes = self._minutes("expected_runtime", minutes)
        return self

    def _minutes(self, method: str, minutes: object) -> float:
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) \
                or not 0 < minutes < float("inf"):
            self._invalid(method, minutes, "expected a positive number of minutes")
        return float(minutes)

    def catch_up(self, minutes: int) -> Event:
        """Make up a run missed by at most `minutes` (the host was down, a tick was late):
        it runs once, late, at the next tick. Only for fixed-time expressions
        (`daily_at`, `weekly_on`...); overrides SCHEDULER_CATCH_UP for this event."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
            self._invalid("catch_up", minutes, "expected a whole number of minutes, 0 or more")
        self.catch_up_minutes = minutes
        return self

    def without_catch_up(self) -> Event:
        """Never make up a missed run of this event."""
        self.catch_up_minutes = 0
        return self

    # -- evaluation -------------------------------------------------------------------------
    def scheduled_wall_time(self, now: ZoneMinute) -> datetime | None:
        """The wall time (in the event's zone) this event is due for at `now`, if any."""
        return self._compiled.due_wall_time(now, self._window_check())

    def runs_in_environment(self, environment: str) -> bool:
        """Whether the environment filter lets this event run in `environment`."""
        return not self.environment_names or environment in self.environment_names

    def conditions_pass(self) -> bool:
        """Evaluate the `when`/`skip` conditions (user code: may raise)."""
        for run_when_true, condition in self.conditions:
            value = (call_hook(condition, {"event": self}, FILTER_PARAMETERS)
                     if callable(condition) else condition)
            if bool(value) != run_when_true:
                return False
        return True

    def next_due(self, after: datetime, default_zone: tzinfo) -> datetime | None:
        """The next minute (UTC) after `after` when the frequency and windows let it run.

        `when`/`skip` conditions are user code and cannot be foreseen; they are not
        taken into account.
        """
        return self._compiled.next_due(after, self.timezone_or(default_zone),
                                       self._window_check())

    def _window_check(self) -> Callable[[datetime], bool] | None:
        if not self.windows:
            return None
        windows = self.windows
        return lambda wall: all(window.allows(wall) for window in windows)

    def timezone_label(self, default_zone: tzinfo) -> str:
        """The zone's name for display."""
        return zone_label(self.timezone_or(default_zone))


__all__ = ["UTC", "Event", "InvalidSchedule"]
