"""What the tick prints: through the `scheduler` logger, as JSON on request, and never
fatal when stdout is closed, full or a pipe whose reader has gone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, history, processes_started_in, ran, wait_for

# A kernel whose application routes the "scheduler" logger to a file of its own, one
# JSON object per record with the extra fields the tick gives each line.
LOGGING_KERNEL = RECORDING_KERNEL + """
import json, logging

class AppHandler(logging.Handler):
    def emit(self, record):
        current().storage.mkdir(parents=True, exist_ok=True)
        with open(current().storage / "app-log.jsonl", "a") as handle:
            handle.write(json.dumps({"level": record.levelname, "message": record.getMessage(),
                                     "task": record.task, "status": record.status,
                                     "duration": record.duration}) + "\\n")

logging.getLogger("scheduler").addHandler(AppHandler())
logging.getLogger("scheduler").setLevel(logging.INFO)
"""

THREE_TASKS = """
def schedule_tasks():
    schedule().job(record, "one").name("one")
    schedule().job(record, "two").name("two")
    schedule().job(record, "three").name("three")
"""

AT = ("--at", "2026-03-08T07:00:00Z")


def app_log(project: Project) -> list[dict[str, Any]]:
    path = project.storage / "app-log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_lines(project: Project) -> list[tuple[str, str]]:
    """(task, status) of each run line the application's logger received."""
    return [(entry["task"], entry["status"]) for entry in app_log(project)
            if " Running " in entry["message"]]


def tick_argv(project: Project, *args: str) -> list[str]:
    return [sys.executable, str(project.root / "artisan"), "schedule:run", *AT, *args]


def test_every_line_goes_through_the_scheduler_logger_with_task_status_and_duration(
        project: Project) -> None:
    project.kernel(LOGGING_KERNEL + """
def broken():
    raise RuntimeError("no disk")

def schedule_tasks():
    schedule().job(record, "fine").name("fine")
    schedule().job(broken).name("broken")
""")
    result = project.artisan("schedule:run", *AT)
    assert result.returncode == 1
    entries = app_log(project)
    # The same lines, in the same order, as on stdout.
    assert "\n".join(entry["message"] for entry in entries) == result.stdout.rstrip("\n")
    fine, broken = [entry for entry in entries if " Running " in entry["message"]]
    assert (fine["task"], fine["status"], fine["level"]) == ("fine", "DONE", "INFO")
    assert (broken["task"], broken["status"], broken["level"]) == ("broken", "FAIL", "ERROR")
    assert isinstance(fine["duration"], float) and fine["duration"] >= 0
    traceback_lines = [entry for entry in entries if "RuntimeError: no disk" in entry["message"]]
    assert traceback_lines and traceback_lines[0]["task"] == "broken"


def test_json_format_prints_one_object_per_line(project: Project) -> None:
    project.kernel(RECORDING_KERNEL + """
def broken():
    print("line one\\nline two")
    sys.exit(3)

def schedule_tasks():
    schedule().job(record, "fine").name("fine")
    schedule().job(broken).name("broken")
    schedule().job(record, "held").name("held").when(False)
""")
    result = project.artisan("schedule:run", *AT, env={"SCHEDULER_LOG_FORMAT": "json"})
    assert result.returncode == 1
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) >= 4
    runs = [item for item in objects if " Running " in item["message"]]
    assert [(item["task"], item["status"], item["level"]) for item in runs] == [
        ("fine", "DONE", "info"), ("broken", "FAIL", "error")]
    assert all(isinstance(item["duration"], float) for item in runs)
    assert {"    exit code 3", "    | line one", "    | line two"} <= {
        item["message"] for item in objects}
    assert all(item["time"].endswith("+00:00") for item in objects)


def test_an_unknown_log_format_is_named_and_text_is_printed(project: Project) -> None:
    project.kernel(RECORDING_KERNEL + THREE_TASKS)
    result = project.artisan("schedule:run", *AT, env={"SCHEDULER_LOG_FORMAT": "xml"})
    assert result.returncode == 0
    first, *rest = result.stdout.splitlines()
    assert first == ("Warning: SCHEDULER_LOG_FORMAT='xml' is not one of text, json, off; "
                     "printing text.")
    assert len(rest) == 3 and all(line.endswith("DONE") for line in rest)


def test_a_full_stdout_and_stderr_stop_no_task(project: Project) -> None:
    # The kernel prints at import, so the tick starts with text buffered for stdout.
    project.kernel(LOGGING_KERNEL + 'print("kernel loaded")\n' + THREE_TASKS)
    with open("/dev/full", "w") as full:
        result = subprocess.run(tick_argv(project), stdout=full, stderr=full,
                                env=project.env, timeout=60)
    assert result.returncode == 0
    assert ran(project) == ["one", "two", "three"]
    assert run_lines(project) == [("one", "DONE"), ("two", "DONE"), ("three", "DONE")]


def test_a_pipe_whose_reader_exits_stops_no_task(project: Project) -> None:
    project.kernel(LOGGING_KERNEL + """
def wait_for_the_reader_to_go():
    deadline = time.time() + 30
    while not (current().storage / "reader-gone").exists() and time.time() < deadline:
        time.sleep(0.02)
    record("two")

def schedule_tasks():
    schedule().job(record, "one").name("one")
    schedule().job(wait_for_the_reader_to_go).name("two")
    schedule().job(record, "three").name("three")
""")
    tick = subprocess.Popen(tick_argv(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=project.env, text=True)
    assert tick.stdout is not None
    first = tick.stdout.readline()
    assert "Running one" in first
    tick.stdout.close()  # the reader goes: every later write gets EPIPE
    (project.storage / "reader-gone").touch()
    assert tick.wait(timeout=60) == 0
    assert tick.stderr is not None and "Traceback" not in tick.stderr.read()
    assert ran(project) == ["one", "two", "three"]
    assert run_lines(project) == [("one", "DONE"), ("two", "DONE"), ("three", "DONE")]


def test_a_closed_stdout_stops_no_task_and_output_capture_still_works(
        project: Project) -> None:
    project.kernel(RECORDING_KERNEL + """
def talk():
    print("said by the job")
    record("talk")

def schedule_tasks():
    schedule().job(talk).send_output_to("storage/talk.log")
    schedule().exec("echo said by the shell").append_output_to("storage/shell.log")
    schedule().job(record, "last")
""")
    line = " ".join(f"'{part}'" for part in tick_argv(project))
    result = subprocess.run(["/bin/sh", "-c", f"exec {line} >&- 2>&-"], env=project.env,
                            timeout=60)
    assert result.returncode == 0
    assert ran(project) == ["talk", "last"]
    assert (project.storage / "talk.log").read_text() == "said by the job\n"
    assert (project.storage / "shell.log").read_text() == "said by the shell\n"
    assert [record["status"] for record in history(project)] == ["success"] * 3


def test_kernel_errors_still_reach_a_closed_stdout_without_a_traceback_of_ours(
        tmp_path: Path, project: Project) -> None:
    project.kernel("raise ImportError('missing dependency')\n")
    with open("/dev/full", "w") as full:
        result = subprocess.run(tick_argv(project), stdout=full, stderr=subprocess.PIPE,
                                env=project.env, text=True, timeout=60)
    assert result.returncode == 2
    assert "ImportError: missing dependency" in result.stderr


def test_schedule_work_prints_json_lines_too_and_survives_a_full_stdout(
        project: Project, tmp_path: Path) -> None:
    project.kernel(RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "tick").every_minute().name("tick")
""")
    argv = [sys.executable, str(project.root / "artisan"), "schedule:work",
            "--interval-seconds", "1"]
    log = tmp_path / "worker.log"
    with processes_started_in(project.root, project.env) as start:
        with log.open("w") as logged:
            worker = start(argv, env_overrides={"SCHEDULER_LOG_FORMAT": "json"}, stdout=logged)
        wait_for(lambda: ran(project) == ["tick"], timeout=30)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
        objects = [json.loads(line) for line in log.read_text().splitlines()]
        messages = [item["message"] for item in objects]
        assert messages[0].startswith("Running the schedule every 1s")
        assert any(item["task"] == "tick" and item["status"] == "DONE" for item in objects)
        assert messages[-1] == "Stopped."
        # The same worker with nowhere to print: the ticks still run, the exit is clean.
        shutil.rmtree(project.storage)
        with open("/dev/full", "w") as full:
            worker = start(argv, stdout=full)
        wait_for(lambda: ran(project) == ["tick"], timeout=30)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def test_a_broken_kernels_message_is_json_on_stderr_and_logged(project: Project) -> None:
    project.kernel(LOGGING_KERNEL + """
def schedule_tasks():
    raise KeyError("REPORTS_BUCKET")
""")
    result = project.artisan("schedule:run", *AT, env={"SCHEDULER_LOG_FORMAT": "json"})
    assert result.returncode == 2
    [error] = [json.loads(line) for line in result.stderr.splitlines()]
    assert error["level"] == "error"
    assert "schedule_tasks() in 'console.kernel' raised an exception" in error["message"]
    assert "KeyError: 'REPORTS_BUCKET'" in error["message"]
    [logged] = app_log(project)
    assert logged["level"] == "ERROR" and logged["message"] == error["message"]


def test_a_non_blocking_stdout_that_is_full_for_now_is_waited_for_not_dropped(
        project: Project) -> None:
    project.kernel(RECORDING_KERNEL + THREE_TASKS)
    reader, writer = os.pipe()
    os.set_blocking(writer, False)  # as some container runtimes hand stdout over
    filler = b"x" * 65536
    while True:  # fill the pipe: the tick's first write finds no room
        try:
            os.write(writer, filler)
        except BlockingIOError:
            break
    tick = subprocess.Popen(tick_argv(project), stdout=writer, stderr=subprocess.DEVNULL,
                            env=project.env)
    os.close(writer)
    wait_for(lambda: ran(project) == ["one"], timeout=30)
    received = b""
    with os.fdopen(reader, "rb") as pipe:  # the reader catches up, slowly
        while chunk := pipe.read(65536):
            received += chunk
    assert tick.wait(timeout=60) == 0
    assert ran(project) == ["one", "two", "three"]
    lines = received.replace(b"x", b"").decode().splitlines()
    assert [line.rsplit(" ", 1)[1] for line in lines] == ["DONE", "DONE", "DONE"]


def test_off_leaves_the_lines_to_the_applications_own_logging(project: Project) -> None:
    # An application that configures the root logger sees every line once, from its
    # own handler, and none on stdout.
    project.kernel(RECORDING_KERNEL + """
import logging
logging.basicConfig(format="app: %(status)s %(message)s", level=logging.INFO)
""" + THREE_TASKS)
    result = project.artisan("schedule:run", *AT, env={"SCHEDULER_LOG_FORMAT": "off"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 3 and all(line.startswith("app: DONE ") for line in lines)
    assert ran(project) == ["one", "two", "three"]


# Three tasks due at 07:00 and one that is not, for the dry runs below.
DRY_RUN_TASKS = """
def schedule_tasks():
    schedule().job(record, "one").name("one")
    schedule().job(record, "two").name("two").every_five_minutes()
    schedule().job(record, "later").name("later").daily_at("08:00")
    schedule().exec("echo three").name("three").hourly()
"""
WOULD_RUN = [f"2026-03-08 07:00:00  Would run {name}" for name in ("one", "two", "three")]


@pytest.mark.parametrize("log_format", ["text", "off"])
def test_a_dry_run_gives_the_applications_logging_one_record_per_line(
        project: Project, log_format: str) -> None:
    # The kernel configures logging itself (so the tick's process has imported it): a
    # root handler writing to a file, as an application's own set-up would.
    project.kernel(RECORDING_KERNEL + """
import logging
current().storage.mkdir(parents=True, exist_ok=True)
logging.basicConfig(filename=str(current().storage / "app.log"), level=logging.INFO,
                    format="%(name)s|%(levelname)s|%(task)s|%(status)s|%(message)s")
""" + DRY_RUN_TASKS)
    result = project.artisan("schedule:run", "--dry-run", *AT,
                             env={"SCHEDULER_LOG_FORMAT": log_format})
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("\n".join(WOULD_RUN) + "\n" if log_format == "text" else "")
    records = (project.storage / "app.log").read_text().splitlines()
    assert records == [f"scheduler|INFO|{name}|None|{line}"
                       for name, line in zip(("one", "two", "three"), WOULD_RUN, strict=True)]
    assert ran(project) == []


def test_a_json_dry_run_prints_one_object_per_line_and_logs_each(project: Project) -> None:
    project.kernel(LOGGING_KERNEL + DRY_RUN_TASKS)
    result = project.artisan("schedule:run", "--dry-run", *AT,
                             env={"SCHEDULER_LOG_FORMAT": "json"})
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(item["message"], item["task"], item["status"], item["level"])
            for item in objects] == [(line, name, None, "info") for name, line in
                                     zip(("one", "two", "three"), WOULD_RUN, strict=True)]
    assert all(item["time"].endswith("+00:00") and item["duration"] is None
               for item in objects)
    assert [(entry["message"], entry["task"], entry["level"]) for entry in app_log(project)] \
        == [(line, name, "INFO")
            for name, line in zip(("one", "two", "three"), WOULD_RUN, strict=True)]
    assert ran(project) == []


APPLICATION_LOGS_THROUGH_OURS = RECORDING_KERNEL + """
import logging

log = logging.getLogger("scheduler")

def job():
    log.warning("said in the job")
    record("job")

def schedule_tasks():
    log.warning("said while defining")
    schedule().job(job).every_minute().before(lambda: log.warning("said in a hook"))
"""


def test_the_applications_own_records_on_the_scheduler_logger_stay_off_stderr(
        project: Project) -> None:
    """An application that logs through the `scheduler` logger without configuring
    logging hears nothing, as from any library's logger: logging's last-resort handler
    must not print those records on stderr (cron mails it) nor in the job's output."""
    project.kernel(APPLICATION_LOGS_THROUGH_OURS)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ran(project) == ["job"]
    assert "said" not in result.stderr
    assert "said" not in result.stdout
