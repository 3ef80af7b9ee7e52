"""`schedule:pause` and `schedule:resume`: real ticks, on files and on a shared Redis."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as KERNEL_HEADER
from tests.kernels import ran

KERNEL = KERNEL_HEADER + """
def work(word):
    record(word)

def schedule_tasks():
    schedule().job(work, "normal").name("normal")
    schedule().job(work, "essential").name("essential").even_when_paused()
"""
PAUSED_LINE = "The schedule is paused (since "


def test_pause_holds_back_every_task_but_the_essential_ones_until_resumed(
        project: Project) -> None:
    project.kernel(KERNEL)
    paused = project.artisan("schedule:pause")
    assert paused.returncode == 0, paused.stderr
    assert "The schedule is paused" in paused.stdout
    again = project.artisan("schedule:pause")
    assert again.stdout.startswith(PAUSED_LINE)  # already: says since when

    first = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert first.returncode == 0, first.stdout
    lines = first.stdout.splitlines()
    assert lines[0].startswith(PAUSED_LINE)
    assert "only tasks marked even_when_paused() run" in lines[0]
    [running] = [line for line in lines if " Running " in line]
    assert "Running essential" in running
    assert ran(project) == ["essential"]
    # The dry run says the same, and lists only what would run.
    dry = project.artisan("schedule:run", "--dry-run", "--at", "2026-03-08T07:00:00Z")
    assert dry.stdout.splitlines()[1:] == ["2026-03-08 07:00:00  Would run essential"]

    resumed = project.artisan("schedule:resume")
    assert resumed.stdout.strip() == "The schedule is resumed."
    second = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    assert PAUSED_LINE not in second.stdout
    assert ran(project) == ["essential", "normal", "essential"]
    assert project.artisan("schedule:continue").stdout.strip() == "The schedule was not paused."


def test_a_paused_tick_with_nothing_essential_prints_only_the_pause(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().job(record, "normal")
""")
    project.artisan("schedule:pause")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0
    [line] = result.stdout.splitlines()
    assert line.startswith(PAUSED_LINE)
    assert ran(project) == []
    # schedule:continue is schedule:resume.
    assert project.artisan("schedule:continue").stdout.strip() == "The schedule is resumed."
    project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    assert ran(project) == ["normal"]


def test_schedule_list_shows_the_pause(project: Project) -> None:
    project.kernel(KERNEL)
    rows = json.loads(project.artisan("schedule:list", "--json").stdout)
    assert [(row["paused"], row["even_when_paused"]) for row in rows] == [
        (False, False), (False, True)]
    project.artisan("schedule:pause")
    table = project.artisan("schedule:list")
    first, *rest = table.stdout.splitlines()
    assert first.startswith(PAUSED_LINE)
    normal = next(line for line in rest if "normal" in line)
    essential = next(line for line in rest if "essential" in line)
    assert normal.rstrip().endswith("paused") and "even when paused" in essential
    listed = project.artisan("schedule:list", "--json")
    assert listed.stderr.startswith(PAUSED_LINE)  # stdout stays a JSON array
    rows = json.loads(listed.stdout)
    assert [(row["paused"], row["even_when_paused"]) for row in rows] == [
        (True, False), (False, True)]
    project.artisan("schedule:resume")
    assert PAUSED_LINE not in project.artisan("schedule:list").stdout


def test_a_pause_stops_the_sub_minute_loop_at_its_next_offset(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
import json

def stamp(word):
    with open(current().storage / "times.jsonl", "a") as handle:
        handle.write(json.dumps([word, time.time()]) + "\\n")

def schedule_tasks():
    current().storage.mkdir(parents=True, exist_ok=True)
    schedule().job(stamp, "normal").every(1)
    schedule().job(stamp, "essential").every(1).even_when_paused()
""")
    # Leave the loop at least ten seconds of its minute.
    second = time.time() % 60
    if second > 45:
        time.sleep(60.5 - second)
    tick = subprocess.Popen([sys.executable, str(project.root / "artisan"), "schedule:run"],
                            env=project.env, stdout=subprocess.PIPE, text=True)
    time.sleep(3)
    assert project.artisan("schedule:pause").returncode == 0
    paused_at = time.time()
    time.sleep(3)
    project.artisan("schedule:interrupt")
    output, _ = tick.communicate(timeout=70)
    assert tick.returncode == 0, output
    assert output.count(PAUSED_LINE) == 1  # said once, when the loop met the pause
    recorded = [json.loads(line) for line in
                (project.storage / "times.jsonl").read_text().splitlines()]
    normal = [at for word, at in recorded if word == "normal"]
    essential = [at for word, at in recorded if word == "essential"]
    assert normal and max(normal) < paused_at + 1.2
    assert sum(at > paused_at + 1.2 for at in essential) >= 1


def test_a_pause_on_redis_holds_back_every_server_sharing_it(
        project: Project, redis_url: str, tmp_path: Path) -> None:
    project.kernel(KERNEL)
    # A second deployment of the same application: its own folder and storage, the
    # same Redis.
    other = Project(tmp_path / "other", dict(project.env))
    shutil.copytree(project.root, other.root)
    for each in (project, other):
        each.env["SCHEDULER_CACHE_URL"] = redis_url
    assert project.artisan("schedule:pause").returncode == 0
    assert project.storage != other.storage
    for number, each in enumerate((project, other)):
        result = each.artisan("schedule:run", "--at", f"2026-03-08T07:0{number}:00Z")
        assert result.stdout.startswith(PAUSED_LINE), result.stdout + result.stderr
        assert ran(each) == ["essential"]
    assert other.artisan("schedule:resume").stdout.strip() == "The schedule is resumed."
    for number, each in enumerate((project, other)):
        result = each.artisan("schedule:run", "--at", f"2026-03-08T08:0{number}:00Z")
        assert PAUSED_LINE not in result.stdout
        assert ran(each) == ["essential", "normal", "essential"]


def test_an_unreachable_redis_fails_the_tick_but_holds_nothing_back(project: Project) -> None:
    project.kernel(KERNEL)
    env = {"SCHEDULER_CACHE_URL": "redis://127.0.0.1:1/0"}
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z", env=env)
    assert result.returncode == 1
    assert "Could not tell whether the schedule is paused" in result.stdout
    assert ran(project) == ["normal", "essential"]
    paused = project.artisan("schedule:pause", env=env)
    assert paused.returncode == 1 and "unreachable" in paused.stderr
