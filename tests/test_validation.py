"""Bad input raises at definition time, naming the task, the method and the value."""

from collections.abc import Callable

import pytest

from scheduler import Event, InvalidSchedule, Schedule


def cleanup_old_files() -> None:
    """A job to attach frequencies to."""


def job() -> Event:
    return Schedule().job(cleanup_old_files)


NAME = "tests.test_validation.cleanup_old_files"

# (calls, fragments the message must contain)
CASES: list[tuple[Callable[[Event], object], list[str]]] = [
    (lambda e: e.daily_at("25:00"), ["daily_at('25:00')", "hour 25"]),
    (lambda e: e.daily_at("12:60"), ["daily_at('12:60')", "minute 60"]),
    (lambda e: e.daily_at("noon"), ["daily_at('noon')", "expected a time"]),
    (lambda e: e.daily_at("12:00:60"), ["daily_at('12:00:60')", "second 60"]),
    (lambda e: e.daily_at("12:00:00:00"), ["daily_at('12:00:00:00')", "expected a time"]),
    (lambda e: e.yearly_on(7, "**"), ["yearly_on('**')", "day of the month"]),
    (lambda e: e.monthly_on("*"), ["monthly_on('*')", "day of the month"]),  # type: ignore[arg-type]
    (lambda e: e.at("7pm"), ["at('7pm')"]),
    (lambda e: e.hourly_at(60), ["hourly_at(60)", "minute 60"]),
    (lambda e: e.hourly_at([0, 75]), ["hourly_at([0, 75])", "minute 75"]),
    (lambda e: e.hourly_at(-1), ["hourly_at(-1)"]),
    (lambda e: e.every_two_hours(99), ["every_two_hours(99)"]),
    (lambda e: e.twice_daily(1, 25), ["twice_daily(25)", "hour"]),
    (lambda e: e.cron("61 * * * *"), ["cron('61 * * * *')", "out of range"]),
    (lambda e: e.cron("* * *"), ["cron('* * *')", "expected 5 fields", "got 3"]),
    (lambda e: e.cron("* * * * * *"), ["expected 5 fields", "got 6"]),
    (lambda e: e.cron("5-1 * * * *"), ["cron('5-1 * * * *')", "reversed"]),
    (lambda e: e.cron("0 0 * * fri-mon"), ["reversed"]),
    (lambda e: e.cron("0 0 31 2 *"), ["cron('0 0 31 2 *')", "never fire"]),
    (lambda e: e.cron("0 0 30,31 2 *"), ["never fire"]),
    (lambda e: e.cron("0 0 15W * *"), ["'W'"]),
    (lambda e: e.cron("0 25 * * *"), ["out of range"]),
    (lambda e: e.cron(5), ["cron(5)"]),  # type: ignore[arg-type]
    (lambda e: e.weekly_on("funday"), ["weekly_on('funday')", "day of the week"]),
    (lambda e: e.weekly_on(9), ["weekly_on(9)"]),
    (lambda e: e.weekly_on("monday", "24:00"), ["weekly_on('24:00')", "hour 24"]),
    (lambda e: e.days("someday"), ["days('someday')"]),
    (lambda e: e.monthly_on(32), ["monthly_on(32)", "between 1 and 31"]),
    (lambda e: e.monthly_on(0), ["monthly_on(0)"]),
    (lambda e: e.twice_monthly(1, 40), ["twice_monthly(40)"]),
    (lambda e: e.days_of_month(1, 33), ["days_of_month(33)"]),
    (lambda e: e.quarterly_on(32), ["quarterly_on(32)"]),
    (lambda e: e.yearly_on(13, 1), ["yearly_on(13)", "month"]),
    (lambda e: e.yearly_on(2, 30), ["yearly_on((2, 30))", "never fire"]),
    (lambda e: e.timezone("Mars/Olympus"), ["timezone('Mars/Olympus')", "unknown time zone"]),
    (lambda e: e.timezone("Mars/X"), ["timezone('Mars/X')"]),
    (lambda e: e.every(7), ["every(7)", "divide a minute"]),
    (lambda e: e.every(45), ["every(45)"]),
    (lambda e: e.every(90), ["every(90)"]),
    (lambda e: e.every(0), ["every(0)"]),
    (lambda e: e.between("9:00", "25:00"), ["between(('9:00', '25:00'))", "hour 25"]),
    (lambda e: e.unless_between("x", "10:00"), ["unless_between"]),
    (lambda e: e.when("yes"), ["when('yes')", "bool or a callable"]),  # type: ignore[arg-type]
    (lambda e: e.skip(3), ["skip(3)"]),  # type: ignore[arg-type]
    (lambda e: e.before("hook"), ["before('hook')", "callable"]),  # type: ignore[arg-type]
    (lambda e: e.after(lambda value: value), ["after(", "'value' is not"]),
    (lambda e: e.without_overlapping(0), ["without_overlapping(0)"]),
    (lambda e: e.environments(), ["environments"]),
    (lambda e: e.name(""), ["name('')"]),
    (lambda e: e.send_output_to(""), ["send_output_to('')"]),
    (lambda e: e.email_output_to("not-an-address"), ["email_output_to('not-an-address')"]),
    (lambda e: e.email_output_to([]), ["email_output_to([])"]),
    (lambda e: e.email_output_on_failure("a@"), ["email_output_on_failure('a@')"]),
    (lambda e: e.ping_before("ftp://example.com/x"), ["ping_before('ftp://example.com/x')"]),
    (lambda e: e.then_ping("not a url"), ["then_ping('not a url')"]),
    (lambda e: e.ping_on_success_if("yes", "http://x.test"),  # type: ignore[arg-type]
     ["ping_on_success_if"]),
    (lambda e: e.timeout(0), ["timeout(0)", "positive number of seconds"]),
    (lambda e: e.timeout("10"), ["timeout('10')"]),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("calls", "fragments"), CASES,
                         ids=[fragments[0] for _, fragments in CASES])
def test_bad_input_names_the_task_the_method_and_the_value(
        calls: Callable[[Event], object], fragments: list[str]) -> None:
    with pytest.raises(InvalidSchedule) as raised:
        calls(job())
    message = str(raised.value)
    assert NAME in message
    for fragment in fragments:
        assert fragment in message


def test_invalid_schedule_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="hour 25"):
        job().daily_at("25:00")


def test_a_failed_call_leaves_the_expression_as_it_was() -> None:
    built = job().daily_at("02:00")
    with pytest.raises(InvalidSchedule):
        built.monthly_on(40)
    assert built.expression == "0 2 * * *"


def test_errors_name_commands_and_shell_tasks_by_their_lines() -> None:
    with pytest.raises(InvalidSchedule, match=r"command 'backup:run --only-db'"):
        Schedule().command("backup:run", "--only-db").daily_at("24:00")
    with pytest.raises(InvalidSchedule, match=r"exec 'pg_dump app'"):
        Schedule().exec("pg_dump app").cron("0 0 0 * *")


def test_a_named_task_is_reported_by_its_name() -> None:
    with pytest.raises(InvalidSchedule, match=r"job 'nightly cleanup': daily_at"):
        job().name("nightly cleanup").daily_at("99:00")


@pytest.mark.parametrize(("build", "message"), [
    (lambda s: s.job("not callable"), "job('not callable'): expected a callable"),
    (lambda s: s.command(""), "command(''): expected an artisan command name"),
    (lambda s: s.exec("  "), "exec('  '): expected a shell command line"),
])
def test_task_definitions_are_checked(build: Callable[[Schedule], object], message: str) -> None:
    with pytest.raises(InvalidSchedule) as raised:
        build(Schedule())
    assert message in str(raised.value)
