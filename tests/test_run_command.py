"""`schedule:run`'s own command line: read without typer in the usual case (`--at`,
`--dry-run`), by typer for everything else, from the same declarations."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

from scheduler.cli.options import parse_options, typer_command
from scheduler.cli.run_command import AT, DRY_RUN, HELP, OPTIONS, _schedule_run
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, ran

INSTANT = "2026-03-08T07:00:00Z"


@pytest.mark.parametrize(("argv", "expected"), [
    ([], {"at": None, "dry_run": False}),
    (["--dry-run"], {"at": None, "dry_run": True}),
    (["--at", INSTANT], {"at": INSTANT, "dry_run": False}),
    ([f"--at={INSTANT}"], {"at": INSTANT, "dry_run": False}),
    ([f"--at={INSTANT}", "--dry-run"], {"at": INSTANT, "dry_run": True}),
    (["--dry-run", "--at", INSTANT], {"at": INSTANT, "dry_run": True}),
    (["--at", "2026-03-08 02:00"], {"at": "2026-03-08 02:00", "dry_run": False}),
    (["--at", "2026-03-08T07:00:00+01:00"], {"at": "2026-03-08T07:00:00+01:00",
                                            "dry_run": False}),
])
def test_parse_options_reads_the_usual_command_lines(
        argv: list[str], expected: dict[str, object]) -> None:
    assert parse_options(OPTIONS, argv) == expected


@pytest.mark.parametrize("argv", [
    pytest.param(["--help"], id="help"),
    pytest.param(["--dry-run", "--help"], id="help-after-an-option"),
    pytest.param(["--bogus"], id="unknown"),
    pytest.param(["--dry-run", "--bogus"], id="unknown-after-an-option"),
    pytest.param(["--AT", INSTANT], id="unknown-by-case"),
    pytest.param(["-"], id="a-dash"),
    pytest.param(["--"], id="double-dash"),
    pytest.param(["now"], id="an-argument"),
    pytest.param(["--dry-run", "--dry-run"], id="repeated-switch"),
    pytest.param(["--at", INSTANT, "--at", INSTANT], id="repeated-value"),
    pytest.param([f"--at={INSTANT}", "--at", INSTANT], id="repeated-both-forms"),
    pytest.param(["--at"], id="missing-value"),
    pytest.param(["--dry-run", "--at"], id="missing-value-at-the-end"),
    pytest.param(["--at", "--dry-run"], id="an-option-as-the-value"),
    pytest.param(["--at", "-2026-03-08T07:00:00Z"], id="value-starting-with-a-dash"),
    pytest.param(["--dry-run=yes"], id="switch-with-a-value"),
    pytest.param(["--dry-run="], id="switch-with-an-empty-value"),
    pytest.param(["--at", "nonsense"], id="bad-instant"),
    pytest.param(["--at=nonsense"], id="bad-instant-with-equals"),
    pytest.param(["--at="], id="empty-instant"),
    pytest.param(["--at", "2026-02-30T07:00:00Z"], id="no-such-day"),
    pytest.param(["--at", "9999-12-31T23:59:00-05:00"], id="past-the-last-day-in-utc"),
    pytest.param(["--at", "0001-01-01T00:00:00+05:00"], id="before-the-first-day-in-utc"),
    pytest.param(["--at", "0001-01-01T00:00:00Z"], id="no-room-before-it"),
    pytest.param(["--at", "9999-12-31T23:59:00Z"], id="no-room-after-it"),
])
def test_parse_options_leaves_everything_else_to_typer(argv: list[str]) -> None:
    assert parse_options(OPTIONS, argv) is None


def test_typers_command_is_built_from_the_same_declarations() -> None:
    command = typer_command(_schedule_run, OPTIONS, doc=HELP, with_context=True)
    parameters = list(inspect.signature(command).parameters.values())[1:]  # after context
    defaults = parse_options(OPTIONS, [])
    assert defaults is not None
    assert {parameter.name: parameter.default for parameter in parameters} == defaults
    assert command.__doc__ == HELP


def normalized(text: str) -> str:
    """`text` without typer's boxes and line wrapping: words separated by one space."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


# A narrow terminal, so that the help texts are wrapped across lines.
NARROW = {"COLUMNS": "60", "NO_COLOR": "1", "TERM": "dumb"}


def test_help_lists_the_declared_options_with_their_help(project: Project) -> None:
    project.kernel("def schedule_tasks():\n    pass\n")
    result = project.artisan("schedule:run", "--help", env=NARROW)
    assert result.returncode == 0, result.stderr
    shown = normalized(result.stdout)
    assert "Usage: artisan schedule:run [OPTIONS]" in shown
    assert normalized(HELP) in shown
    assert f"{AT.flag} {AT.metavar} {normalized(AT.help)}" in shown
    assert f"{DRY_RUN.flag} {normalized(DRY_RUN.help)}" in shown
    assert (AT.flag, AT.metavar) == ("--at", "INSTANT") and DRY_RUN.flag == "--dry-run"


def test_an_unknown_option_is_typers_usage_error(project: Project) -> None:
    project.kernel(RECORDING_KERNEL + "def schedule_tasks():\n    schedule().job(record, 'x')\n")
    result = project.artisan("schedule:run", "--bogus", env=NARROW)
    assert result.returncode == 2
    assert "No such option: --bogus" in normalized(result.stderr)
    assert ran(project) == []


@pytest.mark.parametrize("argv", [["--at", "nonsense"], ["--at=nonsense"],
                                  ["--dry-run", "--at", "nonsense"]])
def test_a_bad_instant_is_an_invalid_value_for_at(project: Project, argv: list[str]) -> None:
    project.kernel(RECORDING_KERNEL + "def schedule_tasks():\n    schedule().job(record, 'x')\n")
    result = project.artisan("schedule:run", *argv, env=NARROW)
    assert result.returncode == 2
    assert ("Invalid value for --at: 'nonsense' is not an ISO-8601 instant such as "
            "2026-03-08T07:00:00Z") in normalized(result.stderr)
    assert ran(project) == []


@pytest.mark.parametrize("instant", ["9999-12-31T23:59:00-05:00", "0001-01-01T00:00:00+05:00",
                                     "0001-01-01T00:00:00Z"])
def test_an_instant_outside_datetimes_range_in_utc_is_an_invalid_value(
        project: Project, instant: str) -> None:
    project.kernel(RECORDING_KERNEL + "def schedule_tasks():\n    schedule().job(record, 'x')\n")
    for command in ("schedule:run", "schedule:list"):
        result = project.artisan(command, "--at", instant, env=NARROW)
        assert result.returncode == 2, result.stderr
        message = normalized(result.stderr)
        assert f"Invalid value for --at: '{instant}' is " in message
        assert ("not an instant datetime can represent in UTC" in message
                or "too close to the years datetime can hold" in message)
        assert "Traceback" not in result.stderr
    assert ran(project) == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--at"], "Option '--at' requires an argument."),
    (["--dry-run", "--at"], "Option '--at' requires an argument."),
    (["--dry-run=yes"], "Option '--dry-run' does not take a value."),
])
def test_a_missing_or_unwanted_value_is_a_usage_error(
        project: Project, argv: list[str], message: str) -> None:
    project.kernel(RECORDING_KERNEL + "def schedule_tasks():\n    schedule().job(record, 'x')\n")
    result = project.artisan("schedule:run", *argv, env=NARROW)
    assert result.returncode == 2
    assert message in normalized(result.stderr)
    assert ran(project) == []


DUE_AT_SEVEN = RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "seven").daily_at("07:00").name("seven")
    schedule().job(record, "eight").daily_at("08:00").name("eight")
    schedule().job(record, "every").every_minute().name("every")
"""


def test_the_equals_form_of_at_works_as_the_two_word_form(project: Project) -> None:
    project.kernel(DUE_AT_SEVEN)
    two_words = project.artisan("schedule:run", "--dry-run", "--at", INSTANT)
    equals = project.artisan("schedule:run", f"--at={INSTANT}", "--dry-run")
    assert two_words.returncode == equals.returncode == 0, two_words.stderr + equals.stderr
    assert two_words.stdout == equals.stdout == (
        "2026-03-08 07:00:00  Would run seven\n2026-03-08 07:00:00  Would run every\n")
    assert two_words.stderr == equals.stderr == ""
    assert ran(project) == []
    run = project.artisan("schedule:run", f"--at={INSTANT}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert ran(project) == ["seven", "every"]


def imported_modules(project: Project, *args: str) -> tuple[subprocess.CompletedProcess[str],
                                                              set[str]]:
    """Run `artisan args...` under `python -X importtime`: its result, and the name of
    every module the process imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(project.root / "artisan"), *args],
        capture_output=True, text=True, cwd=project.root, env=project.env, timeout=60,
        stdin=subprocess.DEVNULL)
    names = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
             if line.startswith("import time:")}
    names.discard("package")  # the header line's last column
    return result, names


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


# What the tick cron starts every minute leaves alone when nothing needs it: typer (and
# the click it vendors) for reading its options, logging when the kernel does not log,
# inspect, subprocess and asyncio when nothing runs.
NOT_IMPORTED_WHEN_NOTHING_RUNS = {"typer", "click", "rich", "logging", "inspect",
                                  "subprocess", "asyncio"}

PLAIN_JOBS = RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "nightly").daily_at("02:00").name("nightly")
    schedule().job(record, "quarter").hourly_at(17).name("quarter")
"""


def test_a_tick_with_nothing_due_imports_neither_typer_nor_what_runs_tasks(
        project: Project) -> None:
    project.kernel(PLAIN_JOBS)
    # The first tick compiles the expressions with croniter (which imports subprocess)
    # and keeps them in storage; every later tick reads them from there.
    assert project.artisan("schedule:run", "--dry-run", "--at", INSTANT).returncode == 0
    for argv in (["--dry-run", "--at", INSTANT], [f"--at={INSTANT}", "--dry-run"],
                 ["--at", INSTANT]):
        result, names = imported_modules(project, "schedule:run", *argv)
        assert result.returncode == 0, result.stderr
        assert "No scheduled tasks are ready to run." in result.stdout
        assert "scheduler.runner" in names  # the list is the tick's own
        # A real tick records itself in the run history too: its recorder declares
        # what its listeners take, so no signature is read (no inspect).
        assert top_level(names) & NOT_IMPORTED_WHEN_NOTHING_RUNS == set(), argv
        assert "scheduler.cli.app" not in names
    assert ran(project) == []


def test_help_does_import_typer(project: Project) -> None:
    # The other side of the test above: the way it looks would see typer if it came.
    project.kernel(PLAIN_JOBS)
    result, names = imported_modules(project, "schedule:run", "--help")
    assert result.returncode == 0
    assert {"typer", "logging"} <= top_level(names)
    assert "scheduler.cli.app" in names


def test_a_tick_that_runs_a_job_does_not_import_typer(project: Project) -> None:
    project.kernel(PLAIN_JOBS)
    result, names = imported_modules(project, "schedule:run", "--at", "2026-03-08T07:17:00Z")
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if "Running" in line]
    assert "Running quarter" in line and line.endswith("DONE")
    assert ran(project) == ["quarter"]
    assert top_level(names) & {"typer", "click", "rich"} == set()
    assert "scheduler.cli.app" not in names


# A command module that says when it is imported: the tick imports the commands package
# only to look a command task's name up.
PROBE_COMMAND = """
from scheduler.cli import command
from scheduler.settings import current

current().storage.mkdir(parents=True, exist_ok=True)
with open(current().storage / "commands-imported.txt", "a") as handle:
    handle.write("imported\\n")

@command("probe:hello")
def hello() -> None:
    print("hello")
"""

MISSING_AT_THREE = RECORDING_KERNEL + """
def schedule_tasks():
    schedule().command("nope:missing").daily_at("03:00")
    schedule().job(record, "fine").every_minute().name("fine")
"""

MISSING = "there is no artisan command named 'nope:missing'"


def commands_imported(project: Project) -> int:
    path = project.storage / "commands-imported.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_missing_command_that_is_not_due_is_not_looked_up(project: Project) -> None:
    (project.root / "console" / "commands" / "probe.py").write_text(PROBE_COMMAND)
    project.kernel(MISSING_AT_THREE)
    for argv in (["--dry-run", "--at", INSTANT], ["--at", INSTANT]):
        result = project.artisan("schedule:run", *argv)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "nope:missing" not in result.stdout + result.stderr
    assert ran(project) == ["fine"]
    assert commands_imported(project) == 0
    # The probe itself works: artisan list imports the commands package.
    assert "probe:hello" in project.artisan("list").stdout
    assert commands_imported(project) == 1


def test_a_due_missing_command_is_skipped_and_fails_the_tick_the_others_run(
        project: Project) -> None:
    (project.root / "console" / "commands" / "probe.py").write_text(PROBE_COMMAND)
    project.kernel(MISSING_AT_THREE)
    at_three = ("--at", "2026-03-08T03:00:00Z")
    dry = project.artisan("schedule:run", "--dry-run", *at_three)
    assert dry.returncode == 1
    assert dry.stdout.count(MISSING) == 1
    assert "Would run fine" in dry.stdout and "Would run nope:missing" not in dry.stdout
    assert ran(project) == []
    result = project.artisan("schedule:run", *at_three)
    assert result.returncode == 1
    assert result.stdout.count(MISSING) == 1
    assert "Running fine" in result.stdout and "Running nope:missing" not in result.stdout
    assert ran(project) == ["fine"]
    assert commands_imported(project) == 2  # once by each tick, to look the name up


def test_a_missed_run_of_a_missing_command_is_skipped_not_run_late(project: Project) -> None:
    (project.root / "console" / "commands" / "probe.py").write_text(PROBE_COMMAND)
    project.kernel(MISSING_AT_THREE)
    before = project.artisan("schedule:run", "--at", "2026-03-08T02:59:00Z")
    assert before.returncode == 0, before.stdout + before.stderr
    assert commands_imported(project) == 0
    # No tick ran at 03:00: the next one catches the 03:00 run up, and finds no command.
    after = project.artisan("schedule:run", "--at", "2026-03-08T03:01:00Z")
    assert after.returncode == 1
    assert after.stdout.count(MISSING) == 1
    assert "Catching up nope:missing" not in after.stdout
    assert ran(project) == ["fine", "fine"]
    assert commands_imported(project) == 1


GC_KERNEL = RECORDING_KERNEL + """
import gc

def report_gc():
    record(f"enabled={gc.isenabled()} frozen={gc.get_freeze_count() > 0}")

def during_definition():
    record(f"defining-enabled={gc.isenabled()}")
    return True

def schedule_tasks():
    during_definition()
    schedule().job(report_gc).every_minute()
"""


def test_jobs_run_with_the_garbage_collector_on_and_the_kernel_frozen(
        project: Project) -> None:
    """The tick collects no garbage while it loads the kernel, then freezes what it
    loaded and collects again: its jobs (forked) must never run without collection."""
    project.kernel(GC_KERNEL)
    # Two minutes: a run of one minute is made once (the second tick would skip it).
    for argv in (["--at", INSTANT], ["--at=2026-03-08T07:01:00Z"]):
        (project.storage / "ran.txt").unlink(missing_ok=True)
        result = project.artisan("schedule:run", *argv)
        assert result.returncode == 0, result.stdout + result.stderr
        assert ran(project) == ["defining-enabled=False", "enabled=True", "frozen=True"]


def test_other_commands_run_with_the_garbage_collector_on(project: Project) -> None:
    project.kernel(GC_KERNEL)
    result = project.artisan("schedule:list")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ran(project) == ["defining-enabled=True"]


WAITING_JOB = RECORDING_KERNEL + """
def wait_for_release():
    record("started")
    release = current().storage / "release"
    for _ in range(600):
        if release.exists():
            return
        time.sleep(0.05)

def schedule_tasks():
    schedule().job(wait_for_release).every_minute().name("waiting")
"""


def interrupted_tick(project: Project, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Start a tick with `argv`, press Ctrl-C (SIGINT to the tick alone) while its job
    runs, and return how it ended."""
    import signal

    from tests.kernels import wait_for

    (project.storage / "ran.txt").unlink(missing_ok=True)
    (project.storage / "release").unlink(missing_ok=True)
    tick = subprocess.Popen(
        [sys.executable, str(project.root / "artisan"), "schedule:run", *argv],
        cwd=project.root, env=project.env, stdin=subprocess.DEVNULL, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: ran(project) == ["started"])
        tick.send_signal(signal.SIGINT)
        stdout, stderr = tick.communicate(timeout=60)
    finally:
        (project.storage / "release").touch()
        if tick.poll() is None:
            tick.kill()
            tick.wait()
    return subprocess.CompletedProcess(tick.args, tick.returncode, stdout, stderr)


def test_ctrl_c_ends_a_tick_as_typer_would(project: Project) -> None:
    """Pressing Ctrl-C on a tick started by hand: the tick read without typer ends as
    the one typer reads (a repeated option goes to typer), with 130 and no traceback."""
    project.kernel(WAITING_JOB)
    by_typer = interrupted_tick(project, ["--at", "2026-03-08T06:00:00Z", "--at", INSTANT])
    without_typer = interrupted_tick(project, ["--at", "2026-03-08T07:01:00Z"])
    assert by_typer.returncode == 130, by_typer.stderr
    assert without_typer.returncode == by_typer.returncode, without_typer.stderr
    assert without_typer.stderr == by_typer.stderr


KERNEL_WITH_ITS_OWN_COMMAND = RECORDING_KERNEL + """
from scheduler.cli import command

@command("report:send")
def send():
    record("sent")

def schedule_tasks():
    schedule().command("report:send").every_minute()
    schedule().job(record, "fine").every_minute()
"""


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["run", "dry-run"])
def test_a_command_the_kernel_defines_is_unknown_with_or_without_typer(
        project: Project, dry_run: list[str]) -> None:
    """`artisan report:send`, which the command task runs, loads no kernel: a command
    registered outside the commands package does not exist for it. Both readings of the
    command line say so before running anything (a repeated option goes to typer)."""
    project.kernel(KERNEL_WITH_ITS_OWN_COMMAND)
    by_typer = project.artisan("schedule:run", "--at", "2026-03-08T06:00:00Z",
                               "--at", INSTANT, *dry_run)
    without_typer = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                                    *dry_run)
    missing = "Skipping report:send: there is no artisan command named 'report:send'"
    for tick in (by_typer, without_typer):
        assert tick.returncode == 1, tick.stdout + tick.stderr
        assert missing in tick.stdout
        assert "No such command" not in tick.stdout + tick.stderr
    assert "sent" not in ran(project)
