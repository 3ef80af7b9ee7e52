"""Groups: settings shared by many events.

    with schedule().daily_at("02:00").timezone("Europe/Paris").on_one_server().group() as nightly:
        nightly.job(cleanup_old_files)
        nightly.command("backup:run")
        with nightly.weekdays().group() as weekday_nights:
            weekday_nights.exec("./report.sh")

Any frequency or modifier called on the schedule (or on a group) starts a
`GroupTemplate`, which records the calls, method name and arguments, without building
an event. `.group()` turns it into a `Group`, whose `job`/`command`/`exec` define
events as the schedule's do and then replay the recorded calls on each new event. The
event's own calls come after, so they override the group's as a later call on the same
field always does: in a `daily()` group, `.twice_daily()` gives `0 1,13 * * *`, and
`.at("9:00")` keeps the group's other fields. This is Laravel's rule for
`Schedule::daily()->group(...)`.

Without `.group()`, a template defines one event directly, as Laravel's pending
attributes do: `schedule().daily_at("01:00").command("inspire")`.

Each call is checked when it is recorded, by replaying the template on a scratch
event, so a bad value raises `InvalidSchedule` at once, naming the group and the value.
A template is never changed by a call: each call returns a new one, so a template can
be kept and shared. `name()`/`description()` are not shareable: a name is one event's.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from scheduler.event import Event, InvalidSchedule
from scheduler.tasks import ShellTask
from scheduler.typing_names import TYPE_CHECKING, Generic, ParamSpec, overload

if TYPE_CHECKING:
    from typing import Any, Concatenate, NoReturn

    from scheduler.schedule import Schedule

    Call = tuple[str, tuple[Any, ...], dict[str, Any]]

P = ParamSpec("P")
_SCRATCH_TASK = ShellTask("<group>")


def describe_calls(calls: tuple[Call, ...]) -> str:
    """The calls as the user wrote them: `daily_at('02:00').on_one_server()`."""
    parts = []
    for name, args, kwargs in calls:
        shown = [repr(arg) for arg in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
        parts.append(f"{name}({', '.join(shown)})")
    return ".".join(parts)


class _ScratchEvent(Event):
    """An event that only checks a group's calls; its errors name the group."""

    def __init__(self, template: GroupTemplate) -> None:
        super().__init__(_SCRATCH_TASK)
        # The template, not its label: the label (the repr of every argument so far) is
        # needed only when a call is refused.
        self.template = template

    def _invalid(self, method: str, argument: object, reason: str) -> NoReturn:
        shown = "" if argument is None else repr(argument)
        raise InvalidSchedule(f"group {self.template.label}: {method}({shown}): {reason}")


class _Shared(Generic[P]):
    """A method of `Event` that, called on a schedule or a group, records itself on a
    new template instead (typed as the Event method it mirrors)."""

    def __init__(self, method: Callable[Concatenate[Event, P], Event]) -> None:
        self.method_name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> _Shared[P]: ...

    @overload
    def __get__(self, instance: SharesSettings, owner: type[Any]) -> Callable[P, GroupTemplate]:
        ...

    def __get__(self, instance: SharesSettings | None,
                owner: type[Any]) -> _Shared[P] | Callable[P, GroupTemplate]:
        if instance is None:
            return self
        template = instance._template()
        name = self.method_name

        def record(*args: P.args, **kwargs: P.kwargs) -> GroupTemplate:
            return template._with((name, args, dict(kwargs)))

        record.__name__ = record.__qualname__ = name
        record.__doc__ = self.__doc__
        return record


class SharesSettings:
    """The frequencies and modifiers a group can share: every `Event` method that says
    when or how a task runs (all but `name`/`description`)."""

    def _template(self) -> GroupTemplate:
        """The template a call on this object extends."""
        raise NotImplementedError

    def group(self) -> Group:
        """The group of events sharing the settings called so far; use it in `with`."""
        return self._template()._group()

    # -- frequencies ------------------------------------------------------------------
    cron = _Shared(Event.cron)
    every = _Shared(Event.every)
    every_second = _Shared(Event.every_second)
    every_two_seconds = _Shared(Event.every_two_seconds)
    every_five_seconds = _Shared(Event.every_five_seconds)
    every_ten_seconds = _Shared(Event.every_ten_seconds)
    every_fifteen_seconds = _Shared(Event.every_fifteen_seconds)
    every_twenty_seconds = _Shared(Event.every_twenty_seconds)
    every_thirty_seconds = _Shared(Event.every_thirty_seconds)
    every_minute = _Shared(Event.every_minute)
    every_two_minutes = _Shared(Event.every_two_minutes)
    every_three_minutes = _Shared(Event.every_three_minutes)
    every_four_minutes = _Shared(Event.every_four_minutes)
    every_five_minutes = _Shared(Event.every_five_minutes)
    every_ten_minutes = _Shared(Event.every_ten_minutes)
    every_fifteen_minutes = _Shared(Event.every_fifteen_minutes)
    every_thirty_minutes = _Shared(Event.every_thirty_minutes)
    hourly = _Shared(Event.hourly)
    hourly_at = _Shared(Event.hourly_at)
    every_odd_hour = _Shared(Event.every_odd_hour)
    every_even_hour = _Shared(Event.every_even_hour)
    every_two_hours = _Shared(Event.every_two_hours)
    every_three_hours = _Shared(Event.every_three_hours)
    every_four_hours = _Shared(Event.every_four_hours)
    every_six_hours = _Shared(Event.every_six_hours)
    daily = _Shared(Event.daily)
    daily_at = _Shared(Event.daily_at)
    at = _Shared(Event.at)
    twice_daily = _Shared(Event.twice_daily)
    twice_daily_at = _Shared(Event.twice_daily_at)
    weekdays = _Shared(Event.weekdays)
    weekends = _Shared(Event.weekends)
    mondays = _Shared(Event.mondays)
    tuesdays = _Shared(Event.tuesdays)
    wednesdays = _Shared(Event.wednesdays)
    thursdays = _Shared(Event.thursdays)
    fridays = _Shared(Event.fridays)
    saturdays = _Shared(Event.saturdays)
    sundays = _Shared(Event.sundays)
    days = _Shared(Event.days)
    weekly = _Shared(Event.weekly)
    weekly_on = _Shared(Event.weekly_on)
    monthly = _Shared(Event.monthly)
    monthly_on = _Shared(Event.monthly_on)
    twice_monthly = _Shared(Event.twice_monthly)
    last_day_of_month = _Shared(Event.last_day_of_month)
    days_of_month = _Shared(Event.days_of_month)
    quarterly = _Shared(Event.quarterly)
    quarterly_on = _Shared(Event.quarterly_on)
    yearly = _Shared(Event.yearly)
    yearly_on = _Shared(Event.yearly_on)

    # -- zone and filters ---------------------------------------------------------------
    timezone = _Shared(Event.timezone)
    environments = _Shared(Event.environments)
    even_in_maintenance_mode = _Shared(Event.even_in_maintenance_mode)
    even_when_paused = _Shared(Event.even_when_paused)
    when = _Shared(Event.when)
    skip = _Shared(Event.skip)
    between = _Shared(Event.between)
    unless_between = _Shared(Event.unless_between)

    # -- hooks ------------------------------------------------------------------------------
    before = _Shared(Event.before)
    after = _Shared(Event.after)
    then = _Shared(Event.then)
    on_success = _Shared(Event.on_success)
    on_failure = _Shared(Event.on_failure)
    then_with_output = _Shared(Event.then_with_output)
    on_success_with_output = _Shared(Event.on_success_with_output)
    on_failure_with_output = _Shared(Event.on_failure_with_output)

    # -- run options ----------------------------------------------------------------------
    without_overlapping = _Shared(Event.without_overlapping)
    on_one_server = _Shared(Event.on_one_server)
    mutex_name = _Shared(Event.mutex_name)
    with_attributes = _Shared(Event.with_attributes)
    run_in_background = _Shared(Event.run_in_background)
    user = _Shared(Event.user)
    send_output_to = _Shared(Event.send_output_to)
    append_output_to = _Shared(Event.append_output_to)
    email_output_to = _Shared(Event.email_output_to)
    email_output_on_failure = _Shared(Event.email_output_on_failure)
    ping_before = _Shared(Event.ping_before)
    ping_before_if = _Shared(Event.ping_before_if)
    then_ping = _Shared(Event.then_ping)
    then_ping_if = _Shared(Event.then_ping_if)
    ping_on_success = _Shared(Event.ping_on_success)
    ping_on_success_if = _Shared(Event.ping_on_success_if)
    ping_on_failure = _Shared(Event.ping_on_failure)
    ping_on_failure_if = _Shared(Event.ping_on_failure_if)
    timeout = _Shared(Event.timeout)
    grace = _Shared(Event.grace)
    expected_runtime = _Shared(Event.expected_runtime)
    catch_up = _Shared(Event.catch_up)
    without_catch_up = _Shared(Event.without_catch_up)


class GroupTemplate(SharesSettings):
    """Recorded frequency and modifier calls, not yet a group: end with `.group()`."""

    def __init__(self, schedule: Schedule, calls: tuple[Call, ...] = ()) -> None:
        self.schedule = schedule
        self.calls = calls

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"

    @property
    def label(self) -> str:
        """The calls as written, as error messages name the group."""
        return ".".join(["schedule()", *filter(None, [describe_calls(self.calls)])])

    def _template(self) -> GroupTemplate:
        return self

    def _with(self, call: Call) -> GroupTemplate:
        """A new template with `call` after these; raise at once if `call` is invalid."""
        calls = (*self.calls, call)
        _replay(calls, _ScratchEvent(self))
        return GroupTemplate(self.schedule, calls)

    # Laravel's pending attributes: `schedule().daily_at("01:00").command("inspire")`
    # defines one event with the settings called so far, no `.group()` needed.
    def job(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Event:
        """`Schedule.job` with these settings applied."""
        return self._apply(self.schedule.job(function, *args, **kwargs))

    def command(self, name: str | Callable[..., Any], *args: Any) -> Event:
        """`Schedule.command` with these settings applied."""
        return self._apply(self.schedule.command(name, *args))

    def exec(self, line: str, *args: Any) -> Event:
        """`Schedule.exec` with these settings applied."""
        return self._apply(self.schedule.exec(line, *args))

    def dispatch(self, task: Any, *args: Any, queue: Any = None, **kwargs: Any) -> Event:
        """`Schedule.dispatch` with these settings applied."""
        return self._apply(self.schedule.dispatch(task, *args, queue=queue, **kwargs))

    def _apply(self, event: Event) -> Event:
        # Checked on a scratch event when recorded, so replaying cannot fail here (but
        # for a mutex on a job that has no stable identity: that names the job).
        _replay(self.calls, event)
        return event

    def _group(self) -> Group:
        if not self.calls:
            raise InvalidSchedule(
                "group(): a group shares its frequency and modifiers with its events, but "
                "none were set; start it with one, e.g. schedule().daily().group()")
        return Group(self.schedule, self.calls)


class Group(GroupTemplate):
    """Events defined here get the group's settings first, then their own.

    A context manager (the `with` block only marks the group's extent); a frequency or
    modifier called on it starts a nested group from its settings.
    """

    def __enter__(self) -> Group:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        return None


def _replay(calls: tuple[Call, ...], event: Event) -> None:
    for name, args, kwargs in calls:
        getattr(event, name)(*args, **kwargs)


def shared_method_names() -> frozenset[str]:
    """The names of the Event methods a group shares."""
    return frozenset(name for name, value in vars(SharesSettings).items()
                     if isinstance(value, _Shared))
