"""Task events: listeners told of each start, finish, failure and skip, in real ticks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scheduler import InvalidSchedule, Schedule
from tests.conftest import Project
from tests.kernels import wait_for

KERNEL = """
import json, os, sys, time
from scheduler import schedule
from scheduler.settings import current

def heard(task_event, event, exit_code, reason, output, duration):
    folder = current().storage
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "events.jsonl", "a") as handle:
        handle.write(json.dumps({
            "task_event": task_event, "name": event.display_name if event else None,
            "exit_code": exit_code, "reason": reason, "output": output,
            "duration": duration, "pid": os.getpid(),
            "attributes": event.attributes if event else None}) + "\\n")

def works():
    print("all good")

def breaks():
    print("about to fail")
    raise RuntimeError("boom")

def slow():
    time.sleep(float(os.environ.get("TASK_SECONDS", "2")))

def schedule_tasks():
    for name in ("starting", "finished", "failed", "skipped", "background_finished",
                 "paused", "resumed"):
        schedule().listen(name, heard)
    schedule().job(works).every_minute().with_attributes({"team": "platform"})
    schedule().job(breaks).every_minute()
    schedule().job(works).name("never").every_minute().when(lambda: False)
    schedule().job(slow).every_minute().without_overlapping().run_in_background()
    schedule().job(works).name("shared").every_minute().on_one_server()
"""


def events(project: Project) -> list[dict[str, Any]]:
    path = project.storage / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def heard(project: Project, name: str) -> list[tuple[str, Any, Any]]:
    return [(e["task_event"], e["exit_code"], e["reason"])
            for e in events(project) if e["name"] == name]


def test_each_run_is_told_to_its_listeners(project: Project) -> None:
    project.kernel(KERNEL)
    tick = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert tick.returncode == 1  # `breaks` failed
    wait_for(lambda: ("background_finished", 0, None) in heard(project, "console.kernel.slow"))
    works = [e for e in events(project) if e["name"] == "console.kernel.works"]
    assert [e["task_event"] for e in works] == ["starting", "finished"]
    assert works[1]["exit_code"] == 0 and works[1]["output"] == "all good\n"
    assert works[1]["duration"] > 0 and works[1]["attributes"] == {"team": "platform"}
    assert heard(project, "console.kernel.breaks") == [
        ("starting", None, None), ("finished", 1, None), ("failed", 1, None)]
    failed = next(e for e in events(project) if e["task_event"] == "failed")
    assert "about to fail" in failed["output"] and "RuntimeError: boom" in failed["output"]
    assert heard(project, "never") == [("skipped", None, "filter")]
    # A background run is told of in its supervisor, not in the tick.
    slow = [e for e in events(project) if e["name"] == "console.kernel.slow"]
    assert [e["task_event"] for e in slow] == ["starting", "finished", "background_finished"]
    assert {e["pid"] for e in slow} != {works[0]["pid"]}
    assert heard(project, "shared") == [("starting", None, None), ("finished", 0, None)]


def test_skips_are_told_with_their_reason(project: Project) -> None:
    project.kernel(KERNEL)
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                    env={"TASK_SECONDS": "6"})
    wait_for(lambda: ("starting", None, None) in heard(project, "console.kernel.slow"))
    # The next minute: the slow run still holds its lock.
    project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    assert ("skipped", None, "overlap") in heard(project, "console.kernel.slow")
    # Another server, same minute: the one-server claim is taken.
    project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                    env={"SCHEDULER_HOST": "web-2"})
    assert heard(project, "shared")[-1] == ("skipped", None, "other_server")
    # Maintenance mode, then a pause: every due run is told as skipped, with the reason.
    assert project.artisan("down").returncode == 0
    project.artisan("schedule:run", "--at", "2026-03-08T07:02:00Z")
    assert heard(project, "console.kernel.breaks")[-1] == ("skipped", None, "maintenance")
    assert project.artisan("up").returncode == 0
    paused = project.artisan("schedule:pause")
    assert paused.returncode == 0, paused.stderr
    assert [e["task_event"] for e in events(project)][-1] == "paused"
    project.artisan("schedule:run", "--at", "2026-03-08T07:03:00Z")
    assert heard(project, "console.kernel.breaks")[-1] == ("skipped", None, "paused")
    assert project.artisan("schedule:resume").returncode == 0
    assert [e["task_event"] for e in events(project)][-1] == "resumed"


def test_a_store_that_cannot_be_reached_is_told_as_a_failure(project: Project) -> None:
    project.kernel(KERNEL)
    project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                    env={"SCHEDULER_CACHE_URL": "redis://127.0.0.1:1/0"})
    [(task_event, exit_code, reason)] = heard(project, "shared")
    assert (task_event, exit_code) == ("failed", None)
    assert "127.0.0.1:1" in reason


RAISING_KERNEL = """
from scheduler import schedule
from scheduler.settings import current

def works():
    print("fine")

def broken_listener(event):
    raise ValueError("the chat server is down")

def second_listener(event, outcome):
    (current().storage / "second.txt").write_text(str(outcome.exit_code))

def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    schedule().listen("finished", broken_listener)

    @schedule().listen("finished")
    def decorated(event, outcome):
        second_listener(event, outcome)

    schedule().job(works).every_minute()
"""


def test_a_raising_listener_is_reported_and_stops_nothing(project: Project) -> None:
    project.kernel(RAISING_KERNEL)
    tick = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert tick.returncode == 0, tick.stdout + tick.stderr
    out = tick.stdout
    assert "Warning: console.kernel.works: the 'finished' listener broken_listener raised" in out
    assert "ValueError: the chat server is down" in out
    assert "DONE" in out
    assert (project.storage / "second.txt").read_text() == "0"


def test_listen_checks_its_arguments_when_the_schedule_is_defined() -> None:
    schedule = Schedule()
    with pytest.raises(InvalidSchedule, match="there is no task event 'done'"):
        schedule.listen("done", print)
    with pytest.raises(InvalidSchedule, match="there is no task event 'done'"):
        schedule.listen("done")
    with pytest.raises(InvalidSchedule, match="'task' is not"):
        schedule.listen("finished", lambda task: None)
    with pytest.raises(InvalidSchedule, match="expected a callable"):
        schedule.listen("finished", "print")  # type: ignore[call-overload]


def test_a_dry_run_tells_no_listener(project: Project) -> None:
    project.kernel(KERNEL)
    dry = project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08T07:00:00Z")
    assert dry.returncode == 0, dry.stderr
    assert events(project) == []


def test_a_listener_that_hangs_is_given_up_on(project: Project) -> None:
    project.kernel("""
import time
from scheduler import schedule
from scheduler.settings import current

def hangs():
    time.sleep(3600)

def works():
    current().storage.mkdir(parents=True, exist_ok=True)
    (current().storage / "ran.txt").write_text("yes")

def schedule_tasks():
    schedule().listen("finished", hangs)
    schedule().job(works).every_minute()
""")
    tick = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z",
                           env={"SCHEDULER_HOOK_TIMEOUT": "0.5"}, timeout=60)
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert ("the 'finished' listener hangs did not finish within "
            "0.5 seconds (SCHEDULER_HOOK_TIMEOUT) and was given up on") in tick.stdout
    assert (project.storage / "ran.txt").read_text() == "yes"
