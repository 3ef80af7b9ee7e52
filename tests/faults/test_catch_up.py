"""Missed minutes: fixed-time runs whose time fell in a gap run once, late, with a line
that says so; wildcard runs are not replayed; the window is SCHEDULER_CATCH_UP or the
event's own; ticks going backwards (`--at`) never replay or double anything."""

from __future__ import annotations

import pytest

from scheduler import InvalidSchedule, Schedule
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL, ran

KERNEL = RECORDING_KERNEL + """
def schedule_tasks():
    schedule().job(record, "backup").name("backup").daily_at("02:00")
    schedule().job(record, "report").name("report").daily_at("02:10").catch_up(5)
    schedule().job(record, "never-late").name("never late").daily_at("02:01") \\
        .without_catch_up()
    schedule().job(record, "five").name("five").every_five_minutes()
    schedule().job(record, "shared").name("shared").daily_at("02:02").on_one_server()
"""


def tick(project: Project, at: str, **env: str) -> str:
    result = project.artisan("schedule:run", "--at", f"2026-03-08T{at}:00Z", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_fixed_time_runs_in_a_gap_run_once_late(project: Project) -> None:
    project.kernel(KERNEL)
    tick(project, "01:58")  # the host goes down after this one...
    output = tick(project, "02:20")  # ...and comes back
    assert ran(project) == ["backup", "shared", "five"]
    assert ("Catching up backup: it was due at 2026-03-08 02:00:00, a minute no tick "
            "processed; running it late.") in output
    assert "Catching up shared: it was due at 2026-03-08 02:02:00" in output
    # report's window is 5 minutes: 02:10 is 10 minutes back. never late never catches up.
    # five is a wildcard event: its 02:00 ... 02:15 runs are not replayed.
    assert "report" not in output and "never late" not in output
    tick(project, "02:21")
    assert ran(project) == ["backup", "shared", "five"]  # nothing twice


def test_ticks_going_backwards_never_replay_or_double(project: Project) -> None:
    project.kernel(KERNEL)
    tick(project, "01:58")
    tick(project, "02:20")
    assert ran(project) == ["backup", "shared", "five"]
    back = {minute: tick(project, minute) for minute in ("02:00", "02:02", "01:59")}
    # The runs made up late are not made again; 02:00's wildcard run never ran, and
    # runs now, once.
    assert ("Skipping backup: already started for this minute on this host"
            in back["02:00"])
    assert "A tick already ran for 2026-03-08 02:02:00 on this host" in back["02:02"]
    assert "Catching up" not in "".join(back.values())
    assert ran(project) == ["backup", "shared", "five", "five"]
    tick(project, "02:00")
    assert ran(project) == ["backup", "shared", "five", "five"]


# report's own catch_up(15) holds whatever the setting: 02:10 is 10 minutes back.
@pytest.mark.parametrize(("window", "expected"), [
    ("10m", ["report", "five"]),  # 02:00 and 02:02 are more than 10 minutes back
    ("0", ["report", "five"]),  # off, but for the event that asks for its own window
    ("1h", ["backup", "report", "shared", "five"]),
])
def test_the_window_is_configurable(project: Project, window: str,
                                    expected: list[str]) -> None:
    project.kernel(KERNEL.replace('.catch_up(5)', '.catch_up(15)'))
    tick(project, "01:58", SCHEDULER_CATCH_UP=window)
    tick(project, "02:20", SCHEDULER_CATCH_UP=window)
    assert ran(project) == expected


def test_the_first_tick_ever_catches_nothing_up(project: Project) -> None:
    project.kernel(KERNEL)
    tick(project, "02:20")
    assert ran(project) == ["five"]


def test_a_bad_window_is_named_and_the_default_used(project: Project) -> None:
    project.kernel(KERNEL)
    tick(project, "01:58")
    result = project.artisan("schedule:run", "--at", "2026-03-08T02:20:00Z",
                             env={"SCHEDULER_CATCH_UP": "soon"})
    assert result.returncode == 1
    assert "SCHEDULER_CATCH_UP 'soon' is not a duration such as 90m, 3h" in result.stdout
    assert ran(project) == ["backup", "shared", "five"]


def test_the_shared_store_decides_for_one_server_events(project: Project) -> None:
    project.kernel(KERNEL)
    tick(project, "01:58", SCHEDULER_HOST="web-1")
    tick(project, "02:02", SCHEDULER_HOST="web-2")  # web-2 runs shared at its time
    tick(project, "02:20", SCHEDULER_HOST="web-1")  # web-1 was down from 01:59
    # web-1 makes up its own backup, but not shared: another server processed 02:02.
    assert ran(project) == ["shared", "backup", "five"]


@pytest.mark.parametrize("minutes", [-1, 1.5, True, "10"])
def test_a_bad_catch_up_is_an_error_at_definition(minutes: object) -> None:
    with pytest.raises(InvalidSchedule, match=r"catch_up\(.*\): expected a whole number"):
        Schedule().job(print).daily_at("02:00").catch_up(minutes)  # type: ignore[arg-type]
