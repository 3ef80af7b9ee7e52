"""Nothing hangs without a bound: a kernel whose import hangs, a hung `when()` condition
or hook, an SMTP or HTTP server that answers one byte every two seconds, a Redis that
accepts connections and never replies. Each is given up on, and the other tasks of the
tick still run."""

from __future__ import annotations

import pytest

from scheduler.kernel import DEFAULT_KERNEL_TIMEOUT
from tests.conftest import Project
from tests.faults.servers import slow_server
from tests.kernels import RECORDING_KERNEL, history, ran

# Cron starts a tick every minute: a tick that gives up on its kernel before then never
# piles up behind a hung import.
MINUTE = 60


def test_a_kernel_whose_import_hangs_is_given_up_on_before_the_next_minute(
        project: Project) -> None:
    assert DEFAULT_KERNEL_TIMEOUT < MINUTE
    project.kernel("""
import time
from scheduler import schedule

time.sleep(3600)  # a database that never answers, say

def schedule_tasks():
    pass
""")
    result = project.artisan("schedule:run", env={"SCHEDULER_KERNEL_TIMEOUT": "1"}, timeout=30)
    assert result.returncode == 2
    assert ("Loading the kernel 'console.kernel' did not finish within 1 seconds "
            "(SCHEDULER_KERNEL_TIMEOUT), so no task was run") in result.stderr
    assert "time.sleep(3600)" in result.stderr  # where it was stuck


def test_a_bad_kernel_timeout_is_named(project: Project) -> None:
    project.kernel("def schedule_tasks():\n    pass\n")
    result = project.artisan("schedule:run", env={"SCHEDULER_KERNEL_TIMEOUT": "soon"})
    assert result.returncode == 2
    assert "SCHEDULER_KERNEL_TIMEOUT 'soon' is not a positive number of seconds" in result.stderr


def test_hung_conditions_and_hooks_are_given_up_on(project: Project) -> None:
    project.kernel(RECORDING_KERNEL + """
def hang(*args):
    while True:
        try:
            time.sleep(3600)
        except Exception:  # a hook that swallows errors cannot swallow the deadline
            pass

def schedule_tasks():
    schedule().job(record, "never").name("hung condition").when(hang)
    schedule().job(record, "task").name("hung hooks").before(hang).after(hang) \\
        .on_success(lambda: record("on-success"))
    schedule().job(record, "other").name("other")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                             env={"SCHEDULER_HOOK_TIMEOUT": "1"}, timeout=60)
    assert result.returncode == 1
    assert ("Skipping hung condition: the when/skip condition of hung condition did not "
            "finish within 1 seconds (SCHEDULER_HOOK_TIMEOUT).") in result.stdout
    assert "the before hook hang did not finish within 1 seconds" in result.stdout
    assert "the after hook hang did not finish within 1 seconds" in result.stdout
    assert ran(project) == ["task", "on-success", "other"]


@pytest.mark.slow
def test_a_mail_server_and_a_ping_target_that_trickle_are_given_up_on(
        project: Project) -> None:
    greeting = b"220 " + b"x" * 1000 + b"\r\n"
    status_line = b"HTTP/1.1 200 " + b"x" * 1000 + b"\r\n"
    with slow_server(greeting, interval=2.0) as smtp, \
            slow_server(status_line, interval=2.0) as http:
        project.kernel(RECORDING_KERNEL + f"""
def schedule_tasks():
    schedule().exec("echo report").name("mailed").email_output_to("ops@example.test")
    schedule().job(record, "pinged").name("pinged").then_ping(
        "http://127.0.0.1:{http.port}/ping")
    schedule().job(record, "other").name("other")
""")
        result = project.artisan(
            "schedule:run", "--at", "2026-03-08T07:00:00Z", timeout=90,
            env={"MAIL_HOST": "127.0.0.1", "MAIL_PORT": str(smtp.port), "MAIL_TIMEOUT": "3"})
    assert result.returncode == 0, result.stdout + result.stderr
    # Each read got a byte within its 3 s (10 s for the ping); the whole exchange did not.
    assert ("the e-mail to ops@example.test did not finish within 9 seconds (three times "
            "MAIL_TIMEOUT); it was given up on") in result.stdout
    assert (f"the ping to http://127.0.0.1:{http.port}/ping did not finish within 10 "
            f"seconds; it was given up on") in result.stdout
    assert ran(project) == ["pinged", "other"]


def test_a_redis_that_never_replies_costs_one_time_out_per_tick(project: Project) -> None:
    with slow_server() as silent:
        project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    for number in range(10):
        schedule().job(record, f"shared{number}").name(f"shared {number}").on_one_server()
    schedule().job(record, "local").name("local")
""")
        result = project.artisan(
            "schedule:run", "--at", "2026-03-08T07:00:00Z", timeout=60,
            env={"SCHEDULER_CACHE_URL": f"redis://127.0.0.1:{silent.port}/0"})
        connections = silent.connections
    assert result.returncode == 1
    assert ran(project) == ["local"]
    skipped = [line for line in result.stdout.splitlines()
               if line.startswith("Skipping shared")]
    assert len(skipped) == 10
    assert all("not asked again until the next tick" in line for line in skipped)
    assert connections == 1  # asked once, waited once
    assert "Timeout" in result.stdout


def test_the_run_log_of_a_hung_hook_names_it(project: Project) -> None:
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "task").name("task").after(lambda: time.sleep(3600))
""")
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                    env={"SCHEDULER_HOOK_TIMEOUT": "0.5"}, timeout=60)
    [record] = history(project)
    assert record["message"] == (
        "the after hook schedule_tasks.<locals>.<lambda> did not finish within 0.5 seconds "
        "(SCHEDULER_HOOK_TIMEOUT) and was given up on")
