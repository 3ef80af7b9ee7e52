"""The artisan commands other than schedule:run: list, schedule:list, schedule:test, ..."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Project, clean_environment

KERNEL = """
from scheduler import schedule
from scheduler.settings import current

def report(word="report"):
    print("report says hi")
    current().storage.mkdir(parents=True, exist_ok=True)
    (current().storage / "report.txt").write_text(word)

def schedule_tasks():
    schedule().job(report).daily_at("09:00").timezone("America/New_York").name("daily report")
    schedule().command("inspire").weekly_on("monday", "9:00").without_overlapping()
    schedule().exec("echo hi").every_five_minutes().on_one_server().run_in_background() \\
        .environments("production", "staging").between("08:00", "18:00")
    schedule().job(report, "fast").every(30)
"""


def listing(project: Project, *args: str) -> list[dict[str, object]]:
    result = project.artisan("schedule:list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_schedule_list_json_describes_every_event(project: Project) -> None:
    project.kernel(KERNEL)
    rows = listing(project, "--at", "2026-11-27T12:00:00Z")
    assert [row["name"] for row in rows] == ["daily report", "inspire", "echo hi",
                                           "console.kernel.report('fast')"]
    report, inspire, shell, fast = rows
    assert report["expression"] == "0 9 * * *"
    assert report["timezone"] == "America/New_York"
    # 09:00 in New York on 2026-11-27 is 14:00 UTC, shown in the app's zone (UTC), as
    # Laravel shows it; the expression is also given as it reads there.
    assert report["next_due"] == "2026-11-27T14:00:00+00:00"
    assert report["display_expressions"] == ["0 14 * * *"]
    assert report["display_timezone"] == "UTC"
    assert inspire["next_due"] == "2026-11-30T09:00:00+00:00"
    assert inspire["without_overlapping"] is True and inspire["on_one_server"] is False
    assert shell["on_one_server"] is True and shell["background"] is True
    assert shell["environments"] == ["production", "staging"]
    assert shell["next_due"] == "2026-11-27T12:05:00+00:00"
    assert fast["repeat_seconds"] == 30 and report["repeat_seconds"] is None
    assert fast["next_due"] == "2026-11-27T12:00:30+00:00"  # the next offset second
    for row in rows:
        assert {"name", "expression", "timezone", "next_due", "repeat_seconds",
                "without_overlapping", "on_one_server", "background"} <= set(row)


def test_schedule_list_respects_between_windows_in_next_due(project: Project) -> None:
    project.kernel(KERNEL)
    shell = listing(project, "--at", "2026-11-27T18:01:00Z")[2]
    assert shell["next_due"] == "2026-11-28T08:00:00+00:00"


def test_schedule_list_timezone_option_shows_times_in_that_zone(project: Project) -> None:
    project.kernel(KERNEL)
    report = listing(project, "--at", "2026-11-27T12:00:00Z", "--timezone", "Asia/Tokyo")[0]
    assert report["next_due"] == "2026-11-27T23:00:00+09:00"
    bad = project.artisan("schedule:list", "--timezone", "Mars/Olympus")
    assert bad.returncode == 2 and "unknown time zone 'Mars/Olympus'" in bad.stderr


def test_schedule_list_table_shows_each_task_on_a_line(project: Project) -> None:
    project.kernel(KERNEL)
    result = project.artisan("schedule:list", "--at", "2026-11-27T12:00:00Z")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Expression", "Task", "Time", "zone", "Next", "due", "Flags"]
    report = next(line for line in lines if "daily report" in line)
    # New York's 09:00 task, shown in the app's zone (UTC).
    assert "0 14 * * *" in report and "UTC" in report and "America/New_York" not in report
    assert "2026-11-27 14:00 +0000 (in 2 hours)" in report
    shell = next(line for line in lines if "echo hi" in line)
    assert "on one server" in shell and "background" in shell and "between 08:00-18:00" in shell


def test_schedule_list_with_no_tasks(project: Project) -> None:
    project.kernel("def schedule_tasks():\n    pass\n")
    result = project.artisan("schedule:list")
    assert result.stdout.strip() == "No scheduled tasks have been defined."


def test_schedule_test_runs_the_named_task_now(project: Project) -> None:
    project.kernel(KERNEL)
    result = project.artisan("schedule:test", "--name", "daily report")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "report says hi" in result.stdout and result.stdout.rstrip().endswith("DONE")
    assert (project.storage / "report.txt").read_text() == "report"


def test_schedule_test_without_a_unique_name_lists_the_tasks(project: Project) -> None:
    project.kernel(KERNEL)
    ambiguous = project.artisan("schedule:test", "--name", "report")
    assert ambiguous.returncode == 1 and "Several tasks match 'report'" in ambiguous.stderr
    unnamed = project.artisan("schedule:test")
    assert unnamed.returncode == 1
    assert "[3] echo hi  (*/5 * * * *)" in unnamed.stdout
    assert "Name the task to run with --name." in unnamed.stderr


def test_schedule_test_asks_which_task_when_interactive(project: Project) -> None:
    project.kernel(KERNEL)
    # A pseudo-terminal makes artisan interactive; answer the prompt with "1".
    script = ("import os, pty, sys\n"
              "pid, fd = pty.fork()\n"
              "if pid == 0:\n"
              f"    os.execv(sys.executable, [sys.executable, {str(project.root / 'artisan')!r},"
              " 'schedule:test'])\n"
              "out = b''\n"
              "while b'Which task' not in out:\n"
              "    out += os.read(fd, 1024)\n"
              "os.write(fd, b'1\\n')\n"
              "while True:\n"
              "    try:\n"
              "        chunk = os.read(fd, 1024)\n"
              "    except OSError:\n"
              "        break\n"
              "    if not chunk:\n"
              "        break\n"
              "    out += chunk\n"
              "os.waitpid(pid, 0)\n"
              "sys.stdout.write(out.decode())\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=project.env, timeout=60)
    assert "Running daily report now." in result.stdout
    assert (project.storage / "report.txt").read_text() == "report"


def test_artisan_list_shows_framework_and_application_commands(project: Project) -> None:
    project.kernel(KERNEL)
    result = project.artisan("list")
    names = [line.split()[0] for line in result.stdout.splitlines()[1:] if line.startswith("  ")]
    for name in ("schedule:run", "schedule:list", "schedule:test", "make:command", "down",
                 "up", "cache:clear", "inspire", "list"):
        assert name in names
    assert project.artisan().stdout == result.stdout  # no command: the list


def test_make_command_scaffolds_a_command_that_artisan_finds(project: Project) -> None:
    project.kernel(KERNEL)
    made = project.artisan("make:command", "reports:send")
    assert made.returncode == 0, made.stderr
    path = project.root / "console" / "commands" / "reports_send.py"
    assert path.exists()
    assert "reports:send" in project.artisan("list").stdout
    assert project.artisan("reports:send").stdout.strip() == "reports:send ran."
    again = project.artisan("make:command", "reports:send")
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = project.artisan("make:command", "Bad Name")
    assert bad.returncode == 2 and "Invalid command name" in bad.stderr


def test_a_broken_command_module_does_not_break_artisan(project: Project) -> None:
    project.kernel(KERNEL)
    (project.root / "console" / "commands" / "broken.py").write_text("import nonexistent_mod\n")
    result = project.artisan("inspire")
    assert result.returncode == 0 and result.stdout.strip()
    assert "console.commands.broken" in result.stderr and "nonexistent_mod" in result.stderr


def test_cache_clear_empties_the_cache_folder(project: Project) -> None:
    cache = project.storage / "cache"
    (cache / "nested").mkdir(parents=True)
    (cache / "a.bin").write_text("x")
    result = project.artisan("cache:clear")
    assert "2 entries removed" in result.stdout
    assert list(cache.iterdir()) == []


def test_the_repository_kernel_runs_and_lists(tmp_path: Path) -> None:
    env = {**clean_environment(), "SCHEDULER_STORAGE": str(tmp_path / "storage")}
    run = subprocess.run([sys.executable, str(REPO / "artisan"), "schedule:run", "--at",
                          "2026-11-30T09:00:00Z"], capture_output=True, text=True, env=env,
                         cwd="/", timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Running heartbeat" in run.stdout and "Running inspire" in run.stdout
    assert (tmp_path / "storage" / "heartbeat").exists()
    listed = subprocess.run([sys.executable, str(REPO / "artisan"), "schedule:list", "--json"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert len(json.loads(listed.stdout)) >= 5


def test_schedule_list_environment_shows_what_runs_there(project: Project) -> None:
    project.kernel(KERNEL)
    everywhere = ["daily report", "inspire", "console.kernel.report('fast')"]
    staging = [row["name"] for row in listing(project, "--environment", "staging")]
    assert staging == ["daily report", "inspire", "echo hi", "console.kernel.report('fast')"]
    local = listing(project, "--environment", "local")
    assert [row["name"] for row in local] == everywhere
    assert all(row["environments"] == [] for row in local)
    table = project.artisan("schedule:list", "--environment", "local").stdout
    assert "inspire" in table and "echo hi" not in table
    project.kernel("""
from scheduler import schedule

def schedule_tasks():
    schedule().exec("echo hi").environments("production")
""")
    empty = project.artisan("schedule:list", "--environment", "local")
    assert empty.stdout.strip() == "No scheduled tasks run in the 'local' environment."


def test_the_readme_crontab_line_works_on_a_fresh_clone_in_crons_bare_environment(
        tmp_path: Path) -> None:
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("needs the project's own .venv (make install)")
    # A fresh clone: the repository's files and nothing a tick would have created.
    clone = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    (clone / ".venv").symlink_to(REPO / ".venv")
    assert not (clone / "storage" / "logs" / "cron.log").exists()
    readme_line = ("* * * * * cd /path/to/project && ./artisan schedule:run "
                   ">> storage/logs/cron.log 2>&1")
    assert readme_line in (REPO / "README.md").read_text()
    # What cron gives a job: a minimal environment, /bin/sh, and a PATH whose python3
    # does not have the scheduler's dependencies; ./artisan must find the project's.
    line = readme_line.removeprefix("* * * * * ").replace("/path/to/project", str(clone))
    line = line.replace("schedule:run", "schedule:run --at 2026-11-30T09:00:00Z")
    env = {"HOME": str(tmp_path), "LOGNAME": "root", "SHELL": "/bin/sh",
           "PATH": "/usr/bin:/bin", "APP_TIMEZONE": "UTC"}
    result = subprocess.run(["/bin/sh", "-c", line], env=env, timeout=120)
    log = (clone / "storage" / "logs" / "cron.log").read_text()
    assert result.returncode == 0, log
    assert "Running heartbeat" in log and "Running inspire" in log
    assert (clone / "storage" / "heartbeat").exists()


def test_app_names_the_kernel_before_the_command(project: Project) -> None:
    (project.root / "console" / "nightly.py").write_text(
        "from scheduler import schedule\n\n"
        "def schedule_tasks():\n"
        "    schedule().exec('echo from-nightly').daily_at('02:00')\n")
    for option in (["--app", "console.nightly"], ["--app=console.nightly"]):
        listed = project.artisan(*option, "schedule:list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [task["name"] for task in json.loads(listed.stdout)] == ["echo from-nightly"]
    missing = project.artisan("--app")
    assert missing.returncode == 2
    assert "Configuration error: --app needs the kernel's module path, such as " \
        "--app myapp.schedule" in missing.stderr
    unknown = project.artisan("--app", "nowhere.kernel", "schedule:run")
    assert unknown.returncode == 2
    assert "The kernel module 'nowhere.kernel' could not be imported" in unknown.stderr
