"""Groups of events sharing settings: Laravel's ScheduleGroupTest cases, then real ticks."""

from __future__ import annotations

import inspect
import json
from datetime import datetime, timezone

import pytest

from scheduler import Event, InvalidSchedule, Schedule
from scheduler.cron import ZoneMinute
from scheduler.groups import Group, GroupTemplate, shared_method_names
from scheduler.zones import zone_label
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as KERNEL_HEADER
from tests.kernels import ran

UTC = timezone.utc


def task() -> None:
    """A job."""


def other() -> None:
    """Another job."""


def due(event: Event, schedule: Schedule, moment: datetime) -> bool:
    zone = event.timezone_or(schedule.default_timezone)
    return event.scheduled_wall_time(ZoneMinute.at(moment, zone)) is not None


# -- Laravel's ScheduleGroupTest, case by case ------------------------------------------


def test_a_group_sets_the_frequency_of_its_events() -> None:
    s = Schedule()
    with s.daily().group() as group:
        group.command("inspire")
    assert s.events[0].expression == "0 0 * * *"


def test_an_event_overrides_the_groups_frequency() -> None:
    s = Schedule()
    with s.daily().group() as group:
        group.command("inspire")
        group.command("inspire").twice_daily()
    assert [event.expression for event in s.events] == ["0 0 * * *", "0 1,13 * * *"]


def test_a_group_sets_and_an_event_overrides_the_repeat_seconds() -> None:
    s = Schedule()
    with s.every_minute().every_thirty_seconds().group() as group:
        group.command("inspire")
        group.command("inspire").every_twenty_seconds()
    first, second = s.events
    assert (first.repeat_seconds, first.expression) == (30, "* * * * *")
    assert (second.repeat_seconds, second.expression) == (20, "* * * * *")


def test_groups_nest_and_the_inner_one_starts_from_the_outer_ones_settings() -> None:
    s = Schedule()
    with s.daily().timezone("UTC").group() as outer:
        outer.command("inspire")
        with outer.timezone("Asia/Dhaka").group() as inner:
            inner.command("inspire")
        with outer.weekly().group() as weekly:
            weekly.command("inspire")
    labels = [zone_label(event.zone) for event in s.events if event.zone]
    assert labels == ["UTC", "Asia/Dhaka", "UTC"]
    assert [event.expression for event in s.events] == ["0 0 * * *", "0 0 * * *",
                                                        "0 0 * * 0"]


@pytest.mark.parametrize(("call", "read", "expected"), [
    (lambda t: t.timezone("Europe/Paris"), lambda e: zone_label(e.zone), "Europe/Paris"),
    (lambda t: t.on_one_server(), lambda e: e.one_server, True),
    (lambda t: t.environments(["local", "staging"]), lambda e: e.environment_names,
     ("local", "staging")),
    (lambda t: t.run_in_background(), lambda e: e.background, True),
    (lambda t: t.even_in_maintenance_mode(), lambda e: e.runs_in_maintenance, True),
    (lambda t: t.even_when_paused(), lambda e: e.runs_when_paused, True),
    (lambda t: t.without_overlapping(1234), lambda e: e.overlap_expiration, 1234),
    (lambda t: t.timeout(90), lambda e: e.timeout_seconds, 90.0),
    (lambda t: t.user("root"), lambda e: e.run_as, "root"),
], ids=["timezone", "on_one_server", "environments", "run_in_background",
        "even_in_maintenance_mode", "even_when_paused", "without_overlapping", "timeout",
        "user"])
def test_a_group_applies_each_modifier_to_its_events(call, read, expected) -> None:
    s = Schedule()
    with call(s).group() as group:
        group.job(task)
        group.exec("true")
    assert [read(event) for event in s.events] == [expected, expected]


@pytest.mark.parametrize(("moment", "expected"), [
    (datetime(2024, 1, 1, 7, 30, tzinfo=UTC), [True, True, False]),
    (datetime(2024, 1, 1, 8, 5, tzinfo=UTC), [False, False, True]),
    (datetime(2024, 1, 7, 7, 30, tzinfo=UTC), [False, False, False]),  # a Sunday
])
def test_grouped_events_are_due_by_the_groups_days_and_windows(
        moment: datetime, expected: list[bool]) -> None:
    s = Schedule(timezone="UTC")
    with s.days([1, 2, 3, 4, 5, 6]).group() as workdays:
        with workdays.between("07:00", "08:00").group() as mornings:
            mornings.job(task).every_minute()
            mornings.job(other).every_five_minutes()
        workdays.job(task).at("08:05")
    assert [due(event, s, moment) for event in s.events] == expected


def test_an_events_own_calls_keep_the_groups_other_fields() -> None:
    s = Schedule()
    with s.weekdays().without_overlapping().group() as group:
        group.command("inspire").at("00:00")
        group.command("inspire")
        group.command("inspire").at("14:00")
    assert [event.expression for event in s.events] == ["0 0 * * 1-5", "* * * * 1-5",
                                                        "0 14 * * 1-5"]
    assert all(event.overlap_expiration == 1440 for event in s.events)


def test_group_hooks_and_conditions_go_to_every_event() -> None:
    def hook() -> None:
        """A hook."""

    s = Schedule()
    with s.daily().before(hook).on_failure(hook).on_success_with_output(print) \
            .skip(True).group() as group:
        group.job(task)
        group.exec("true").on_failure(other)
    for event in s.events:
        assert event.before_hooks == (hook,) and len(event.success_hooks) == 1
        assert event.conditions == ((False, True),)
    assert s.events[0].failure_hooks == (hook,)
    assert s.events[1].failure_hooks == (hook, other)


def test_a_template_is_never_changed_by_a_later_call() -> None:
    s = Schedule()
    base = s.daily()
    paris = base.timezone("Europe/Paris")
    base.group().job(task)
    paris.group().job(other)
    first, second = s.events
    assert first.zone is None and second.zone is not None
    assert isinstance(paris, GroupTemplate) and not isinstance(paris, Group)


def test_a_group_with_nothing_set_is_an_error() -> None:
    with pytest.raises(InvalidSchedule, match=r"group\(\): a group shares its frequency .* "
                                              r"none were set"):
        Schedule().group()


@pytest.mark.parametrize(("build", "message"), [
    (lambda s: s.daily_at("02:00").timezone("Mars/Base"),
     "group schedule().daily_at('02:00'): timezone('Mars/Base'): unknown time zone"),
    (lambda s: s.daily_at("25:00"), "group schedule(): daily_at('25:00'): hour 25"),
    (lambda s: s.daily().group().weekly_on("funday"),
     "group schedule().daily(): weekly_on('funday'): expected a day of the week"),
    (lambda s: s.hourly().without_overlapping(0),
     "without_overlapping(0): expiration must be a positive number of minutes"),
    (lambda s: s.ping_before("ftp://example.com"), "is not an http:// or https:// URL"),
    (lambda s: s.user("no-such-user-here"),
     "user('no-such-user-here'): there is no such user on this machine"),
])
def test_a_bad_value_in_a_group_raises_at_once_naming_the_group_and_value(
        build, message: str) -> None:
    s = Schedule()
    with pytest.raises(InvalidSchedule) as caught:
        build(s)
    assert message in str(caught.value)
    assert s.events == []


def test_every_modifier_of_an_event_except_its_name_can_be_shared() -> None:
    not_modifiers = {"name", "description", "timezone_or", "scheduled_wall_time",
                     "runs_in_environment", "conditions_pass", "next_due", "timezone_label"}
    public = {name for name, value in inspect.getmembers(Event)
              if not name.startswith("_") and inspect.isfunction(value)}
    assert shared_method_names() == public - not_modifiers
    # The shared methods read as the Event's own.
    assert Schedule().daily.__doc__ == Event.daily.__doc__


# -- the real thing ------------------------------------------------------------------------


def test_a_group_in_the_kernel_runs_and_lists_with_its_shared_settings(
        project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def work(word):
    record(word)

def schedule_tasks():
    with schedule().daily_at("02:00").timezone("Europe/Paris").on_one_server() \\
            .group() as nightly:
        nightly.job(work, "cleanup").name("cleanup")
        nightly.command("inspire")
        nightly.job(work, "late").at("03:00").name("late")
        with nightly.weekdays().group() as weeknights:
            weeknights.job(work, "weeknight").name("weeknight")
""")
    rows = json.loads(project.artisan("schedule:list", "--json").stdout)
    assert [(row["name"], row["expression"], row["timezone"], row["on_one_server"])
            for row in rows] == [
        ("cleanup", "0 2 * * *", "Europe/Paris", True),
        ("inspire", "0 2 * * *", "Europe/Paris", True),
        ("late", "0 3 * * *", "Europe/Paris", True),
        ("weeknight", "0 2 * * 1-5", "Europe/Paris", True)]
    # 02:00 in Paris on Sunday 2026-03-08 is 01:00 UTC: not a weeknight.
    result = project.artisan("schedule:run", "--at", "2026-03-08T01:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ran(project) == ["cleanup"]
    assert "Running inspire" in result.stdout
    project.artisan("schedule:run", "--at", "2026-03-09T01:00:00Z")  # Monday
    assert ran(project) == ["cleanup", "cleanup", "weeknight"]


def test_a_bad_group_value_in_the_kernel_is_reported_at_load(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    with schedule().daily().timezone("Europe/Pariss").group() as nightly:
        nightly.exec("true")
""")
    result = project.artisan("schedule:list")
    assert result.returncode == 2
    assert "group schedule().daily(): timezone('Europe/Pariss'): unknown time zone" \
        in result.stderr
