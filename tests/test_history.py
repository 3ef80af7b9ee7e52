"""The run history through real ticks: what is recorded, the commands that read it, the
monitor's exit codes, retention, and a store that is down or full.

Everything runs for real: `artisan` processes, background supervisors, a SQLite file in
the project's storage, a tmpfs that is full.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler.event import InvalidSchedule
from scheduler.history.retention import PRUNE_BATCH, prune
from scheduler.history.sqlite import SqliteStore
from scheduler.history.store import LATEST_VERSION
from scheduler.schedule import Schedule
from scheduler.zones import UTC
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as HEADER
from tests.kernels import history, ran, wait_for

AT = "2026-03-08T07:00:00Z"


def history_json(project: Project, *args: str, env: dict[str, str] | None = None
                 ) -> list[dict[str, Any]]:
    result = project.artisan("schedule:history", "--json", *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    records: list[dict[str, Any]] = json.loads(result.stdout)
    return records


def monitor(project: Project, at: str) -> tuple[int, dict[str, object]]:
    result = project.artisan("schedule:monitor", "--json", "--at", at)
    assert result.stdout, result.stderr
    report: dict[str, object] = json.loads(result.stdout)
    return result.returncode, report


def tasks_by_name(report: dict[str, object]) -> dict[str, dict[str, object]]:
    tasks = report["tasks"]
    assert isinstance(tasks, list)
    return {task["name"]: task for task in tasks}


# -- what a tick records -----------------------------------------------------------------
RUNS_KERNEL = HEADER + """
def fail():
    print("about to fail")
    sys.exit(3)

def hang():
    time.sleep(30)

def slow_background(word):
    time.sleep(float(os.environ.get("TASK_SECONDS", "2")))
    print(word)
    record(word)

def schedule_tasks():
    schedule().job(record, "ok").name("succeeds").with_attributes({"team": "platform"})
    schedule().job(fail).name("fails")
    schedule().job(hang).name("hangs").timeout(0.5)
    schedule().job(slow_background, "bg").name("background").run_in_background() \\
        .without_overlapping()
    schedule().job(record, "one").name("one server").on_one_server()
    schedule().job(record, "never").name("filtered").when(lambda: False)
"""


def test_ticks_record_exactly_the_runs_they_made(project: Project) -> None:
    project.kernel(RUNS_KERNEL)
    first = project.artisan("schedule:run", "--at", AT,
                            env={"SCHEDULER_HOST": "web-1", "TASK_SECONDS": "6"})
    assert first.returncode == 1, first.stdout + first.stderr  # `fails` and `hangs` failed
    # The background run still holds its lock: a second server's tick of the next
    # minute skips it for overlap, and a second server's tick of the same minute finds
    # the one-server task taken.
    wait_for(lambda: "one" in ran(project))
    second = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z",
                             env={"SCHEDULER_HOST": "web-2"})
    assert "Skipping background: the previous run is still running" in second.stdout
    for host in ("web-2", "web-3"):
        project.artisan("schedule:run", "--at", AT, env={"SCHEDULER_HOST": host})
    wait_for(lambda: "bg" in ran(project))
    wait_for(lambda: all(r["status"] != "running" for r in history(project, ended_only=False)))

    records = history_json(project, "--limit", "100")
    assert [r["started"] for r in records] == sorted((r["started"] for r in records),
                                                     reverse=True)
    at_seven = sorted((r["task"], r["host"], r["status"], r["reason"]) for r in records
                      if r["scheduled"] == "2026-03-08T07:00:00+00:00")
    # web-1 ran everything; web-2 and web-3, ticking the same minute, ran all but the
    # one-server task (recorded once, as skipped) and the background task (overlap).
    expected: list[tuple[str, str, str, str | None]] = [
        ("background", "web-1", "success", None)]
    for host in ("web-1", "web-2", "web-3"):
        expected += [("fails", host, "failure", None), ("filtered", host, "skipped", "filter"),
                     ("hangs", host, "timeout", None), ("succeeds", host, "success", None)]
    expected += [("one server", "web-1", "success", None),
                 ("one server", "web-2", "skipped", "other_server")]
    for host in ("web-2", "web-3"):
        expected.append(("background", host, "skipped", "overlap"))
    assert at_seven == sorted(expected)
    by_key = {(r["task"], r["host"], r["scheduled"]): r for r in records}
    skipped_elsewhere = by_key[("one server", "web-2", "2026-03-08T07:00:00+00:00")]
    assert skipped_elsewhere["ran_on"] == "web-1"
    fails = by_key[("fails", "web-1", "2026-03-08T07:00:00+00:00")]
    assert (fails["exit_code"], fails["signal"], fails["background"]) == (3, None, False)
    hangs = by_key[("hangs", "web-1", "2026-03-08T07:00:00+00:00")]
    assert hangs["signal"] == 15 and "timed out after 0.5s" in str(hangs["message"])
    background = by_key[("background", "web-1", "2026-03-08T07:00:00+00:00")]
    assert background["background"] is True and background["pid"] != fails["pid"]
    assert 2 <= float(background["duration"]) < 20
    succeeds = by_key[("succeeds", "web-1", "2026-03-08T07:00:00+00:00")]
    assert succeeds["attributes"] == {"team": "platform"}
    assert succeeds["expression"] == "* * * * *"
    assert str(succeeds["started"]) <= str(succeeds["finished"])

    # The output of each run is kept: the background supervisor's too.
    shown = project.artisan("schedule:history", "--output", str(background["id"]))
    assert shown.stdout == "bg\n"
    assert project.artisan("schedule:history", "--output", str(fails["id"])).stdout \
        == "about to fail\n"
    missing = project.artisan("schedule:history", "--output", "999999")
    assert missing.returncode == 1 and "no run #999999" in missing.stderr

    # Filters: --task, --failed, --limit; the text form has a line per run.
    assert {r["task"] for r in history_json(project, "--task", "fails")} == {"fails"}
    assert {r["status"] for r in history_json(project, "--failed")} == {"failure", "timeout"}
    assert len(history_json(project, "--failed")) == 8  # 3 servers at 07:00, web-2 at 07:01
    assert len(history_json(project, "--limit", "2")) == 2
    assert history_json(project, "--since", "2099-01-01T00:00:00Z") == []
    assert len(history_json(project, "--since", "1h", "--limit", "100")) == len(records)
    text = project.artisan("schedule:history", "--task", "one server").stdout.splitlines()
    assert len(text) == 3  # web-1 ran 07:00, web-2 ran 07:01, web-2 skipped 07:00
    assert "skipped" in text[0] and "[other_server on web-1]" in text[0]
    assert "success" in text[2] and "web-1" in text[2]


def test_only_the_end_of_a_long_output_is_kept(project: Project) -> None:
    project.kernel(HEADER + """
def chatty():
    for line in range(5000):
        print(f"line {line:05d}")

def schedule_tasks():
    schedule().job(chatty).name("chatty")
""")
    project.artisan("schedule:run", "--at", AT, env={"SCHEDULER_HISTORY_OUTPUT_KB": "1"})
    [record] = history_json(project)
    output = project.artisan("schedule:history", "--output", str(record["id"])).stdout
    assert len(output.encode()) == 1024
    assert output.endswith("line 04999\n") and "line 00000" not in output


def test_history_arguments_are_checked(project: Project) -> None:
    project.kernel(HEADER + "\ndef schedule_tasks():\n    pass\n")
    bad_since = project.artisan("schedule:history", "--since", "yesterday-ish")
    assert bad_since.returncode == 2 and "yesterday-ish" in bad_since.stderr
    bad_days = project.artisan("schedule:history", env={"SCHEDULER_HISTORY_DAYS": "-3"})
    assert bad_days.returncode == 2 and "SCHEDULER_HISTORY_DAYS='-3'" in bad_days.stderr
    off = project.artisan("schedule:history", env={"SCHEDULER_HISTORY": "off"})
    assert off.returncode == 2 and "SCHEDULER_HISTORY=off" in off.stderr
    with pytest.raises(InvalidSchedule, match=r"'nightly'.*grace\('soon'\)"):
        Schedule().job(print).name("nightly").grace("soon")  # type: ignore[arg-type]
    with pytest.raises(InvalidSchedule, match=r"expected_runtime\(0\)"):
        Schedule().job(print).expected_runtime(0)


def test_with_the_history_off_nothing_is_recorded(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "ran")
""")
    result = project.artisan("schedule:run", "--at", AT, env={"SCHEDULER_HISTORY": "off"})
    assert result.returncode == 0 and ran(project) == ["ran"]
    assert not (project.storage / "scheduler.sqlite3").exists()


def test_the_sqlite_file_is_private_and_never_a_planted_link(project: Project,
                                                              tmp_path: Path) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "ran")
""")
    project.artisan("schedule:run", "--at", AT)
    database = project.storage / "scheduler.sqlite3"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(project.storage.stat().st_mode) == 0o700
    # Another user replaces the database with a link to a file of root's.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    database.unlink()
    database.symlink_to(victim)
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:01:00Z")
    assert result.returncode == 0 and ran(project) == ["ran", "ran"]
    warnings = [line for line in result.stderr.splitlines() if "run history" in line]
    assert len(warnings) == 1, result.stderr
    assert "scheduler.sqlite3" in warnings[0]
    assert victim.read_text() == "precious\n"


# -- concurrency ---------------------------------------------------------------------------
@pytest.mark.slow
def test_concurrent_ticks_and_supervisors_lose_no_record(project: Project) -> None:
    project.kernel(HEADER + """
def quick(word):
    print(word)

def schedule_tasks():
    for number in range(6):
        schedule().job(quick, f"fg{number}").name(f"foreground {number}")
        schedule().job(quick, f"bg{number}").name(f"background {number}").run_in_background()
""")
    hosts = [f"host-{number}" for number in range(6)]
    ticks = [subprocess.Popen(
        [sys.executable, str(project.root / "artisan"), "schedule:run", "--at", AT],
        env={**project.env, "SCHEDULER_HOST": host}, cwd=project.root,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for host in hosts]
    for tick in ticks:
        _, errors = tick.communicate(timeout=120)
        assert tick.returncode == 0 and "Warning" not in errors, errors
    wait_for(lambda: len(history(project)) == 72, timeout=60)
    records = history(project)
    assert sorted((r["host"], r["task"]) for r in records) == sorted(
        (host, f"{kind} {number}") for host in hosts for number in range(6)
        for kind in ("foreground", "background"))
    assert all(r["status"] == "success" for r in records)
    ticks_recorded = SqliteStore(project.storage / "scheduler.sqlite3").ticks()
    assert sorted(tick.host for tick in ticks_recorded) == hosts


# -- lateness and the monitor --------------------------------------------------------------
LATE_KERNEL = HEADER + """
def schedule_tasks():
    schedule().job(record, "report").name("report").daily_at("07:00").grace(2)
    schedule().job(record, "minutely").name("minutely")
"""


def test_a_minute_with_no_tick_makes_its_fixed_time_task_late(project: Project) -> None:
    project.kernel(LATE_KERNEL)
    project.env["SCHEDULER_CATCH_UP"] = "0"  # no catch-up: the missed run stays missed
    for at in ("2026-03-08T06:58:00Z", "2026-03-08T06:59:00Z"):
        assert project.artisan("schedule:run", "--at", at).returncode == 0
    code, report = monitor(project, "2026-03-08T06:59:30Z")
    assert code == 0 and report["status"] == "ok"
    # The tick of 07:00 never happens; 07:01 to 07:03 do.
    for at in ("2026-03-08T07:01:00Z", "2026-03-08T07:02:00Z", "2026-03-08T07:03:00Z"):
        assert project.artisan("schedule:run", "--at", at).returncode == 0
    assert "report" not in ran(project)
    missed = [(r["task"], r["scheduled"]) for r in history(project, ended_only=False)
              if r["status"] == "missed"]
    assert sorted(missed) == [("minutely", "2026-03-08T07:00:00+00:00"),
                              ("report", "2026-03-08T07:00:00+00:00")]
    # Within its grace of two minutes the report is not late yet; after it, it is.
    code, report = monitor(project, "2026-03-08T07:01:30Z")
    assert code == 0, report
    code, report = monitor(project, "2026-03-08T07:03:30Z")
    assert code == 1 and report["status"] == "failing"
    tasks = tasks_by_name(report)
    assert tasks["report"]["state"] == "late"
    assert tasks["report"]["late_since"] == "2026-03-08T07:00:00+00:00"
    # The minutely task has run since its missed minute: it is not late.
    assert tasks["minutely"]["state"] == "ok"
    text = project.artisan("schedule:monitor", "--at", "2026-03-08T07:03:30Z")
    assert text.returncode == 1
    assert "LATE" in text.stdout and "due 2026-03-08 07:00:00, no run recorded" in text.stdout


def test_a_missed_run_that_is_caught_up_is_a_late_run_not_a_miss(project: Project) -> None:
    project.kernel(LATE_KERNEL)
    for at in ("2026-03-08T06:59:00Z", "2026-03-08T07:01:00Z"):  # no tick at 07:00
        assert project.artisan("schedule:run", "--at", at).returncode == 0
    assert "report" in ran(project)  # run late, at 07:01
    records = [(r["task"], r["scheduled"], r["status"])
               for r in history(project, ended_only=False)]
    assert ("report", "2026-03-08T07:00:00+00:00", "success") in records
    assert ("report", "2026-03-08T07:00:00+00:00", "missed") not in records
    assert ("minutely", "2026-03-08T07:00:00+00:00", "missed") in records  # not replayed
    code, report = monitor(project, "2026-03-08T07:02:30Z")  # past the report's grace
    assert code == 0 and tasks_by_name(report)["report"]["state"] == "ok", report


def test_no_tick_for_three_minutes_trips_the_dead_mans_switch(project: Project) -> None:
    project.kernel(LATE_KERNEL)
    code, report = monitor(project, "2026-03-08T06:59:00Z")
    assert code == 2 and report["last_tick"] is None  # never ticked
    assert project.artisan("schedule:run", "--at", "2026-03-08T06:50:00Z").returncode == 0
    code, report = monitor(project, "2026-03-08T06:51:59Z")
    assert code == 0, report
    code, report = monitor(project, "2026-03-08T06:53:00Z")
    assert code == 2 and report["status"] == "down"
    assert report["last_tick"]["minute"] == "2026-03-08T06:50:00+00:00"  # type: ignore[index]
    # The monitor notes the minutes that had no tick as missed (but the latest one,
    # whose tick may still be starting).
    missed = sorted(r["scheduled"] for r in history(project, ended_only=False)
                    if r["status"] == "missed")
    assert missed == ["2026-03-08T06:51:00+00:00"]


def test_a_failed_last_run_and_a_long_run_make_the_monitor_exit_1(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().exec("exit 5").name("broken")
    schedule().exec("sleep 30").name("sleeper").run_in_background().expected_runtime(0.01)
""")
    project.artisan("schedule:run")
    wait_for(lambda: any(r["status"] == "running" for r in history(project, ended_only=False)))
    result = project.artisan("schedule:monitor", "--json", "--at",
                             (datetime.now(UTC) + timedelta(seconds=2)).isoformat())
    report = json.loads(result.stdout)
    tasks = tasks_by_name(report)
    try:
        assert result.returncode == 1
        assert tasks["broken"]["state"] == "failed"
        assert tasks["broken"]["last_run"]["exit_code"] == 5  # type: ignore[index]
        assert tasks["sleeper"]["state"] == "long-running"
    finally:
        sleeper = tasks["sleeper"]["long_running"]
        if isinstance(sleeper, dict):
            _stop_supervised_sleep(int(sleeper["pid"]))


def _stop_supervised_sleep(supervisor: int) -> None:
    """Stop the `sleep 30` a background supervisor waits for (the supervisor then ends)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children")
    if children.exists():
        for pid in children.read_text().split():
            os.kill(int(pid), 9)


# -- schedule:list, schedule:metrics, schedule:migrate ---------------------------------
def test_list_shows_each_tasks_last_run(project: Project) -> None:
    project.kernel(HEADER + """
def schedule_tasks():
    schedule().job(record, "ran").name("ran")
    schedule().exec("exit 2").name("broken")
    schedule().job(record, "later").name("not yet").daily_at("23:00")
""")
    project.artisan("schedule:run", "--at", AT)
    listed = {entry["name"]: entry for entry in json.loads(
        project.artisan("schedule:list", "--json", "--at", AT).stdout)}
    assert listed["ran"]["last_run"]["status"] == "success"
    assert listed["ran"]["last_run"]["scheduled"] == "2026-03-08T07:00:00+00:00"
    assert listed["broken"]["last_run"]["status"] == "failure"
    assert listed["broken"]["last_run"]["exit_code"] == 2
    assert listed["not yet"]["last_run"] is None
    table = project.artisan("schedule:list", "--at", AT, env={"COLUMNS": "250"}).stdout
    [broken_line] = [line for line in table.splitlines() if "broken" in line]
    assert "last run failure" in broken_line


def test_metrics_are_prometheus_text(project: Project) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    project.kernel(LATE_KERNEL + """
    schedule().exec("exit 1").name("broken")
""")
    project.env["SCHEDULER_CATCH_UP"] = "0"
    for at in ("2026-03-08T06:58:00Z", "2026-03-08T06:59:00Z", "2026-03-08T07:02:00Z"):
        project.artisan("schedule:run", "--at", at)
    result = project.artisan("schedule:metrics", "--at", "2026-03-08T07:03:00Z")
    assert result.returncode == 0, result.stderr
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(result.stdout)
               for sample in family.samples}
    assert samples[("scheduler_task_runs", (("status", "success"), ("task", "minutely")))] == 3
    assert samples[("scheduler_task_runs", (("status", "missed"), ("task", "minutely")))] == 2
    assert samples[("scheduler_task_runs", (("status", "failure"), ("task", "broken")))] == 3
    assert samples[("scheduler_task_failing", (("task", "broken"),))] == 1
    assert samples[("scheduler_task_failing", (("task", "minutely"),))] == 0
    assert samples[("scheduler_task_lateness_seconds", (("task", "report"),))] == 180
    assert samples[("scheduler_task_lateness_seconds", (("task", "minutely"),))] == 0
    assert ("scheduler_task_last_success_timestamp_seconds", (("task", "minutely"),)) in samples
    assert samples[("scheduler_last_tick_timestamp_seconds", ())] == datetime(
        2026, 3, 8, 7, 2, tzinfo=UTC).timestamp()
    assert samples[("scheduler_ticks", ())] == 3
    assert samples[("scheduler_up", ())] == 1


def test_the_tick_imports_neither_psycopg_nor_prometheus_client(project: Project) -> None:
    project.kernel(HEADER + """
import sys

def schedule_tasks():
    schedule().job(record, "ran").after(
        lambda: record(str(sorted(m for m in ("psycopg", "prometheus_client", "sqlalchemy")
                                  if m in sys.modules))))
""")
    assert project.artisan("schedule:run", "--at", AT).returncode == 0
    assert ran(project) == ["ran", "[]"]
    assert len(history(project)) == 1


def test_migrate_brings_the_schema_up_to_date_once(project: Project) -> None:
    project.kernel(HEADER + "\ndef schedule_tasks():\n    pass\n")
    first = project.artisan("schedule:migrate")
    assert first.returncode == 0
    assert f"from schema version 0 to {LATEST_VERSION}" in first.stdout
    again = project.artisan("schedule:migrate")
    assert again.returncode == 0
    assert f"is up to date (schema version {LATEST_VERSION})" in again.stdout


# -- retention -------------------------------------------------------------------------------
@pytest.mark.slow
def test_pruning_keeps_the_store_bounded_over_a_month_of_every_second_runs(
        tmp_path: Path) -> None:
    """A month of an every_second() task (86,400 runs a day), written six hours at a
    time with the clock moved on by as much, and pruned by as many of a tick's batches
    as those six hours of ticks would prune, under one day's retention: the store never
    holds more than a day and six hours of runs, and its file stops growing once the
    oldest runs go as fast as new ones come."""
    store = SqliteStore(tmp_path / "history.sqlite3", tmp_path)
    store.migrate()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    ticks_per_step = 6 * 60
    insert = ("INSERT INTO runs (task, expression, scheduled_at, host, pid, started_at, "
              "finished_at, status, duration) VALUES ('heartbeat', '* * * * * *', ?, "
              "'web-1', 1, ?, ?, 'success', 0.01)")
    sizes: dict[int, int] = {}
    most = 0
    for number in range(30 * 4):
        base = (start + number * step).timestamp()
        connection = store.connection()
        connection.execute("BEGIN")
        connection.executemany(insert, ((base + second, base + second, base + second + 0.01)
                                        for second in range(int(step.total_seconds()))))
        connection.execute("COMMIT")
        store.close()
        prune(store, start + (number + 1) * step, 1, batch=PRUNE_BATCH * ticks_per_step)
        if number % 4 == 3:
            day = number // 4 + 1
            most = max(most, store.counts()[("heartbeat", "success")])
            sizes[day] = (tmp_path / "history.sqlite3").stat().st_size
    assert 86400 <= most <= 86400 + 6 * 3600
    end = start + timedelta(days=30)
    assert store.runs(until=end - timedelta(days=1), limit=1) == []  # older ones all gone
    assert len(store.runs(since=end - timedelta(days=1), limit=100000)) == 86400
    # After the first days the file stops growing (SQLite reuses the freed pages).
    assert sizes[30] <= sizes[3] * 1.1, sizes
