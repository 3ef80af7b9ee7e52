"""`artisan schedule:run` as cron runs it: a real process, real child processes, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as KERNEL_HEADER
from tests.kernels import ran


def test_a_due_job_runs_in_a_child_and_the_tick_reports_it(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def hello():
    record("hello:" + str(os.getpid()))

def schedule_tasks():
    schedule().job(hello).every_minute()
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert "Running console.kernel.hello" in line and line.endswith("DONE")
    [entry] = ran(project)
    assert entry.startswith("hello:") and entry != "hello:" + str(result.returncode)


def test_tasks_run_in_declaration_order_and_one_failure_stops_none(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def first():
    record("first")

def explode():
    raise RuntimeError("the disk is on fire")

def leave(code):
    sys.exit(code)

def crash():
    os.kill(os.getpid(), signal.SIGSEGV)

def last(word, suffix=""):
    record(word + suffix)

def schedule_tasks():
    schedule().job(first)
    schedule().job(explode)
    schedule().job(leave, 3).name("leave with 3")
    schedule().job(crash)
    schedule().exec("echo shell-says-no; exit 4")
    schedule().job(last, "last", suffix="!")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert ran(project) == ["first", "last!"]
    out = result.stdout
    statuses = [line.rsplit(" ", 1)[1] for line in out.splitlines() if " Running " in line]
    assert statuses == ["DONE", "FAIL", "FAIL", "FAIL", "FAIL", "DONE"]
    assert "RuntimeError: the disk is on fire" in out
    assert "Traceback (most recent call last)" in out
    assert "exit code 3" in out
    assert "killed by SIGSEGV" in out
    assert "exit code 4" in out and "| shell-says-no" in out


def test_a_command_task_runs_artisan_with_its_arguments_as_a_list(project: Project) -> None:
    (project.root / "console" / "commands" / "greet.py").write_text('''
import typer
from scheduler.cli import command
from scheduler.settings import current

@command("greet:person")
def greet(name: str, shout: bool = typer.Option(False, "--shout")) -> None:
    """Greet someone."""
    text = f"hello {name}" + ("!" if shout else "")
    current().storage.mkdir(parents=True, exist_ok=True)
    (current().storage / "greeting.txt").write_text(text)
''')
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().command("greet:person", "Ada; rm -rf /", "--shout").every_minute()
    schedule().command("cache:clear").every_minute()
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    # The argument with a semicolon arrived as one argument: no shell was involved.
    assert (project.storage / "greeting.txt").read_text() == "hello Ada; rm -rf /!"
    assert "Running cache:clear" in result.stdout


def test_an_unknown_command_is_skipped_reported_and_fails_the_tick(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def fine():
    record("fine")

def schedule_tasks():
    schedule().command("nope:missing").every_minute()
    schedule().job(fine).every_minute()
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert "there is no artisan command named 'nope:missing'" in result.stdout
    assert ran(project) == ["fine"]
    listing = project.artisan("schedule:list")
    assert "unknown command 'nope:missing'" in listing.stdout


def test_an_exec_task_runs_through_the_shell_in_the_project_root(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().exec("mkdir -p storage && echo $((6 * 7)) > storage/answer.txt").hourly()
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", cwd=Path("/"))
    assert result.returncode == 0, result.stdout
    assert (project.storage / "answer.txt").read_text() == "42\n"


def test_only_events_due_in_the_given_minute_run(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def nightly():
    record("nightly")

def quarter():
    record("quarter")

def schedule_tasks():
    schedule().job(nightly).daily_at("02:00")
    schedule().job(quarter).every_fifteen_minutes()
""")
    assert project.artisan("schedule:run", "--at", "2026-03-08T01:59:00Z").stdout.strip() == \
        "No scheduled tasks are ready to run."
    assert ran(project) == []
    project.artisan("schedule:run", "--at", "2026-03-08T02:00:42Z")
    assert ran(project) == ["nightly", "quarter"]
    project.artisan("schedule:run", "--at", "2026-03-08T04:15:00+01:00")
    assert ran(project) == ["nightly", "quarter", "quarter"]


def test_dry_run_lists_what_is_due_without_running_it(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def nightly():
    record("nightly")

def schedule_tasks():
    schedule().job(nightly).daily_at("02:00").name("nightly report")
    schedule().job(nightly).daily_at("03:00").name("later report")
""")
    result = project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08 02:00")
    assert result.returncode == 0
    assert result.stdout.splitlines() == ["2026-03-08 02:00:00  Would run nightly report"]
    assert ran(project) == []


def test_a_bad_at_value_is_a_usage_error(project: Project) -> None:
    project.kernel(KERNEL_HEADER + "def schedule_tasks():\n    pass\n")
    result = project.artisan("schedule:run", "--at", "yesterday")
    assert result.returncode == 2
    assert "'yesterday' is not an ISO-8601 instant" in result.stderr


def test_output_goes_to_the_files_asked_for(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def talk():
    print("to stdout")
    print("to stderr", file=sys.stderr)

def schedule_tasks():
    schedule().job(talk).send_output_to("storage/logs/deep/talk.log")
    schedule().exec("echo appended").append_output_to("storage/logs/many.log")
""")
    for minute in ("07:00", "07:01"):
        assert project.artisan("schedule:run", "--at", f"2026-03-08T{minute}Z").returncode == 0
    assert (project.storage / "logs/deep/talk.log").read_text() == "to stdout\nto stderr\n"
    assert (project.storage / "logs/many.log").read_text() == "appended\nappended\n"


def test_an_unwritable_output_path_fails_that_task_only(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def fine():
    record("fine")

def schedule_tasks():
    schedule().exec("echo hi").send_output_to("/proc/no/such/place.log")
    schedule().job(fine)
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert "could not write the output to /proc/no/such/place.log" in result.stdout
    assert ran(project) == ["fine"]


def test_hooks_run_around_the_task_and_may_receive_its_output(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def work():
    print("work output")
    record("work")

def failing():
    print("bad news")
    sys.exit(2)

def schedule_tasks():
    schedule().job(work).before(lambda: record("before")).after(
        lambda output, exit_code: record(f"after:{output.strip().replace(' ', '_')}:{exit_code}")
    ).on_success(lambda: record("success")).on_failure(lambda: record("failure"))
    schedule().job(failing).on_failure(lambda output: record("failed:" + output.split()[1]))
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    # on_success/on_failure come first, then after: as the pings do.
    assert ran(project) == ["before", "work", "success", "after:work_output:0", "failed:news"]


def test_a_raising_hook_is_reported_and_the_other_hooks_still_run(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def work():
    record("work")

def broken_hook():
    raise ValueError("hook broke")

def schedule_tasks():
    schedule().job(work).before(broken_hook).after(broken_hook).after(lambda: record("after"))
    schedule().job(work).name("second")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert ran(project) == ["work", "after", "work"]
    assert result.stdout.count("ValueError: hook broke") == 2


def test_when_and_skip_conditions_are_checked_each_tick(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def work(word):
    record(word)

def broken():
    raise KeyError("flag")

def schedule_tasks():
    schedule().job(work, "when-true").when(lambda: True)
    schedule().job(work, "when-false").when(lambda: False)
    schedule().job(work, "skip-true").skip(True)
    schedule().job(work, "skip-false").skip(lambda: False)
    schedule().job(work, "broken").when(broken)
    schedule().job(work, "after-broken")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert ran(project) == ["when-true", "skip-false", "after-broken"]
    assert result.returncode == 1
    assert "its when/skip condition raised" in result.stdout and "KeyError: 'flag'" in result.stdout


def test_environments_filter_by_app_env(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def work(word):
    record(word)

def schedule_tasks():
    schedule().job(work, "prod").environments("production")
    schedule().job(work, "staging").environments("staging", "local")
    schedule().job(work, "anywhere")
""")
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env={"APP_ENV": "local"})
    assert ran(project) == ["prod", "anywhere", "staging", "anywhere"]


def test_maintenance_mode_holds_tasks_back_until_up(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def work(word):
    record(word)

def schedule_tasks():
    schedule().job(work, "normal")
    schedule().job(work, "essential").even_in_maintenance_mode()
    schedule().job(work, "guarded").skip(lambda: maintenance_mode()).even_in_maintenance_mode()
""")
    assert "now in maintenance mode" in project.artisan("down").stdout
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert ran(project) == ["essential"]
    assert "now live" in project.artisan("up").stdout
    project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    assert ran(project) == ["essential", "normal", "essential", "guarded"]


def test_a_kernel_that_fails_to_import_exits_2_with_the_users_traceback(
        project: Project) -> None:
    project.kernel("import os\n\nVALUE = 1 / 0\n")
    result = project.artisan("schedule:run")
    assert result.returncode == 2
    assert "could not be imported" in result.stderr
    assert "console/kernel.py\", line 3" in result.stderr
    assert "ZeroDivisionError" in result.stderr
    assert "importlib" not in result.stderr


def test_a_raising_schedule_tasks_exits_2(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def work():
    pass

def schedule_tasks():
    schedule().job(work).daily_at("25:00")
""")
    result = project.artisan("schedule:run")
    assert result.returncode == 2
    assert "schedule_tasks() in 'console.kernel' raised" in result.stderr
    assert "job 'console.kernel.work': daily_at('25:00'): hour 25" in result.stderr


def test_a_kernel_without_schedule_tasks_is_reported(project: Project) -> None:
    project.kernel("TASKS = []\n")
    result = project.artisan("schedule:list")
    assert result.returncode == 2
    assert "has no schedule_tasks() function" in result.stderr


def test_the_kernel_module_can_be_chosen_with_scheduler_kernel(project: Project) -> None:
    (project.root / "other_kernel.py").write_text(KERNEL_HEADER + """
def schedule_tasks():
    schedule().job(record, "other")
""")
    project.artisan("schedule:run", env={"SCHEDULER_KERNEL": "other_kernel"})
    assert ran(project) == ["other"]


def test_artisan_works_from_any_directory_and_both_ways(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().job(record, "anywhere")
""")
    result = project.artisan("schedule:run", cwd=Path("/"))
    assert result.returncode == 0, result.stderr
    assert ran(project) == ["anywhere"]


def test_a_second_tick_of_the_same_minute_on_this_host_runs_nothing(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().job(record, "once")
""")
    first = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    second = project.artisan("schedule:run", "--at", "2026-03-08T07:00:30Z")
    assert first.returncode == second.returncode == 0
    assert "A tick already ran for 2026-03-08 07:00:00 on this host" in second.stdout
    assert ran(project) == ["once"]
    # Another host sharing the storage folder is not this host: its tick runs.
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                    env={"SCHEDULER_HOST": "other"})
    assert ran(project) == ["once", "once"]
    # A dry run is not a tick: it can look at any minute, any number of times.
    assert "Would run" in project.artisan("schedule:run", "--dry-run", "--at",
                                          "2026-03-08T07:00:00Z").stdout


def test_laravels_with_output_hooks_receive_the_output(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().exec("echo fine").then_with_output(lambda text: record("then:" + text.strip())) \\
        .on_success_with_output(lambda out: record("success:" + out.strip())) \\
        .on_failure_with_output(lambda out: record("never"))
    schedule().exec("echo broken; exit 3").on_failure_with_output(
        lambda whatever: record("failure:" + whatever.strip()))
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 1
    assert ran(project) == ["success:fine", "then:fine", "failure:broken"]


def test_a_host_name_and_prefix_with_slashes_keep_each_run_once(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().job(record, "once").without_overlapping()
""")
    env = {"SCHEDULER_HOST": "web/1 ü", "SCHEDULER_PREFIX": "../shop/"}
    first = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env=env)
    retry = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env=env)
    assert first.returncode == retry.returncode == 0, first.stdout + retry.stdout
    assert "Warning" not in first.stdout + first.stderr
    assert "A tick already ran for 2026-03-08 07:00:00 on this host (web/1 ü)" in retry.stdout
    assert ran(project) == ["once"]
    assert not (project.root.parent / "shop").exists()


def test_a_host_name_that_is_not_utf8_keeps_each_run_once(project: Project) -> None:
    # SCHEDULER_HOST=$'web\xff': Python reads the byte as a lone surrogate, which the
    # record's file name writes as the byte it is.
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().job(record, "once").without_overlapping()
""")
    env = {**project.env, "SCHEDULER_HOST": "web\udcff", "SCHEDULER_HISTORY": "off"}

    def tick() -> subprocess.CompletedProcess[str]:  # its lines name the host, byte and all
        return subprocess.run([sys.executable, str(project.root / "artisan"), "schedule:run",
                               "--at", "2026-03-08T07:00:00Z"], capture_output=True,
                              text=True, errors="replace", env=env, timeout=60,
                              stdin=subprocess.DEVNULL)

    first, retry = tick(), tick()
    assert first.returncode == retry.returncode == 0, first.stderr + retry.stderr
    assert "Traceback" not in first.stderr + retry.stderr
    assert "A tick already ran for 2026-03-08 07:00:00 on this host" in retry.stdout
    assert ran(project) == ["once"]
    assert (project.storage / "framework" / "catch-up" / "production-web=FF.last-minute").exists()


def test_sys_exit_in_a_hook_a_condition_or_a_listener_stops_no_other_task(
        project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def leave():
    sys.exit(3)

def schedule_tasks():
    schedule().listen("skipped", leave)
    schedule().job(record, "hooked").name("hooked").before(leave).after(leave)
    schedule().job(record, "never").name("conditional").when(leave)
    schedule().job(record, "filtered").name("filtered").when(False)
    schedule().job(record, "pinged").name("pinged").ping_before_if(leave, "http://127.0.0.1:1/")
    schedule().job(record, "last").name("last")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr  # the hooks' errors fail the tick
    assert ran(project) == ["hooked", "pinged", "last"]
    assert out.count("UserCodeExited: it called sys.exit(3)") >= 3  # before, after, when
    assert "Skipping conditional: its when/skip condition raised" in out
    assert "the 'skipped' listener leave raised" in out
    assert "Running last" in out and out.rstrip().endswith("DONE")
