"""The rest of Laravel's scheduler API: pending attributes, attributes, argument lists,
command functions, filters that take the event, and a job's False return."""

from __future__ import annotations

import pytest

from scheduler import InvalidSchedule, Schedule
from scheduler import settings as settings_module
from scheduler.cli import command
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as KERNEL_HEADER
from tests.kernels import ran


def task() -> None:
    """A job."""


# -- pending attributes: a frequency or modifier on the schedule, then the task ----------

@pytest.mark.parametrize(("define", "expression", "check"), [
    (lambda s: s.daily_at("01:00").command("inspire"), "0 1 * * *", None),
    (lambda s: s.weekdays().hourly().job(task), "0 * * * 1-5", None),
    (lambda s: s.timezone("Europe/Paris").daily().exec("true"), "0 0 * * *",
     lambda e: str(e.zone) == "Europe/Paris"),
    (lambda s: s.on_one_server().without_overlapping().every_five_minutes().job(task),
     "*/5 * * * *", lambda e: e.one_server and e.overlap_expiration == 1440),
    # the event's own calls come after, as in a group
    (lambda s: s.daily().command("inspire").at("9:15"), "15 9 * * *", None),
])
def test_settings_called_on_the_schedule_apply_to_the_next_task(define, expression, check):
    s = Schedule()
    event = define(s)
    assert s.events == [event]
    assert event.expression == expression
    assert check is None or check(event)


def test_pending_settings_apply_to_one_task_only():
    s = Schedule()
    template = s.daily_at("01:00")
    first = template.command("inspire")
    plain = s.command("inspire")
    assert (first.expression, plain.expression) == ("0 1 * * *", "* * * * *")


# -- attributes ----------------------------------------------------------------------------

def test_attributes_merge_from_the_schedule_the_group_and_the_event():
    s = Schedule()
    with s.with_attributes({"team": "platform", "tier": 1}).group() as platform:
        kept = platform.job(task)
        overridden = platform.job(task).with_attributes({"tier": 2, "owner": "ada"})
    pending = s.with_attributes({"team": "billing"}).daily().exec("true")
    assert kept.attributes == {"team": "platform", "tier": 1}
    assert overridden.attributes == {"team": "platform", "tier": 2, "owner": "ada"}
    assert pending.attributes == {"team": "billing"}
    assert s.exec("true").attributes == {}


def test_attributes_are_a_copy():
    event = Schedule().job(task).with_attributes({"team": "platform"})
    event.attributes["team"] = "changed"
    assert event.attributes == {"team": "platform"}


@pytest.mark.parametrize(("value", "message"), [
    ("team", "expected a mapping"),
    ({1: "x"}, "attribute names must be non-empty strings"),
    ({"team": ["a"]}, "the value of 'team' must be a string, number, bool or None"),
])
def test_bad_attributes_are_refused_naming_the_task(value, message):
    with pytest.raises(InvalidSchedule, match=message) as error:
        Schedule().job(task).with_attributes(value)
    assert "job 'tests.test_laravel_api.task': with_attributes(" in str(error.value)


# -- argument lists --------------------------------------------------------------------

@pytest.mark.parametrize(("define", "identity"), [
    (lambda s: s.exec("pg_dump", "-f", "/backups/my app.sql"),
     "pg_dump -f '/backups/my app.sql'"),
    (lambda s: s.exec("echo", "$HOME; rm -rf /"), "echo '$HOME; rm -rf /'"),
    (lambda s: s.exec("tar czf", ["/tmp/a b.tgz", "src"]), "tar czf '/tmp/a b.tgz' src"),
    (lambda s: s.exec("echo $HOME"), "echo $HOME"),
    (lambda s: s.command("backup:run", "--disk", "s3"), "artisan backup:run --disk s3"),
    (lambda s: s.command("backup:run", ["--disk", "s3 eu"]), "artisan backup:run --disk 's3 eu'"),
    (lambda s: s.command("backup:run", {"--disk": "s3", "--force": True}),
     "artisan backup:run --disk=s3 --force"),
    (lambda s: s.command("emails:send --force", 3), "artisan emails:send --force 3"),
    (lambda s: s.command("backup:run", {"--force": False, "--disk": None, "--tag": ["a", "b"]}),
     "artisan backup:run --tag=a --tag=b"),
])
def test_arguments_are_each_one_word(define, identity):
    assert define(Schedule()).task.identity == identity


def test_exec_arguments_reach_the_program_as_one_word_each(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    schedule().exec("printf '%s\\\\n'", "a b", "$HOME", "x;y").send_output_to(
        current().storage / "words.txt")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project.storage / "words.txt").read_text().splitlines() == ["a b", "$HOME", "x;y"]


# -- command(fn): an artisan command given by its function -----------------------------

@pytest.fixture(autouse=True)
def commands_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands below are defined in this module: name it the commands package."""
    monkeypatch.setattr(settings_module, "_current",
                        settings_module.current()._replace(commands_package="tests"))


@command("report:daily", help="Send the daily report.\n\nLonger text.")
def daily_report() -> None:
    """Not the help text: `help` wins."""


@command("report:weekly")
def weekly_report() -> None:
    """Send the weekly report.

    More detail."""


def test_a_command_function_is_scheduled_as_its_command_named_by_its_help():
    s = Schedule()
    daily = s.command(daily_report, "--to", "ops").daily()
    weekly = s.command(weekly_report).weekly()
    assert daily.task.identity == "artisan report:daily --to ops"
    assert daily.display_name == "Send the daily report."
    assert weekly.display_name == "Send the weekly report."


def test_an_unbalanced_quote_is_refused_naming_the_command():
    with pytest.raises(InvalidSchedule, match=r"""command\('x:y "open'\): No closing quotation"""):
        Schedule().command('x:y "open')


def test_a_command_function_outside_the_commands_package_is_refused(
        monkeypatch: pytest.MonkeyPatch):
    # The module names `tests` as the commands package (the fixture commands_here);
    # a command defined anywhere else could never be run by artisan.
    monkeypatch.setattr(settings_module, "_current",
                        settings_module.current()._replace(commands_package="console.commands"))
    with pytest.raises(InvalidSchedule, match=r"command\('report:daily'\): the command is "
                                              r"defined in 'tests.test_laravel_api', outside"):
        Schedule().command(daily_report)


def test_a_plain_function_is_not_a_command():
    with pytest.raises(InvalidSchedule, match=r"command\('task'\): not an artisan command"):
        Schedule().command(task)


def test_a_command_function_runs_its_command(project: Project) -> None:
    (project.root / "console" / "commands" / "stamp.py").write_text('''
from scheduler.cli import command
from scheduler.settings import current

@command("stamp:write")
def stamp(word: str) -> None:
    """Write a word to storage."""
    current().storage.mkdir(parents=True, exist_ok=True)
    (current().storage / "stamp.txt").write_text(word)
''')
    project.kernel(KERNEL_HEADER + """
from console.commands.stamp import stamp

def schedule_tasks():
    schedule().command(stamp, "hello").every_minute()
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Running Write a word to storage." in result.stdout
    assert (project.storage / "stamp.txt").read_text() == "hello"


# -- filters that take the event -------------------------------------------------------

def test_filters_may_take_the_event(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().job(record, "kept").name("keep me").when(
        lambda event: event.display_name == "keep me")
    schedule().job(record, "dropped").name("drop me").skip(
        lambda event: event.attributes.get("drop", False)).with_attributes({"drop": True})
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ran(project) == ["kept"]


def test_a_filter_asking_for_anything_but_the_event_is_refused():
    with pytest.raises(InvalidSchedule, match=r"when\(.*'now' is not"):
        Schedule().job(task).when(lambda now: True)


# -- a job that returns False has failed -----------------------------------------------

def test_a_job_returning_false_fails_and_other_returns_succeed(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def refuses():
    record("refuses")
    return False

def returns(value):
    record("returns")
    return value

def schedule_tasks():
    schedule().job(refuses).on_failure(lambda: record("failure-hook"))
    schedule().job(returns, 0).name("zero")
    schedule().job(returns, None).name("none")
    schedule().job(returns, "").name("empty")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    statuses = [line.rsplit(" ", 1)[1] for line in result.stdout.splitlines()
                if " Running " in line]
    assert statuses == ["FAIL", "DONE", "DONE", "DONE"]
    assert "The job returned False." in result.stdout
    assert ran(project) == ["refuses", "failure-hook", "returns", "returns", "returns"]

