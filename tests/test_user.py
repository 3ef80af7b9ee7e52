"""`user("name")`: tasks run as another system user, with a real unprivileged user."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler import Schedule
from scheduler.execution import run_event
from scheduler.settings import Settings
from tests.conftest import Project
from tests.kernels import RECORDING_KERNEL as KERNEL_HEADER

USER = "scheduler-test-user"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="running tasks as another user needs root, and these tests "
                              "create a user with useradd; run them as root (as CI does)")


@pytest.fixture(scope="module")
def user() -> Iterator[pwd.struct_passwd]:
    """A real unprivileged user, created for these tests and removed after."""
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    created = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir",
                        f"/nonexistent/{USER}", "--shell", "/usr/sbin/nologin", USER],
                       check=True, capture_output=True)
        created = True
    yield pwd.getpwnam(USER)
    if created:
        subprocess.run(["userdel", USER], check=False, capture_output=True)


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder everyone can write to (the test user cannot enter pytest's tmp_path)."""
    folder = Path(tempfile.mkdtemp(prefix="scheduler-user-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_exec_and_job_tasks_run_as_the_user(project: Project, user: pwd.struct_passwd,
                                            shared_folder: Path) -> None:
    project.kernel(KERNEL_HEADER + f"""
import pwd

def whoami():
    print(pwd.getpwuid(os.getuid()).pw_name, os.getgid(), os.environ["HOME"],
          os.environ["USER"], os.environ["LOGNAME"])
    Path({str(shared_folder)!r}, "job-file").write_text("from the job")

def schedule_tasks():
    schedule().exec('id -un; echo "$HOME $USER $LOGNAME"; touch {shared_folder}/exec-file') \\
        .user({USER!r}).send_output_to("storage/exec.log")
    schedule().job(whoami).user({USER!r}).send_output_to("storage/job.log")
    schedule().exec("id -un").send_output_to("storage/tick.log")
""")
    result = project.artisan("schedule:run", "--at", "2026-03-08T07:00:00Z")
    assert result.returncode == 0, result.stdout + result.stderr
    home = f"/nonexistent/{USER}"
    assert (project.storage / "exec.log").read_text() == f"{USER}\n{home} {USER} {USER}\n"
    assert (project.storage / "job.log").read_text() == \
        f"{USER} {user.pw_gid} {home} {USER} {USER}\n"
    assert (project.storage / "tick.log").read_text() == "root\n"  # others: the tick's user
    for name in ("exec-file", "job-file"):
        owner = (shared_folder / name).stat()
        assert (owner.st_uid, owner.st_gid) == (user.pw_uid, user.pw_gid)
    listed = json.loads(project.artisan("schedule:list", "--json").stdout)
    assert [row["user"] for row in listed] == [USER, USER, None]
    assert f"as user {USER}" in project.artisan("schedule:list").stdout


def test_a_user_that_does_not_exist_is_an_error_naming_the_task(project: Project) -> None:
    project.kernel(KERNEL_HEADER + """
def schedule_tasks():
    schedule().exec("backup.sh").daily().user("no-such-user-anywhere")
""")
    result = project.artisan("schedule:run")
    assert result.returncode == 2
    assert ("exec 'backup.sh': user('no-such-user-anywhere'): there is no such user on "
            "this machine") in result.stderr


def test_a_tick_that_is_not_root_fails_only_the_runs_as_another_user(
        user: pwd.struct_passwd, shared_folder: Path) -> None:
    # A real unprivileged process: fork, drop to the test user, run three events.
    schedule = Schedule()
    events = [schedule.exec("echo as-root").user("root"),
              schedule.exec("id -un").user(USER),  # itself: no switch needed
              schedule.exec("echo plain")]
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the unprivileged child
        code = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            settings = Settings.load(shared_folder, {"APP_TIMEZONE": "UTC"})
            outcomes = [run_event(event, settings) for event in events]
            report = [[o.task_succeeded, o.output, o.errors] for o in outcomes]
            os.write(writer, json.dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    as_root, as_itself, plain = json.loads(text)
    assert as_root == [False, "", [f"could not start the task: cannot run as user 'root': "
                                   f"the tick runs as {USER!r}, and only root can run "
                                   f"tasks as another user"]]
    assert as_itself == [True, f"{USER}\n", []]
    assert plain == [True, "plain\n", []]
